"""Export a checkpoint to ONNX (and dynamic int8), with a parity check that refuses a bad export.

The export folder holds `model.onnx` (fp32; dynamic batch and sequence axes), `model_int8.onnx`
with --int8, the tokenizer, `config.json` (label names) and `emodraw_export.json` (labels, maximum
length, parity figures, source checkpoint). `Classifier.load(folder)` runs it with onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from emodraw.checkpoints import manifested_folder, write_manifest
from emodraw.errors import EmodrawError
from emodraw.files import disk_errors
from emodraw.hub import snapshot_of
from emodraw.inference.classifier import Classifier, OnnxClassifier
from emodraw.inference.evaluation import labelled_data
from emodraw.inference.onnx_runtime import EXPORT_META, FP32_FILE, INT8_FILE
from emodraw.multi_label_metrics import decide, sigmoid

MIN_ARGMAX_AGREEMENT = 0.999  # fp32: the same label on >= 99.9 % of sentences
MAX_INT8_DROP = 0.005  # int8: accuracy at most 0.5 pt below PyTorch's


class ExportParityError(EmodrawError):
    """The exported model does not predict what the checkpoint predicts."""


class _Logits(torch.nn.Module):
    """Plain tensors in and out, which is what the ONNX exporter wants."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def deduplicate_initializers(path: Path) -> int:
    """Store each distinct weight once. Exporters can emit ALBERT's one shared layer once per use
    (12 copies: 45 MB -> 340 MB reported); identical initializers are merged here. Returns how many."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    first: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    keep = []
    for init in graph.initializer:
        key = (
            init.data_type,
            tuple(init.dims),
            hashlib.sha256(onnx.numpy_helper.to_array(init).tobytes()).hexdigest(),
        )
        if key in first:
            rename[init.name] = first[key]
        else:
            first[key] = init.name
            keep.append(init)
    if rename:
        del graph.initializer[:]
        graph.initializer.extend(keep)
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name in rename:
                    node.input[i] = rename[name]
        onnx.save(model, str(path))
    return len(rename)


def _export_fp32(model, path: Path, opset: int, sample: dict[str, torch.Tensor]) -> None:
    wrapped = _Logits(model).eval()
    args = (sample["input_ids"], sample["attention_mask"])
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters are chatty about tracing details
        try:
            # The TorchScript exporter: fast, exact, and it already writes shared weights once.
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                opset_version=opset,
                dynamo=False,
                **names,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "logits": {0: "batch"},
                },
            )
        except (TypeError, RuntimeError, ImportError):
            # Newer torch without it: the dynamo exporter (needs onnxscript).
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                opset_version=max(opset, 18),
                dynamo=True,
                **names,
                dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                external_data=False,
            )


def _quantize(src: Path, dest: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # All MatMuls and the embedding Gathers to int8 (per output channel), activations quantised on
    # the fly. (The quantiser's advice to pre-process applies to static quantisation; silenced.)
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)


def parity(reference: np.ndarray, candidate: np.ndarray, gold, thresholds: np.ndarray | None = None) -> dict:
    """How the export's logits compare with PyTorch's on the same sentences: the share given the same answer
    ("agreement": the same label, or for a multi-label model -- `thresholds` given -- the same label set),
    the largest score difference, and each one's score on `gold` ("score_*": accuracy, or macro F1 over the
    labels at the model's thresholds)."""
    if thresholds is None:
        ref_p = torch.softmax(torch.from_numpy(reference), -1).numpy()
        cand_p = torch.softmax(torch.from_numpy(candidate), -1).numpy()
        gold = np.asarray(gold)
        return {
            "metric": "accuracy",
            "agreement": float((reference.argmax(-1) == candidate.argmax(-1)).mean()),
            "max_score_diff": float(np.abs(ref_p - cand_p).max()),
            "score_torch": float((reference.argmax(-1) == gold).mean()),
            "score_onnx": float((candidate.argmax(-1) == gold).mean()),
        }
    ref_p, cand_p = sigmoid(reference), sigmoid(candidate)
    ref_d, cand_d = decide(ref_p, thresholds), decide(cand_p, thresholds)
    gold = np.asarray(gold) > 0.5
    return {
        "metric": "macro F1",
        "agreement": float((ref_d == cand_d).all(-1).mean()),
        "max_score_diff": float(np.abs(ref_p - cand_p).max()),
        "score_torch": float(f1_score(gold, ref_d, average="macro", zero_division=0)),
        "score_onnx": float(f1_score(gold, cand_d, average="macro", zero_division=0)),
    }


