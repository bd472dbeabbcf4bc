"""Push a checkpoint to the Hugging Face Hub (`emodraw push`): the folder exactly as emodraw wrote it, after
checking it against its manifest, so that what lands on the Hub is what training saved and still verifies there.

Uploaded: the files its manifest.json lists (weights, config.json, tokenizer files, emodraw.json, README.md, the
model card) and manifest.json itself; nothing else in the folder. emodraw.json goes as it is, so it carries the
absolute local paths of the training data files (with their sha256): rewriting it would break the manifest.

Every failure is one line (an EmodrawError): no token, the Hub unreachable or offline, the Hub refusing."""

from __future__ import annotations

import glob
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from emodraw.checkpoint_integrity import MANIFEST_FILE, METADATA_FILE, read_manifest, verify_checkpoint
from emodraw.checkpoints import first_line, resolve_model_folder
from emodraw.errors import CheckpointError, EmodrawError
from emodraw.version import __version__

NO_TOKEN = "push needs a Hugging Face token: run `hf auth login` or set HF_TOKEN"
OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class HubError(EmodrawError):
    """The Hub cannot be reached, or refused the push."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "on", "true", "yes")


def checked_folder(checkpoint: str | Path) -> tuple[Path, dict]:
    """The checkpoint folder (a run folder's best checkpoint), verified file by file; and its emodraw.json."""
    folder = resolve_model_folder(checkpoint)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: push takes a checkpoint folder or a run folder")
    meta = verify_checkpoint(folder)
    if not meta:
        raise CheckpointError(f"{folder}: not an emodraw checkpoint (no {METADATA_FILE}); push pushes checkpoints")
    return folder, meta


def hub_token() -> str:
    """The token huggingface_hub would use (HF_TOKEN, else the one `hf auth login` saved); read locally."""
    from huggingface_hub import get_token

    try:
        token = get_token()
    except Exception as exc:  # an OIDC exchange (HF_OIDC_RESOURCE) or a token refresh that failed
        raise HubError(f"cannot get a Hugging Face token: {first_line(exc)}") from None
    if not token:
        raise HubError(NO_TOKEN)
    return token


def check_online() -> None:
    from huggingface_hub import constants

    offline = [name for name in OFFLINE_ENV if _is_true(os.environ.get(name))]
    if offline or constants.HF_HUB_OFFLINE:
        why = f"{offline[0]}={os.environ[offline[0]]} is set" if offline else "offline mode is on"
        raise HubError(f"the Hugging Face Hub cannot be reached: {why}; unset it to push")


def network_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises when a request fails: its HTTP errors, and its HTTP client's (httpx2 in
    huggingface_hub 2, httpx in 1)."""
    from huggingface_hub.errors import HfHubHTTPError

    found: list[type[BaseException]] = [HfHubHTTPError, ConnectionError, TimeoutError]
    for client in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(client).HTTPError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def hub_failure(exc: BaseException, endpoint: str) -> HubError:
    """One line for a failed request: what the Hub answered, or that it cannot be reached."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        hints = {
            401: "the token was refused: run `hf auth login` again or set another HF_TOKEN",
            403: "the token may not write there (a read-only token, or another user's or organisation's repository)",
        }
        hint = hints.get(status, first_line(exc))
        return HubError(f"the Hugging Face Hub refused the push (HTTP {status}): {hint}")
    return HubError(f"the Hugging Face Hub cannot be reached at {endpoint}: {first_line(exc)}")


def upload_patterns(folder: Path) -> list[str]:
    """The exact files to upload: those the manifest lists, and the manifest (escaped: each pattern is one name)."""
    return [glob.escape(name) for name in sorted([*read_manifest(folder), MANIFEST_FILE])]


def push(
    checkpoint: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    log: Callable[[str], None] = _stderr,
) -> str:
    """Upload a checkpoint (or a run folder's best checkpoint) to the Hub model repository `repo_id` (NAME or
    OWNER/NAME), creating it if needed (`private` applies only then), on the branch `revision` (created from
    main if missing). Returns the URL of the commit."""
    folder, meta = checked_folder(checkpoint)
    token = hub_token()
    check_online()
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HFValidationError

    api = HfApi(token=token)
    endpoint = constants.ENDPOINT
    try:
        repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        full_id = getattr(repo, "repo_id", None) or repo_id
        if revision and revision != "main":
            api.create_branch(full_id, branch=revision, exist_ok=True, repo_type="model")
        if isinstance(meta.get("data"), dict) and meta["data"]:
            log(f"note: {METADATA_FILE} records the local paths of the training data files; they are uploaded too")
        log(f"uploading {folder} to {full_id}{f' (branch {revision})' if revision else ''} ...")
        commit = api.upload_folder(
            repo_id=full_id,
            folder_path=folder,
            repo_type="model",
            revision=revision,
            allow_patterns=upload_patterns(folder),
            commit_message=f"emodraw push: {folder.name}",
            commit_description=f"Pushed by emodraw {__version__} from a verified checkpoint.",
        )
    except HFValidationError as exc:
        raise HubError(f"{repo_id!r}: not a valid Hub repository or branch name ({first_line(exc)})") from None
    except network_errors() as exc:
        raise hub_failure(exc, endpoint) from None
    except OSError as exc:
        if exc.filename is not None:
            raise  # a local file: the CLI names it in one line
        raise hub_failure(exc, endpoint) from None
    return str(getattr(commit, "commit_url", None) or f"{endpoint}/{full_id}")
