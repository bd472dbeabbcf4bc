"""One `Classifier` for every way a trained model is stored.

clf = Classifier.load("runs/default_all-MiniLM-L6-v2")   # a run folder -> its best checkpoint
clf.predict("i feel wonderful today")                     # -> "joy"
clf.predict(["a", "b"])                                   # -> ["...", "..."]
clf.predict_proba("i feel wonderful today")               # -> {"sadness": 0.01, "joy": 0.95, ...}

A multi-label model (trained with --multi-label) scores each label with a sigmoid and predicts every label
over its threshold (chosen on validation, stored in the checkpoint): `predict` then returns a list of labels
per text, and `details` rows carry "labels" instead of "label".
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emodraw.checkpoint_integrity import CONFIG_FILE, read_json_object, usable_max_length
from emodraw.checkpoints import load_checkpoint, load_tokenizer, resolve_model_folder
from emodraw.data.records import text_problem
from emodraw.errors import CheckpointError, DataError
from emodraw.hardware import pick_device, set_threads, use_bf16
from emodraw.inference.onnx_runtime import is_export, open_session, read_export, session_logits
from emodraw.modeling.batching import encode, predict_logits
from emodraw.multi_label_metrics import decide, thresholds_array


def checked_texts(texts: Sequence[str]) -> list[str]:
    """The texts, or a DataError naming the first one no tokenizer can take (a lone surrogate makes the fast
    tokenizer raise TypeError; a NUL is silently dropped) by its position in `texts`."""
    texts = list(texts)
    for i, text in enumerate(texts):
        problem = text_problem(text) if isinstance(text, str) else f"not a string but {type(text).__name__}"
        if problem:
            raise DataError(f"texts[{i}]", None, problem)
    return texts


class Classifier:
    """A trained emotion classifier: PyTorch weights on CPU or GPU.

    `backend` says what runs it: "pytorch" here, "onnx" for an export folder (OnnxClassifier)."""

    backend = "pytorch"
    problem_type: str | None = None  # transformers' config.problem_type, where the model does not carry it

    def __init__(
        self,
        model,
        tokenizer,
        labels: Sequence[str],
        *,
        meta: dict[str, Any] | None = None,
        device: torch.device | None = None,
        bf16: bool = False,
        max_length: int = 128,
        path: Path | None = None,
    ):
        self.model, self.tokenizer = model, tokenizer
        self.labels = list(labels)
        self.meta = meta or {}
        self.device = device or torch.device("cpu")
        self.bf16, self.max_length, self.path = bf16, max_length, path

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        revision: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        threads: int = 0,
    ) -> Classifier:
        """A checkpoint folder, a run folder (its best checkpoint), an export folder (ONNX), a .pth file, or a
        Hugging Face Hub id at `revision` (a branch, tag or commit; offline: found in the local cache)."""
        folder = resolve_model_folder(path, revision)
        if is_export(folder):
            return OnnxClassifier.load(folder, threads=threads)
        set_threads(threads)
        dev = pick_device(device)
        loaded = load_checkpoint(folder)
        return cls(
            loaded.model.to(dev),
            loaded.tokenizer,
            loaded.labels,
            meta=loaded.meta,
            device=dev,
            bf16=use_bf16(precision, dev),
            max_length=loaded.max_length,
            path=loaded.path,
        )

    # -- core -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]):
        return encode(self.tokenizer, checked_texts(texts), max_length=self.max_length).to(self.device)

    def _encoded_logits(self, encoded, batch_size: int) -> np.ndarray:
        return predict_logits(self.model, encoded, batch_size, self.device, self.bf16).numpy()

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Raw scores (N, C) as float32, in the order of `texts` (computed in length-sorted batches)."""
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._encoded_logits(self.encode(texts), batch_size)

    @property
    def multi_label(self) -> bool:
        """Whether each label is its own yes/no (sigmoid scores), as transformers' config says."""
        # a PyTorch model's config; an ONNX session has none, its export's config.json is read at load
        problem = getattr(getattr(self.model, "config", None), "problem_type", None) or self.problem_type
        return problem == "multi_label_classification"

    @property
    def thresholds(self) -> np.ndarray | None:
        """A multi-label model's decision threshold per label (C,), chosen on validation when it was trained
        (0.5 where the checkpoint records none); None for a single-label model."""
        if not self.multi_label:
            return None
        return thresholds_array(self.meta.get("thresholds"), self.labels)

    def decide(self, probs: np.ndarray) -> list[list[str]]:
        """The labels of each row of multi-label probabilities (N, C) over their thresholds, highest first."""
        chosen = decide(probs, self.thresholds)
        return [[self.labels[i] for i in np.argsort(-row) if hit[i]] for row, hit in zip(np.asarray(probs), chosen)]

    def activate(self, logits: np.ndarray, function: str = "auto") -> np.ndarray:
        """Scores from logits: "softmax", "sigmoid", "none" (the logits themselves) or "auto" (sigmoid for a
        multi-label model, softmax otherwise) -- the names of transformers' `function_to_apply`."""
        if function == "auto":
            function = "sigmoid" if self.multi_label else "softmax"
        logits = np.asarray(logits, dtype=np.float32)
        if function == "sigmoid":
            return 1.0 / (1.0 + np.exp(-logits))
        if function == "softmax":
            shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
            return shifted / shifted.sum(axis=-1, keepdims=True)
        if function == "none":
            return logits
        raise ValueError(f"unknown function {function!r}: softmax, sigmoid, none or auto")

    def scores(self, texts: Sequence[str], batch_size: int = 64, *, long_text: str = "truncate"):
        """(logits (N, C), truncated (N,)) for `texts`. With long_text="chunk", a text longer than the maximum
        length is scored as overlapping windows (emodraw.inference.long_text) and never truncated; its
        "logits" are then the combined probabilities mapped back through the inverse of the activation, so
        that activate() gives the combined probabilities."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32), np.zeros(0, dtype=bool)
        if long_text == "chunk":
            from emodraw.inference.long_text import chunked_probabilities

            probs = np.clip(chunked_probabilities(self, checked_texts(texts), batch_size), 1e-12, 1 - 1e-7)
            logits = np.log(probs / (1 - probs)) if self.multi_label else np.log(probs)
            return logits.astype(np.float32), np.zeros(len(texts), dtype=bool)
        if long_text != "truncate":
            raise ValueError(f"unknown long_text {long_text!r}: truncate or chunk")
        encoded = self.encode(texts)
        return self._encoded_logits(encoded, batch_size), np.asarray(encoded.truncated, dtype=bool)

    def probabilities(self, texts: Sequence[str], batch_size: int = 64, *, long_text: str = "truncate") -> np.ndarray:
        """Scores (N, C) after the model's activation (softmax, or sigmoid for a multi-label model)."""
        return self.activate(self.scores(texts, batch_size, long_text=long_text)[0])

    def details(
        self, texts: Sequence[str], batch_size: int = 64, *, long_text: str = "truncate"
    ) -> list[dict[str, Any]]:
        """For each text: label, scores per label, and whether it was cut at the maximum length."""
        logits, truncated = self.scores(texts, batch_size, long_text=long_text)
        return [self._row(p, bool(cut)) for p, cut in zip(self.activate(logits), truncated)]

    def _row(self, probs: np.ndarray, truncated: bool) -> dict[str, Any]:
        scores = {name: float(p) for name, p in zip(self.labels, probs)}
        if self.multi_label:
            return {"labels": self.decide(probs[None])[0], "scores": scores, "truncated": truncated}
        return {"label": self.labels[int(probs.argmax())], "scores": scores, "truncated": truncated}

    def explain(self, texts: str | Sequence[str], *, long_text: str = "truncate", batch_size: int = 64):
        """Each word's contribution to the predicted emotion and to every emotion (emodraw.inference.explain):
        a dict for one text, a list of them for several."""
        from emodraw.inference.explain import explain

        def probabilities(variants: list[str]) -> np.ndarray:
            return self.probabilities(variants, batch_size, long_text=long_text)

        single = isinstance(texts, str)
        rows = [explain(probabilities, self.labels, text) for text in checked_texts([texts] if single else texts)]
        return rows[0] if single else rows

    def with_logits(self, encoded_logits) -> Classifier:
        """This classifier with its model calls made by `encoded_logits(encoded, batch_size)` instead (the
        server's bounded shapes, emodraw.serve.shapes); everything built on them -- details, chunking,
        explanations -- stays the same code."""
        view = copy.copy(self)
        view._encoded_logits = encoded_logits
        return view

    # -- convenience ------------------------------------------------------------------------
    def predict_proba(self, texts: str | Sequence[str]) -> dict[str, float] | list[dict[str, float]]:
        rows = self.details([texts] if isinstance(texts, str) else list(texts))
        scores = [row["scores"] for row in rows]
        return scores[0] if isinstance(texts, str) else scores

    def predict(self, texts: str | Sequence[str]) -> str | list[str] | list[list[str]]:
        """The label of each text (a list of labels each, for a multi-label model); one for a single text."""
        single = isinstance(texts, str)
        logits = self.logits([texts] if single else list(texts))
        if self.multi_label:
            labels = self.decide(self.activate(logits))
        else:
            labels = [self.labels[i] for i in logits.argmax(axis=-1)]
        return labels[0] if single else labels

    def data_file(self, split: str) -> Path:
        """The file of `split` this model was trained with, as long as it is the same file (its sha256); or the
        bundled emotion data, for a model of its six labels that recorded none or recorded the bundled file
        installed elsewhere."""
        from emodraw.data.splits import bundled_data_dir, find_split_file, fits_bundled_splits
        from emodraw.files import file_sha256

        recorded = self.meta.get("data", {}).get(split)  # its structure is checked at load
        dataset = next((r["dataset"] for r in self.meta.get("data", {}).values() if "dataset" in r), None)
        if dataset is not None:  # --dataset: a split, not a file (emodraw.inference.evaluation reloads it)
            has = f"its {recorded.get('split', split)} split" if recorded else f"no {split} split"
            raise DataError(
                dataset, None, f"{self.path} was trained on this dataset ({has}), not a file; pass --data FILE"
            )
        bundled = find_split_file(bundled_data_dir(), split)
        if not recorded:
            # e.g. a run of other labels trained without a test file: CARER's test split is not its own
            if bundled is None or not fits_bundled_splits(self.labels):
                raise CheckpointError(f"no {split} data recorded for {self.path}; pass --data FILE")
            return bundled
        path = Path(recorded["path"])
        if path.is_file():
            if file_sha256(path) == recorded["sha256"]:
                return path
            raise DataError(
                path,
                None,
                f"changed since training (sha256 differs from {self.path}'s record); "
                "pass --data FILE to score it anyway",
            )
        if bundled is not None and bundled.name == path.name and file_sha256(bundled) == recorded["sha256"]:
            return bundled  # the bundled data, recorded by an emodraw installed in another place
        raise DataError(
            path,
            None,
            f"not found: the {split} data {self.path} was trained with is gone; "
            "pass --data FILE to score another file",
        )


class OnnxClassifier(Classifier):
    """The same API over an `emodraw export` folder, run by onnxruntime on the CPU."""

    backend = "onnx"

    @classmethod
    def load(
        cls, path: str | Path, *, revision: str | None = None, variant: str | None = None, threads: int = 0, **_ignored
    ) -> OnnxClassifier:
        """An export folder, or a Hugging Face Hub id whose files are one (at `revision`)."""
        folder = resolve_model_folder(path, revision)
        meta, name = read_export(folder, variant)
        session = open_session(folder / name, threads, n_labels=len(meta["labels"]))
        tokenizer = load_tokenizer(folder)
        # config.json describes the exported model: its position table bounds the length
        config = read_json_object(folder / CONFIG_FILE)
        max_length = usable_max_length(meta["max_length"], config, tokenizer, folder)
        clf = cls(session, tokenizer, meta["labels"], meta=meta, max_length=max_length, path=folder)
        clf.variant = name
        clf.problem_type = config.get("problem_type")
        return clf

    def _encoded_logits(self, encoded, batch_size: int) -> np.ndarray:
        return session_logits(self.model, encoded, batch_size, len(self.labels))
