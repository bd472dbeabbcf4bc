"""The ONNX backend: the `emodraw export` folder format and the onnxruntime session that scores it on the CPU.

An export folder holds `model.onnx` (and `model_int8.onnx`), the tokenizer, config.json and
EXPORT_META (labels, maximum length, which model file is the default, parity figures).
`emodraw.export` writes such folders with the names defined here; `Classifier.load` reads them
(as an `OnnxClassifier`) through this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emodraw.checkpoint_integrity import EXPORT_META, verify_export
from emodraw.checkpoints import first_line
from emodraw.errors import CheckpointError
from emodraw.modeling.batching import Encoded, sorted_batches

FP32_FILE, INT8_FILE = "model.onnx", "model_int8.onnx"


def is_export(folder: Path) -> bool:
    return (Path(folder) / EXPORT_META).is_file()


def read_export(folder: Path, variant: str | None = None) -> tuple[dict[str, Any], str]:
    """An export folder's metadata and the model file to run (`variant`, else its default), after checking the
    folder against its manifest and the metadata's structure (emodraw.checkpoint_integrity)."""
    return verify_export(Path(folder), variant, FP32_FILE)


def open_session(model_file: Path, threads: int = 0, n_labels: int | None = None):
    """An onnxruntime CPU session for `model_file` (`threads` > 0 caps its intra-op threads), refused when its
    output has another number of scores than the `n_labels` the export names."""
    import onnxruntime as ort

    if not model_file.is_file():
        raise CheckpointError(f"{model_file}: missing from the export folder")
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
        raise CheckpointError(f"{model_file}: cannot load ({first_line(exc)})") from None
    shapes = {output.name: output.shape for output in session.get_outputs()}
    if "logits" not in shapes:
        raise CheckpointError(f"{model_file}: no logits output (not a model emodraw exported)")
    width = shapes["logits"][-1] if shapes["logits"] else None
    if n_labels is not None and isinstance(width, int) and width != n_labels:
        raise CheckpointError(f"{model_file}: gives {width} scores per text, the export names {n_labels} labels")
    return session


def session_logits(session, encoded: Encoded, batch_size: int, n_labels: int) -> np.ndarray:
    """Logits (N, n_labels) in the order of `encoded`, scored in length-sorted batches."""
    out = np.empty((len(encoded), n_labels), dtype=np.float32)
    for rows in sorted_batches(encoded.lengths, batch_size):
        inputs = encoded.batch(rows)
        feeds = {"input_ids": inputs["input_ids"].numpy(), "attention_mask": inputs["attention_mask"].numpy()}
        out[rows] = session.run(["logits"], feeds)[0]
    return out
