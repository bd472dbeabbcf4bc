"""`emodraw compare`: train several models the same way (or reuse finished runs) and put them side by
side -- size, test scores over seeds, training time, CPU inference speed -- as a table and a chart.

Besides encoders (Hub ids, folders, the embedded model) it knows one classic baseline, `tfidf-svm`:
scikit-learn TF-IDF over word 1-2-grams and a linear SVM, trained in seconds on a CPU.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from emodraw.errors import EmodrawError
from emodraw.hardware import cpu_name
from emodraw.plots import comparison_chart
from emodraw.results import MULTI_LABEL_NOTE

TFIDF = "tfidf-svm"


def tfidf_svm_run(splits, seed: int, out: Path) -> dict[str, Any]:
    """Fit TF-IDF (1-2-grams) + LinearSVC on train (one SVM per label, multi-label); score test; save it
    without pickle (JSON + npz)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    from emodraw.metrics import compute_metrics

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform(splits.train.texts)
    svm = LinearSVC(C=1.0, random_state=seed)
    if splits.multi_label:
        svm = OneVsRestClassifier(svm)
    svm.fit(features, splits.ids(splits.train))
    seconds = time.perf_counter() - started
    test = splits.test or splits.val
    started = time.perf_counter()
    scores = svm.decision_function(vectorizer.transform(test.texts))  # (N, C)
    per_second = len(test) / (time.perf_counter() - started)
    # multi-label: each SVM's own boundary (score 0, sigmoid 0.5), not a threshold chosen on test
    thresholds = dict.fromkeys(splits.label_names, 0.5) if splits.multi_label else None
    metrics = compute_metrics(scores, splits.ids(test), splits.label_names, thresholds=thresholds)
    if splits.multi_label:
        svm = _stacked(svm)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocabulary.json").write_text(json.dumps({k: int(v) for k, v in vectorizer.vocabulary_.items()}))
    np.savez(out / "weights.npz", idf=vectorizer.idf_, coef=svm.coef_, intercept=svm.intercept_)
    size = sum(p.stat().st_size for p in out.iterdir())
    parameters = int(svm.coef_.size + svm.intercept_.size)
    return {
        "metrics": metrics,
        "train_seconds": seconds,
        "device": cpu_name(),
        "parameters": parameters,
        "bytes": size,
        "cpu_sentences_per_s": per_second,
        "run": str(out),
    }


def _stacked(ovr):
    """A one-vs-rest classifier's SVMs as one (coef_, intercept_), as a multi-class LinearSVC holds them."""
    from types import SimpleNamespace

    coef = np.vstack([e.coef_ for e in ovr.estimators_])
    return SimpleNamespace(coef_=coef, intercept_=np.concatenate([e.intercept_ for e in ovr.estimators_]))


# The published albert-base-v2 experiment 3 (all the training data, lr 2e-5, batch 64, best-validation-loss
# checkpoint) as a row of its own: its figures as published, nothing of it measured here.
PUBLISHED_ALBERT = {
    "model": "albert-base-v2, published (experiment 3)",
    "parameters": 11_683_584,
    "accuracy": 0.9325,
    "f1_macro": 0.8927,
}


def cpu_inference_speed(checkpoint: Path, texts: list[str]) -> float:
    from emodraw.inference.classifier import Classifier

    return _speed(Classifier.load(checkpoint, device="cpu"), texts)


def int8_summary(run_dir: Path, folder: Path, texts: list[str]) -> dict[str, float]:
    """The run's best checkpoint exported to ONNX int8 (once: a finished export in `folder` is reused), its
    size and CPU speed."""
    from emodraw.checkpoints import find_checkpoints
    from emodraw.export import INT8_FILE, export
    from emodraw.inference.classifier import OnnxClassifier

    if not (folder / INT8_FILE).is_file():
        export(find_checkpoints(run_dir)["best"], folder, int8=True, log=lambda _m: None)
    clf = OnnxClassifier.load(folder, variant=INT8_FILE)
    return {"int8_bytes": (folder / INT8_FILE).stat().st_size, "int8_sentences_per_s": _speed(clf, texts)}


def _speed(clf, texts: list[str]) -> float:
    clf.logits(texts[:64], batch_size=32)  # warm-up
    started = time.perf_counter()
    clf.logits(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - started)


