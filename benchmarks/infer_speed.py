#!/usr/bin/env python
"""CPU inference: transformers `pipeline("text-classification")` in fp32 (the baseline) against emodraw's
PyTorch predictor, ONNX fp32 and ONNX int8, on the 2,000 test sentences, in one run.

    python benchmarks/infer_speed.py --checkpoint runs/default_all-MiniLM-L6-v2

Reports sentences/s at batch 32, latency p50/p95 at batch 1, size on disk and test accuracy. The last
line is machine-readable (int8 against the pipeline):
    speedup_vs_hf_pipeline=X.XX accuracy_drop_pt=X.XX size_ratio=X.XX
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure(predict_batch, predict_one, texts, gold, latency_n: int) -> dict:
    predict_batch(texts[:64])  # warm-up: first-call allocations and lazy initialisation
    start = time.perf_counter()
    predicted = predict_batch(texts)
    seconds = time.perf_counter() - start
    accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    for text in texts[:10]:
        predict_one(text)
    latencies = []
    for text in texts[:: max(1, len(texts) // latency_n)][:latency_n]:
        t0 = time.perf_counter()
        predict_one(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    return {
        "sentences_per_s": len(texts) / seconds,
        "accuracy": accuracy,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
    }


def pipeline_row(checkpoint: Path, texts, gold, args) -> dict:
    """The baseline: transformers' text-classification pipeline on the checkpoint, in fp32. The pipeline
    lives only inside this function, so its model is freed before emodraw's predictors are timed."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(checkpoint), tokenizer=str(checkpoint), device=-1)
    row = measure(
        lambda xs: [r["label"] for r in pipe(xs, batch_size=args.batch_size, truncation=True)],
        lambda x: pipe(x, truncation=True),
        texts,
        gold,
        args.latency_n,
    )
    row["bytes"] = (checkpoint / "model.safetensors").stat().st_size
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint or run folder (PyTorch weights)")
    p.add_argument("--export", help="an existing `emodraw export --int8` folder (default: export now, untimed)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--latency-n", type=int, default=200, help="sentences timed one at a time")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument(
        "--force",
        action="store_true",
        help="keep an export that fails the parity gate (a barely trained model timed for size and speed only)",
    )
    p.add_argument("--limit", type=int, help="time only the first N test sentences (a large model on a small CPU)")
    args = p.parse_args(argv)

    import torch
    import transformers

    from emodraw.checkpoints import resolve_model_folder
    from emodraw.data.splits import read_examples
    from emodraw.export import FP32_FILE, INT8_FILE, export
    from emodraw.inference.classifier import Classifier, OnnxClassifier

    torch.set_num_threads(args.threads)
    checkpoint = resolve_model_folder(args.checkpoint)
    torch_clf = Classifier.load(checkpoint, threads=args.threads)
    test = read_examples(torch_clf.data_file("test"), labels=torch_clf.labels)
    texts, gold = test.texts[: args.limit], test.labels[: args.limit]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.export) if args.export else Path(tmp) / "export"
        if not args.export:
            print("exporting (not timed) ...", file=sys.stderr)
            export(checkpoint, folder, int8=True, force=args.force, log=lambda m: print(m, file=sys.stderr))
        rows = {"HF pipeline, PyTorch fp32": pipeline_row(checkpoint, texts, gold, args)}

        def clf_row(clf, bytes_on_disk):
            row = measure(
                lambda xs: [clf.labels[i] for i in clf.logits(xs, args.batch_size).argmax(-1)],
                lambda x: clf.logits([x], 1),
                texts,
                gold,
                args.latency_n,
            )
            row["bytes"] = bytes_on_disk
            return row

        precision = "bf16" if torch_clf.bf16 else "fp32"
        rows[f"emodraw PyTorch ({precision}, length-sorted)"] = clf_row(
            torch_clf, (checkpoint / "model.safetensors").stat().st_size
        )
        for name, label in ((FP32_FILE, "emodraw ONNX fp32"), (INT8_FILE, "emodraw ONNX int8")):
            clf = OnnxClassifier.load(folder, variant=name, threads=args.threads)
            rows[label] = clf_row(clf, (folder / name).stat().st_size)

    from emodraw.hardware import cpu_name

    cpu = cpu_name()
    print(
        f"\nmachine: {cpu}, {os.cpu_count()} CPU threads ({args.threads} used); torch {torch.__version__}, "
        f"transformers {transformers.__version__}"
    )
    print(
        f"checkpoint: {checkpoint}; {len(texts)} test sentences, batch {args.batch_size} for throughput, "
        f"{args.latency_n} single-sentence calls for latency\n"
    )
    print("| | sentences/s (batch 32) | p50 ms (batch 1) | p95 ms (batch 1) | size on disk | test accuracy |")
    print("|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(
            f"| {label} | {r['sentences_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['bytes'] / 2**20:.1f} MiB | {r['accuracy'] * 100:.2f} % |"
        )
    base, int8 = rows["HF pipeline, PyTorch fp32"], rows["emodraw ONNX int8"]
    print(
        f"speedup_vs_hf_pipeline={int8['sentences_per_s'] / base['sentences_per_s']:.2f} "
        f"accuracy_drop_pt={(base['accuracy'] - int8['accuracy']) * 100:.2f} "
        f"size_ratio={base['bytes'] / int8['bytes']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
