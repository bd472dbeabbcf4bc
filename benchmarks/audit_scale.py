#!/usr/bin/env python
"""How the repeated-sentence audit (`emodraw check-data`, and every training run) grows with repeats:
the quadratic audit it replaced (kept below as the baseline) against emodraw's, same data, one run.

    python benchmarks/audit_scale.py                      # < 1 minute on a laptop CPU
    python benchmarks/audit_scale.py --copies 1000 4000 --distinct-lines 10000 40000   # a quick look

Two shapes of data: N copies of one sentence (two labels, alternating), and N lines over 997 distinct
sentences. For each it prints the seconds at each size and the growth from the smallest to 4x that size
(linear is about 4, quadratic about 16). The two audits' reports are checked to be equal at every size.
The last line is machine-readable:
    growth_4x_emodraw=X.X growth_4x_quadratic=X.X growth_4x_emodraw_distinct=X.X growth_4x_quadratic_distinct=X.X
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from collections import Counter, defaultdict
from typing import Any

from emodraw.data.audit import SPLITS, audit_splits, normalise
from emodraw.data.splits import Examples, Splits


def quadratic_audit_splits(splits: Splits, *, max_examples: int = 20) -> dict[str, Any]:
    """BASELINE, not emodraw's code: emodraw.data.audit.audit_splits as it was before the fix, verbatim.
    `labels_in` rebuilds a sentence's label set from all its occurrences at each of its occurrences, so a
    sentence seen k times costs k^2."""
    present = {name: getattr(splits, name) for name in SPLITS if getattr(splits, name) is not None}
    keys = {name: [normalise(t) for t in examples.texts] for name, examples in present.items()}
    where: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for name, examples in present.items():
        for key, label, line in zip(keys[name], examples.labels, examples.lines):
            where[key][name].append([label, line])

    def labels_in(key: str, name: str) -> set[str]:
        return {label for label, _ in where[key].get(name, ())}

    report: dict[str, Any] = {}
    for position, (name, examples) in enumerate(present.items()):
        counts = Counter(keys[name])
        entry: dict[str, Any] = {
            "sentences": len(keys[name]),
            "distinct": len(counts),
            "repeats": len(keys[name]) - len(counts),
            "with_two_labels": sum(1 for k in keys[name] if len(labels_in(k, name)) > 1),
            "labels": dict(sorted(Counter(examples.labels).items())),
        }
        for earlier in list(present)[:position]:
            also = [(k, y) for k, y in zip(keys[name], examples.labels) if earlier in where[k]]
            entry[f"in_{earlier}"] = len(also)
            entry[f"in_{earlier}_other_label"] = sum(1 for k, y in also if labels_in(k, earlier) != {y})
        report[name] = entry

    conflicts = [
        {"text": key, **found}
        for key, found in where.items()
        if len({label for places in found.values() for label, _ in places}) > 1
    ]
    report["conflicting_sentences"] = len(conflicts)
    report["conflicts"] = conflicts[:max_examples]
    report["files"] = {name: str(examples.path) for name, examples in present.items()}
    return report


LABELS = ("joy", "sadness")


def examples(path: str, texts: list[str]) -> Examples:
    labels = [LABELS[i % 2] for i in range(len(texts))]
    return Examples(path, texts, labels, list(range(1, len(texts) + 1)))


def copies(n: int) -> Splits:
    """n training copies of one sentence; validation and test repeat it a tenth as often."""
    sentence = "i feel like i am repeating myself"
    parts = [examples(name, [sentence] * size) for name, size in (("train", n), ("val", n // 10), ("test", n // 10))]
    return Splits(*parts, label_names=list(LABELS), files={})


def distinct(n: int, kinds: int = 997) -> Splits:
    """n training lines cycling over `kinds` distinct sentences (997: prime, so labels vary per sentence)."""
    texts = [f"sentence number {i % kinds} of the corpus" for i in range(n)]
    val = [f"sentence number {i % (2 * kinds)} of the corpus" for i in range(n // 10)]
    return Splits(examples("train", texts), examples("val", val), None, label_names=list(LABELS), files={})


def timed(audit, splits: Splits, budget: float = 1.0) -> tuple[float, dict]:
    """The fastest of repeated runs, repeated until `budget` seconds are spent (a slow one runs once), and
    the report. The garbage collector is off while a run is timed, as timeit does: its passes over every
    live object would otherwise add a growth of their own to both audits."""
    best, spent = float("inf"), 0.0
    while spent < budget:
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            report = audit(splits)
            took = time.perf_counter() - start
        finally:
            gc.enable()
        best, spent = min(best, took), spent + took
    return best, report


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def series(name: str, make, sizes: list[int]) -> dict[str, float]:
    print(f"\n{name}")
    print("| lines | quadratic (baseline) s | emodraw s |")
    print("|---:|---:|---:|")
    times: dict[str, dict[int, float]] = {"quadratic": {}, "emodraw": {}}
    for n in sizes:
        splits = make(n)
        times["quadratic"][n], expected = timed(quadratic_audit_splits, splits)
        times["emodraw"][n], report = timed(audit_splits, splits)
        assert report == expected, f"the two audits' reports differ at {n:,} lines"
        print(f"| {n:,} | {times['quadratic'][n]:.3f} | {times['emodraw'][n]:.4f} |")
    small = min(sizes)
    if 4 * small not in sizes:
        raise SystemExit(f"{name}: the sizes need one 4x the smallest ({4 * small}) to give a growth ratio")
    growth = {kind: by_size[4 * small] / by_size[small] for kind, by_size in times.items()}
    ratios = f"quadratic x{growth['quadratic']:.1f}, emodraw x{growth['emodraw']:.1f}"
    print(f"growth {small:,} -> {4 * small:,} lines: {ratios}")
    return growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[5000, 10000, 20000])
    parser.add_argument("--distinct-lines", type=int, nargs="+", default=[50000, 100000, 200000])
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {cpu_name()}")
    same = series("copies of one sentence", copies, sorted(args.copies))
    spread = series("lines over 997 distinct sentences", distinct, sorted(args.distinct_lines))
    print(
        f"growth_4x_emodraw={same['emodraw']:.1f} growth_4x_quadratic={same['quadratic']:.1f} "
        f"growth_4x_emodraw_distinct={spread['emodraw']:.1f} growth_4x_quadratic_distinct={spread['quadratic']:.1f}"
    )


if __name__ == "__main__":
    main()