def export(
    checkpoint: str | Path,
    output: str | Path,
    *,
    int8: bool = False,
    force: bool = False,
    opset: int = 17,
    data: str | Path | None = None,
    revision: str | None = None,
    log=print,
) -> dict[str, Any]:
    """Export, check parity on the validation set (or `data`), and write the folder atomically. A Hugging Face
    Hub id exports at `revision`; the metadata then names it and the commit it loaded ("source_revision")."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise EmodrawError(f"--output {output}: a file, not a folder; choose a new folder")
    if output.exists() and any(output.iterdir()):
        raise EmodrawError(f"--output {output}: not empty; choose a new folder")
    clf = Classifier.load(checkpoint, revision=revision, device="cpu", precision="fp32")
    if clf.backend == "onnx":
        raise EmodrawError(f"{checkpoint}: already an ONNX export")
    path, examples, gold = labelled_data(clf, "val", data, skip_invalid=True)
    reference = clf.logits(examples.texts)

    snapshot = snapshot_of(clf.path)
    report: dict[str, Any] = {
        "source": snapshot.repo_id if snapshot else str(Path(checkpoint).resolve()),
        **({"source_revision": snapshot.commit} if snapshot else {}),
        "labels": clf.labels,
        "max_length": clf.max_length,
        "opset": opset,
        "parity_data": str(path),
        "parity_sentences": len(examples),
        "data": clf.meta.get("data", {}),  # where evaluate finds val/test for this export
        # a multi-label model's decision thresholds, chosen on validation in training
        **({"thresholds": clf.meta["thresholds"]} if clf.multi_label and "thresholds" in clf.meta else {}),
    }
    problems = []
    # A failed write (a full disk) leaves no folder under `output`'s name: the folder is renamed into place last.
    with disk_errors(output, "nothing was written there"), manifested_folder(output) as tmp:
        sample = clf.encode(examples.texts[:4]).batch(np.arange(min(4, len(examples))))
        _export_fp32(clf.model, tmp / FP32_FILE, opset, sample)
        report["deduplicated_initializers"] = deduplicate_initializers(tmp / FP32_FILE)
        clf.tokenizer.save_pretrained(tmp)
        clf.model.config.save_pretrained(tmp)
        files = [FP32_FILE] + ([INT8_FILE] if int8 else [])
        if int8:
            _quantize(tmp / FP32_FILE, tmp / INT8_FILE)
        answer, metric = ("label set", "macro F1") if clf.multi_label else ("label", "accuracy")
        for name in files:
            meta = {**report, "default": FP32_FILE}
            (tmp / EXPORT_META).write_text(json.dumps(meta))
            write_manifest(tmp)  # so the parity check loads the export as users will, through every check
            onnx_logits = OnnxClassifier.load(tmp, variant=name).logits(examples.texts)
            figures = parity(reference, onnx_logits, gold, clf.thresholds)
            figures["bytes"] = (tmp / name).stat().st_size
            report[name] = figures
            log(
                f"{name}: {figures['bytes'] / 2**20:.1f} MiB, "
                f"same {answer} on {figures['agreement'] * 100:.2f} % of {len(examples)} sentences, "
                f"{metric} {figures['score_onnx'] * 100:.2f} % (PyTorch {figures['score_torch'] * 100:.2f} %), "
                f"max score difference {figures['max_score_diff']:.2e}"
            )
            if name == FP32_FILE and figures["agreement"] < MIN_ARGMAX_AGREEMENT:
                problems.append(
                    f"fp32 export gives the same {answer} on only {figures['agreement'] * 100:.2f} % of "
                    f"sentences (needs >= {MIN_ARGMAX_AGREEMENT * 100:.1f} %)"
                )
            drop = figures["score_torch"] - figures["score_onnx"]
            if name == INT8_FILE and drop > MAX_INT8_DROP:
                problems.append(
                    f"int8 {metric} {figures['score_onnx'] * 100:.2f} % is {drop * 100:.2f} pt below "
                    f"PyTorch's {figures['score_torch'] * 100:.2f} % (allowed: {MAX_INT8_DROP * 100:.1f} pt)"
                )
        report["default"] = INT8_FILE if int8 else FP32_FILE
        report["parity_passed"] = not problems
        (tmp / EXPORT_META).write_text(json.dumps(report, indent=1))
        if problems and not force:
            raise ExportParityError("export refused: " + "; ".join(problems) + " (use --force to keep it anyway)")
        if problems:
            log("kept despite failed parity (--force): " + "; ".join(problems))
    return report