def summarise_run(run_dir: Path, texts: list[str]) -> dict[str, Any]:
    """Scores of a finished emodraw run's best checkpoint, its size, training time and CPU speed."""
    import csv

    from safetensors import safe_open

    from emodraw.checkpoints import find_checkpoints

    run_dir = Path(run_dir)
    best = find_checkpoints(run_dir).get("best")
    results, evaluation = run_dir / "results.json", run_dir / "evaluation.json"
    if best is None or not results.is_file() or not evaluation.is_file():
        raise EmodrawError(f"{run_dir}: not a finished emodraw run with a best checkpoint")
    metrics = json.loads(evaluation.read_text())["best"]
    with open(run_dir / "metrics.csv") as handle:
        seconds = sum(float(row["seconds"]) for row in csv.DictReader(handle))
    manifest = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    device = manifest.get("device", {"name": "device not recorded"})
    weights = best / "model.safetensors"
    with safe_open(str(weights), "pt") as handle:
        parameters = sum(int(np.prod(handle.get_slice(k).get_shape())) for k in handle.keys())
    return {
        "metrics": metrics,
        "train_seconds": seconds,
        "device": device.get("name", "?"),
        "parameters": parameters,
        "bytes": weights.stat().st_size,
        "cpu_sentences_per_s": cpu_inference_speed(best, texts),
        "run": str(run_dir),
    }


def _reading(train_options: dict[str, Any]) -> dict[str, Any]:
    """How the data are read (columns, label names, multi-label), as the training options -- a preset's
    included -- say, so that tfidf-svm and the encoders read the same examples."""
    from emodraw.config import resolve_config
    from emodraw.data.columns import Columns

    cfg = resolve_config(None, **{k: v for k, v in train_options.items() if v is not None})
    return {
        "columns": Columns.from_config(cfg),
        "label_names": cfg.label_names,
        "multi_label": cfg.multi_label,
        "label_separator": cfg.label_separator,
    }


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def compare(
    models: list[str],
    output_dir: str | Path,
    *,
    epochs: int | None = None,
    portion: float = 1.0,
    seeds: int = 1,
    runs: list[str] | None = None,
    revision: str | None = None,
    int8: bool = False,
    published: bool = False,
    log=print,
    **train_options,
) -> list[dict[str, Any]]:
    """`revision` (a branch, tag or commit) is that of every Hugging Face Hub id among `models`; folders, the
    embedded model and tfidf-svm are trained as they are. `int8`: each encoder's first run is also exported
    to ONNX int8 (into output_dir/exports) for its size and CPU speed; `published`: a row with the published
    albert-base-v2's figures (the emotion data)."""
    from emodraw.data.splits import load_splits
    from emodraw.modeling.backbones import resolve_backbone
    from emodraw.training.trainer import train

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if seeds < 1:
        raise EmodrawError(f"--seeds {seeds}: needs at least 1")
    data_options = {k: train_options.get(k) for k in ("data_dir", "train_file", "val_file", "test_file")}
    data_options.update(_reading(train_options))
    groups: dict[str, list[dict[str, Any]]] = {}
    test_texts = None
    for seed in range(1, seeds + 1):
        splits = load_splits(**data_options, portion=portion, seed=seed)
        test_texts = (splits.test or splits.val).texts
        for model in models:
            if model == TFIDF:
                groups.setdefault(TFIDF, []).append(tfidf_svm_run(splits, seed, out / "runs" / f"{TFIDF}-seed{seed}"))
                continue
            extra = {"epochs": epochs} if epochs else {}
            if revision is not None and not resolve_backbone(model).is_local:
                extra["revision"] = revision
            run = train(
                model=model,
                portion=portion,
                seed=seed,
                plots=False,
                save_state=False,
                output_dir=str(out / "runs" / f"{Path(model).name or 'model'}-seed{seed}"),
                progress=False,
                **extra,
                **{k: v for k, v in train_options.items() if v is not None},
            )
            groups.setdefault(model, []).append(summarise_run(run.run_dir, test_texts))
            log(f"{model} seed {seed}: test accuracy {groups[model][-1]['metrics']['accuracy'] * 100:.2f} %")
    for run_dir in runs or []:  # test_texts: set by the loop above, which reads the data once per seed (>= 1)
        summary = summarise_run(Path(run_dir), test_texts)
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
        # runs of one recipe (model, preset, portion) but for their seeds are one row: mean ± std
        portion_note = f", {config['portion'] * 100:g} %" if config.get("portion", 1) < 1 else ""
        name = f"{config.get('model', run_dir)} ({config.get('experiment', Path(run_dir).name)}{portion_note})"
        groups.setdefault(name, []).append(summary)

    rows = []
    for name, items in groups.items():
        row = {
            "model": name,
            "seeds": len(items),
            "parameters": items[0]["parameters"],
            "bytes": items[0]["bytes"],
            "device": items[0]["device"],
            "runs": [i["run"] for i in items],
            "multi_label": bool(items[0]["metrics"].get("multi_label")),
        }
        for key in ("accuracy", "f1_macro", "f1_weighted"):
            row[key], row[f"{key}_std"] = _mean_std([i["metrics"][key] for i in items])
        row["train_seconds"], _ = _mean_std([i["train_seconds"] for i in items])
        row["cpu_sentences_per_s"], _ = _mean_std([i["cpu_sentences_per_s"] for i in items])
        row["per_class_f1"] = {
            c: statistics.mean(i["metrics"]["per_class"][c]["f1"] for i in items)
            for c in items[0]["metrics"]["per_class"]
        }
        if int8 and name != TFIDF:
            log(f"{name}: ONNX int8 size and speed")
            row.update(int8_summary(Path(row["runs"][0]), out / "exports" / Path(row["runs"][0]).name, test_texts))
        rows.append(row)
    if published:
        rows.append(dict(PUBLISHED_ALBERT, published=True))
    (out / "compare.json").write_text(json.dumps(rows, indent=1))
    (out / "compare.md").write_text(markdown(rows, cpu_name()))
    comparison_chart([r for r in rows if not r.get("published")], out / "compare.png")
    return rows


