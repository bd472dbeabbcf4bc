"""What is checked before a checkpoint or export folder is trusted: once, where it is read, for every command.

An emodraw folder -- a checkpoint (it has emodraw.json) or an ONNX export (emodraw_export.json) -- must carry
manifest.json, and the manifest must list every file a loader reads, each with its size and sha256. A deleted
manifest, a file it does not list (other weights, an added special_tokens_map.json) or a file it lists but that
changed is refused. So are missing parts that transformers would quietly make up (an empty tokenizer that reads
every word as unknown), label lists that disagree between config.json and emodraw's metadata, and metadata of
the wrong shape. Each refusal is one CheckpointError naming the file.

A folder without either metadata file is a plain transformers folder: its manifest is checked if it has one,
and it loads as a foreign model (emodraw.checkpoints says so once on stderr).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from emodraw.errors import CheckpointError
from emodraw.files import file_sha256

METADATA_FILE = "emodraw.json"
EXPORT_META = "emodraw_export.json"
MANIFEST_FILE = "manifest.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
# Where a tokenizer's vocabulary comes from, by tokenizer family. Without any of them transformers builds a
# tokenizer of its special tokens only, which reads every word as unknown and predicts one label for all.
VOCABULARY_FILES = (
    "tokenizer.json",
    "spiece.model",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spm.model",
)
# Suffixes of the files transformers, tokenizers and onnxruntime read from a folder: in an emodraw folder each must
# be listed in the manifest, or anything dropped in afterwards would change what loads without failing a check.
LOADED_SUFFIXES = (".json", ".safetensors", ".model", ".txt", ".bin", ".pth", ".pt", ".onnx", ".data", ".jinja", ".py")
PICKLE_SUFFIXES = (".pth", ".pt", ".bin")
# Models that number positions from padding_idx + 1 (RoBERTa's create_position_ids_from_input_ids): the first
# pad_token_id + 1 rows of their position table never hold a token.
PADDING_OFFSET_MODELS = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm", "data2vec-text", "xmod", "mpnet"}
)
DEFAULT_MAX_LENGTH = 512  # BERT's position table: the length used when a model records none
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        raise CheckpointError(f"{path}: not valid JSON") from None


def read_json_object(path: Path) -> dict[str, Any]:
    value = read_json(path)
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {_kind(value)}")
    return value


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _inside(name: Any) -> bool:
    """A relative path inside the folder, written as write_manifest writes it (so no '..', no absolute path)."""
    if not isinstance(name, str) or not name or "\\" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and path.as_posix() == name


# -- the manifest ---------------------------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """{file name: {"sha256", "bytes"}} of the folder's manifest.json, its structure checked."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CheckpointError(f"{path}: unreadable manifest") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise CheckpointError(f'{path}: unreadable manifest (expected {{"files": {{name: {{sha256, bytes}}}}}})')
    for name, entry in files.items():
        if not _inside(name):
            raise CheckpointError(f"{path}: lists {name!r}, which is not a file inside the folder")
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and _is_count(entry.get("bytes"))):
            raise CheckpointError(f"{path}: the entry of {name} lacks its sha256 and size")
    return files


def check_listed_files(folder: Path, listed: Mapping[str, Mapping[str, Any]]) -> None:
    """Each listed file exists with its recorded size and sha256 (the size first: it is free)."""
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (listed in {MANIFEST_FILE})")
        if path.stat().st_size != entry["bytes"]:
            raise CheckpointError(
                f"{path}: {path.stat().st_size} bytes, expected {entry['bytes']} (truncated or altered)"
            )
        if file_sha256(path) != entry["sha256"]:
            raise CheckpointError(f"{path}: sha256 does not match {MANIFEST_FILE} (altered or corrupted)")


def _refuse_unlisted(folder: Path, listed: Mapping[str, Any]) -> None:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        hidden = any(part.startswith(".") for part in relative.parts)  # .DS_Store and the like: no loader reads them
        name = relative.as_posix()
        if path.suffix.lower() in LOADED_SUFFIXES and name not in listed and name != MANIFEST_FILE and not hidden:
            if path.is_file():
                raise CheckpointError(
                    f"{path}: not listed in {MANIFEST_FILE} (not part of the folder as it was written, "
                    "or the manifest was edited)"
                )


