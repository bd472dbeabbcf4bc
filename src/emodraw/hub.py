"""Hugging Face Hub ids as models to load: `emodraw predict bhadresh-savani/distilbert-base-uncased-emotion`.

A name is a Hub id when it is no existing local path and has a Hub id's shape (NAME or OWNER/NAME). It becomes
a folder through huggingface_hub's `snapshot_download`: the snapshot `<cache>/models--OWNER--NAME/snapshots/
<commit>/` in the local Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub), downloaded when the Hub can be
reached, found in the cache when it cannot (HF_HUB_OFFLINE=1, no network). Every folder under `snapshots/`
is named by its commit, so what loaded from the Hub is known from the loaded folder alone (`snapshot_of`):
evaluate, export and serve record it from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from emodraw.errors import CheckpointError

# huggingface_hub's own rules (validate_repo_id): 1-96 characters of letters, digits, "-", "_" and ".", not at
# either end "-" or ".", no "--" or "..", no ".git" ending.
_NAME = r"[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9_])?"
HUB_ID = re.compile(rf"(?:{_NAME}/)?{_NAME}")
MAX_ID_LENGTH = 96
COMMIT = re.compile(r"[0-9a-f]{40}")
SHORT_COMMIT = 7
# What emodraw never reads stays on the Hub: other frameworks' weights, and pickled ones (refused anyway).
IGNORED_FILES = [
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.tflite",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.mlmodel",
    "onnx/*",
    "openvino/*",
    "coreml/*",
]
DOWNLOAD_HINT = "run once with network access, or `hf download {command}`"


def is_hub_id(name: str | Path) -> bool:
    """Whether `name` is to be looked for on the Hub: it is no existing local path and has a Hub id's shape."""
    if isinstance(name, Path):
        return False  # a Path is a place on the disk
    name = str(name)
    if len(name) > MAX_ID_LENGTH or not HUB_ID.fullmatch(name) or "--" in name or ".." in name:
        return False
    return not name.endswith(".git") and not Path(name).expanduser().exists()  # the shape first: a short, plain name


@dataclass(frozen=True)
class HubSnapshot:
    """A model folder of the local Hugging Face cache: which repository, at which commit."""

    repo_id: str
    commit: str
    folder: Path

    @property
    def name(self) -> str:
        """`OWNER/NAME@abc1234`: the id and the commit, short, as a person reads it."""
        return f"{self.repo_id}@{self.commit[:SHORT_COMMIT]}"


def snapshot_of(folder: str | Path | None) -> HubSnapshot | None:
    """The Hub repository and commit of a snapshot folder (`.../models--OWNER--NAME/snapshots/<commit>`), or None
    for any other folder. Read from the path alone: the folder names are the cache's layout."""
    if folder is None:
        return None
    folder = Path(folder)
    repo = folder.parent.parent.name
    if folder.parent.name != "snapshots" or not COMMIT.fullmatch(folder.name) or not repo.startswith("models--"):
        return None
    repo_id = "/".join(repo[len("models--") :].split("--"))  # "--" never occurs inside a Hub id's parts
    return HubSnapshot(repo_id, folder.name, folder) if HUB_ID.fullmatch(repo_id) else None


def display_name(folder: str | Path) -> str:
    """`OWNER/NAME@abc1234` for a Hub snapshot, the folder as given otherwise (for messages)."""
    snapshot = snapshot_of(folder)
    return snapshot.name if snapshot else str(folder)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _in_cache(repo_id: str) -> bool:
    from huggingface_hub import constants

    return (Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}").is_dir()


def _not_cached(repo_id: str, revision: str | None, why: str) -> CheckpointError:
    """One line for a model the cache does not hold: what was looked for, why the Hub was not asked, what to do."""
    command = repo_id + (f" --revision {revision}" if revision else "")
    if _in_cache(repo_id):
        what = f"revision {revision or 'main'} is not in the local Hugging Face cache"
    else:
        what = "no such local folder, and not in the local Hugging Face cache"
    return CheckpointError(f"{repo_id}: {what} ({why}); {DOWNLOAD_HINT.format(command=command)}")


def download(repo_id: str, revision: str | None = None) -> HubSnapshot:
    """The snapshot of `repo_id` at `revision` (a branch, tag or commit; the default branch where None): from the
    Hub when it can be reached, else from the local cache. CheckpointError in one line when neither has it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = _offline()
    try:
        folder = snapshot_download(repo_id, revision=revision, local_files_only=offline, ignore_patterns=IGNORED_FILES)
    except LocalEntryNotFoundError as exc:  # the cache lacks it (or holds it half-downloaded)
        why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face Hub cannot be reached"
        if "incomplete" in str(exc):
            why = f"its cached snapshot is incomplete; {why}"
        raise _not_cached(repo_id, revision, why) from None
    except GatedRepoError:
        raise CheckpointError(
            f"{repo_id}: a gated model on the Hugging Face Hub; accept its terms on its page, then `hf auth login`"
        ) from None
    except RevisionNotFoundError:
        raise CheckpointError(f"{repo_id}: no revision {revision!r} on the Hugging Face Hub") from None
    except RepositoryNotFoundError:
        raise CheckpointError(
            f"{repo_id}: no such local folder, nor a model on the Hugging Face Hub "
            "(a private one needs `hf auth login`)"
        ) from None
    except HFValidationError as exc:
        raise CheckpointError(f"{repo_id}: {_first_line(exc)}") from None
    except (HfHubHTTPError, OSError) as exc:
        raise CheckpointError(f"{repo_id}: cannot download from the Hugging Face Hub ({_first_line(exc)})") from None
    snapshot = snapshot_of(folder)
    if snapshot is None:  # pragma: no cover - snapshot_download always answers with a snapshot folder
        raise CheckpointError(f"{repo_id}: the Hugging Face cache gave {folder}, not a snapshot folder")
    return snapshot


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