def markdown(rows: list[dict[str, Any]], cpu: str) -> str:
    int8 = any("int8_bytes" in r for r in rows)
    lines = [
        "| model | parameters | size on disk | "
        + ("int8 size | " if int8 else "")
        + "test accuracy (%) | macro F1 (%) | weighted F1 (%) | seeds | training s (device) | "
        + "CPU inference sentences/s |"
        + (" int8 sentences/s |" if int8 else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if int8 else ""),
    ]
    for r in rows:
        if r.get("published"):
            dash = "— | " * (2 if int8 else 1)
            lines.append(
                f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {dash}{r['accuracy'] * 100:.2f} | "
                f"{r['f1_macro'] * 100:.2f} | — | — | — | —{' | —' if int8 else ''} |"
            )
            continue
        pm = lambda k: f"{r[k] * 100:.2f} ± {r[k + '_std'] * 100:.2f}"  # noqa: E731
        small = f"{r['int8_bytes'] / 2**20:.1f} MiB | " if "int8_bytes" in r else ("— | " if int8 else "")
        fast = f" {r['int8_sentences_per_s']:.0f} |" if "int8_bytes" in r else (" — |" if int8 else "")
        lines.append(
            f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {r['bytes'] / 2**20:.1f} MiB | {small}"
            f"{pm('accuracy')} | "
            f"{pm('f1_macro')} | {pm('f1_weighted')} | {r['seeds']} | {r['train_seconds']:.1f} ({r['device']}) | "
            f"{r['cpu_sentences_per_s']:.0f} |{fast}"
        )
    rows = [r for r in rows if not r.get("published")]  # per-class figures: measured rows only
    names = list(rows[0]["per_class_f1"]) if rows else []
    lines += [
        "",
        "Per-class F1 (%), mean over seeds:",
        "",
        "| model | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for r in rows:
        lines.append(f"| {r['model']} | " + " | ".join(f"{r['per_class_f1'][n] * 100:.2f}" for n in names) + " |")
    if any(r.get("multi_label") for r in rows):
        lines += ["", MULTI_LABEL_NOTE, f"({TFIDF}: each label's SVM decides at its own boundary, score 0.)"]
    lines += [
        "",
        f"CPU inference: batch 32, length-sorted, on {cpu}"
        + ("; int8: the ONNX int8 export of each model's first run, through ONNX Runtime" if int8 else "")
        + "; scores on the test split, each run's best checkpoint.",
    ]
    return "\n".join(lines) + "\n"