def _require(folder: Path, listed: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name not in listed:
            raise CheckpointError(f"{folder / name}: not listed in {MANIFEST_FILE}")


def _require_tokenizer(folder: Path, listed: Mapping[str, Any]) -> None:
    if not any(name in listed for name in VOCABULARY_FILES):
        raise CheckpointError(
            f"{folder}: no tokenizer files listed in {MANIFEST_FILE} (one of {', '.join(VOCABULARY_FILES)}); "
            "without them every word would read as unknown"
        )
    _require(folder, listed, (TOKENIZER_CONFIG,))


def pickled_weights(folder: Path) -> Path | None:
    return min((p for p in folder.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES), default=None)


def pickle_refusal(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: pickled PyTorch weights: emodraw never unpickles a checkpoint's weights, it reads safetensors "
        "only (a .pth state dict is read on its own, by naming the file, with weights_only=True)"
    )


def _require_weights(folder: Path, listed: Mapping[str, Any]) -> None:
    if WEIGHTS_FILE in listed:
        return
    if WEIGHTS_INDEX in listed:  # sharded weights: the index and every shard it names
        weight_map = read_json_object(folder / WEIGHTS_INDEX).get("weight_map")
        if not isinstance(weight_map, dict) or not all(_inside(v) for v in weight_map.values()):
            raise CheckpointError(f"{folder / WEIGHTS_INDEX}: no weight_map of shard files")
        _require(folder, listed, tuple(sorted(set(weight_map.values()))))
        return
    pickled = pickled_weights(folder)
    if pickled is not None:
        raise pickle_refusal(pickled)
    _require(folder, listed, (WEIGHTS_FILE,))


def _verified_listing(folder: Path, required: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The manifest of an emodraw folder, after checking it lists what the folder needs and all it holds, and
    that every file matches it."""
    if not (folder / MANIFEST_FILE).is_file():
        raise CheckpointError(
            f"{folder}: no {MANIFEST_FILE}; an emodraw folder is checked file by file against it "
            "(restore the folder from a copy, or write it again)"
        )
    listed = read_manifest(folder)
    _require(folder, listed, required)
    _refuse_unlisted(folder, listed)
    _require_tokenizer(folder, listed)
    check_listed_files(folder, listed)
    return listed


# -- values inside the metadata -------------------------------------------------------------------------------
def checked_labels(value: Any, where: Path, name: str) -> list[str]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)):
        raise CheckpointError(f"{where}: {name} must be a list of label names, found {_kind(value)}")
    if len(set(value)) != len(value):
        raise CheckpointError(f"{where}: {name} names a label twice ({value})")
    return value


def label_list(id2label: Any, where: Path) -> list[str]:
    """The label names in output order from a config's id2label ({"0": name, ...}, or int keys once loaded)."""
    try:
        index = {int(k): v for k, v in id2label.items()}
    except (AttributeError, TypeError, ValueError):
        raise CheckpointError(f"{where}: id2label must map the output numbers 0, 1, ... to label names") from None
    missing = sorted(set(range(len(index))) - set(index))
    if not index or missing:
        raise CheckpointError(
            f"{where}: id2label numbers the outputs {sorted(index)}; expected 0 to {len(index) - 1}"
            + (f" (no {missing[0]})" if missing else "")
        )
    return checked_labels([index[i] for i in range(len(index))], where, "id2label")


def checked_max_length(value: Any, where: Path, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CheckpointError(f"{where}: {name} is {value!r}; expected a whole number of tokens >= 1")
    return value


def _check_data_records(data: Any, where: Path) -> None:
    """The "data" record, {split: {path, sha256, lines}}: what evaluate checks a split's file against."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: data must be an object of split records, found {_kind(data)}")
    for split, record in data.items():
        ok = isinstance(record, dict) and (  # a --dataset's split (emodraw.data.hub_datasets): dataset and split
            all(isinstance(record.get(k), str) and record[k] for k in ("dataset", "split"))
            if "dataset" in record
            else isinstance(record.get("path"), str)
            and record["path"]
            and isinstance(record.get("sha256"), str)
            and _SHA256.fullmatch(record["sha256"])
        )
        if not ok:
            raise CheckpointError(f"{where}: data.{split} must record the file's path and sha256")


def checked_metadata(meta: Any, where: Path) -> dict[str, Any]:
    """emodraw.json, its structure checked where it is read, so no later .get() or int() can fail on it."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: expected a JSON object, found {_kind(meta)}")
    config = meta.get("config", {})
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: config must be an object, found {_kind(config)}")
    if "max_length" in config:
        checked_max_length(config["max_length"], where, "config.max_length")
    if "label_names" in meta:
        checked_labels(meta["label_names"], where, "label_names")
    _check_data_records(meta.get("data", {}), where)
    return meta


def checked_export_meta(meta: Any, where: Path) -> dict[str, Any]:
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: expected a JSON object, found {_kind(meta)}")
    for name in ("labels", "max_length"):
        if name not in meta:
            raise CheckpointError(f"{where}: no {name}")
    checked_labels(meta["labels"], where, "labels")
    checked_max_length(meta["max_length"], where, "max_length")
    if "default" in meta:
        model_file_name(meta["default"], where, "default")
    _check_data_records(meta.get("data", {}), where)
    return meta


def model_file_name(name: Any, where: Path, what: str) -> str:
    """An export's model file: a plain .onnx file name inside the folder."""
    if not (isinstance(name, str) and "/" not in name and "\\" not in name and name.endswith(".onnx")):
        raise CheckpointError(f"{where}: {what} is {name!r}; expected the name of an .onnx file in the folder")
    return name


def _labels_agree(folder: Path, labels: list[str], source: str) -> None:
    config = read_json_object(folder / CONFIG_FILE)
    theirs = label_list(config.get("id2label"), folder / CONFIG_FILE)
    if theirs != labels:
        raise CheckpointError(
            f"{folder}: {CONFIG_FILE} names the labels {theirs} but {source} says {labels} (edited?)"
        )


# -- whole folders --------------------------------------------------------------------------------------------
def verify_checkpoint(folder: Path) -> dict[str, Any]:
    """Check a checkpoint folder as described above; return its emodraw.json ({} for a plain transformers folder
    or another folder written by `manifested_folder`, such as a run's state). CheckpointError names the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: checkpoint folder not found")
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        if (folder / MANIFEST_FILE).is_file():
            check_listed_files(folder, read_manifest(folder))
        return {}
    listed = _verified_listing(folder, (METADATA_FILE, CONFIG_FILE))
    _require_weights(folder, listed)
    meta = checked_metadata(read_json(meta_path), meta_path)
    if "label_names" in meta:
        _labels_agree(folder, meta["label_names"], f"{METADATA_FILE}'s label_names")
    return meta


def verify_export(folder: Path, variant: str | None, default: str) -> tuple[dict[str, Any], str]:
    """Check an export folder; return its checked metadata and the model file to run: `variant`, else the one
    the metadata names as its default, else `default`."""
    folder = Path(folder)
    listed = _verified_listing(folder, (EXPORT_META, CONFIG_FILE))
    meta = checked_export_meta(read_json(folder / EXPORT_META), folder / EXPORT_META)
    name = model_file_name(variant, folder, "the variant") if variant else meta.get("default", default)
    _require(folder, listed, (name,))
    _labels_agree(folder, meta["labels"], EXPORT_META)
    return meta, name


# -- the usable length ----------------------------------------------------------------------------------------
def max_positions(config: Any) -> int | None:
    """The most tokens a model can take: its position table's size (less RoBERTa's padding offset); None when
    its config has no absolute position table. `config` is a transformers config or config.json as a dict."""

    def get(key):
        return config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)

    limit = get("max_position_embeddings")
    if not _is_count(limit) or limit == 0:
        return None
    if get("model_type") in PADDING_OFFSET_MODELS:
        pad = get("pad_token_id")
        limit -= (pad if _is_count(pad) else 1) + 1
    return limit if limit > 0 else None


def usable_max_length(recorded: int | None, config: Any, tokenizer, where: Path) -> int:
    """The length to cut texts at: the recorded one, clamped (with one note on stderr) to what the model takes,
    so that no backend is fed more positions than its table has; without a record, the model's limit up to 512."""
    limits = [max_positions(config)]
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if _is_count(tokenizer_limit) and tokenizer_limit < 1_000_000:  # transformers' "no limit" is 1e30
        limits.append(tokenizer_limit)
    limit = min((n for n in limits if n), default=None)
    if recorded is None:
        return min(limit or DEFAULT_MAX_LENGTH, DEFAULT_MAX_LENGTH)
    special = tokenizer.num_special_tokens_to_add() if hasattr(tokenizer, "num_special_tokens_to_add") else 0
    if recorded <= special:  # the tokenizer then cuts nothing at all, and long texts overflow the position table
        raise CheckpointError(f"{where}: max_length {recorded} leaves no room for text after {special} special tokens")
    if limit is not None and recorded > limit:
        note = f"max_length {recorded} is more than the {limit} tokens this model takes; texts are cut at {limit}"
        print(f"{where}: {note}", file=sys.stderr, flush=True)
        return limit
    return recorded
