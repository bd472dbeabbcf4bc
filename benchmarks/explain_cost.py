#!/usr/bin/env python
"""The cost of a word-level explanation (occlusion: the sentence and each one-word-less variant, scored in one
batched call) against a plain prediction, per sentence, on the CPU: the PyTorch checkpoint and its ONNX int8
export, the same run, the same validation sentences.

    python benchmarks/explain_cost.py runs/default_all-MiniLM-L6-v2 --sentences 100

For each backend: ms per sentence of `details([text])` one sentence at a time (what one /predict request
costs), of `details(texts)` in batches (--batch-size), and of `explain(text)` one sentence at a time, and
the ratios. The export is made first into a temporary folder (not timed) unless --export names one. The last
line is machine-readable:
    explain_vs_predict_pytorch=X.X explain_vs_predict_onnx_int8=X.X mean_words=X.X
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def per_sentence_ms(call, items) -> float:
    start = time.perf_counter()
    for item in items:
        call(item)
    return (time.perf_counter() - start) * 1000 / len(items)


def measure(clf, texts, batch_size: int) -> dict:
    for text in texts[:5]:  # warm-up: first-call allocations, lazy initialisation, the tokenizer's caches
        clf.details([text])
        clf.explain(text)
    start = time.perf_counter()
    clf.details(texts, batch_size)
    batched = (time.perf_counter() - start) * 1000 / len(texts)
    return {
        "predict_ms": per_sentence_ms(lambda t: clf.details([t]), texts),
        "batched_ms": batched,
        "explain_ms": per_sentence_ms(clf.explain, texts),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a run or checkpoint folder (PyTorch weights)")
    p.add_argument("--export", help="an existing `emodraw export --int8` folder (default: export now, untimed)")
    p.add_argument("--sentences", type=int, default=100, help="the first N validation sentences")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (batched prediction)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args(argv)

    import torch
    import transformers

    from emodraw.checkpoints import resolve_model_folder
    from emodraw.data.splits import read_examples
    from emodraw.export import export
    from emodraw.hardware import cpu_name
    from emodraw.inference.classifier import Classifier, OnnxClassifier
    from emodraw.inference.explain import words_of
    from emodraw.inference.onnx_runtime import INT8_FILE

    checkpoint = resolve_model_folder(args.run)
    torch_clf = Classifier.load(checkpoint, device="cpu", threads=args.threads)
    texts = read_examples(torch_clf.data_file("val"), labels=torch_clf.labels).texts[: args.sentences]
    words = sum(len(words_of(t)) for t in texts) / len(texts)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.export) if args.export else Path(tmp) / "export"
        if not args.export:
            print("exporting (not timed) ...", file=sys.stderr)
            export(checkpoint, folder, int8=True, log=lambda m: print(m, file=sys.stderr))
        precision = "bf16" if torch_clf.bf16 else "fp32"
        rows = {f"PyTorch ({precision})": measure(torch_clf, texts, args.batch_size)}
        del torch_clf
        onnx = OnnxClassifier.load(folder, variant=INT8_FILE, threads=args.threads)
        rows["ONNX int8"] = measure(onnx, texts, args.batch_size)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\nmachine: {cpu_name()}, {os.cpu_count()} CPU threads ({args.threads} used), load average {load}; "
        f"torch {torch.__version__}, transformers {transformers.__version__}"
    )
    print(
        f"checkpoint: {checkpoint}; the first {len(texts)} validation sentences, {words:.1f} words on average "
        f"(an explanation scores 1 + words texts); batched prediction at batch {args.batch_size}\n"
    )
    print(
        "| backend | predict, 1 at a time (ms/sentence) | predict, batched (ms/sentence) | explain (ms/sentence) "
        "| explain / predict 1 at a time | explain / predict batched |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['predict_ms']:.1f} | {r['batched_ms']:.2f} | {r['explain_ms']:.1f} | "
            f"{r['explain_ms'] / r['predict_ms']:.1f}x | {r['explain_ms'] / r['batched_ms']:.1f}x |"
        )
    torch_row, onnx_row = rows[next(iter(rows))], rows["ONNX int8"]
    print(
        f"explain_vs_predict_pytorch={torch_row['explain_ms'] / torch_row['predict_ms']:.1f} "
        f"explain_vs_predict_onnx_int8={onnx_row['explain_ms'] / onnx_row['predict_ms']:.1f} mean_words={words:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
