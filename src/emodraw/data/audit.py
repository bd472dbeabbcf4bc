"""Repeated sentences within and across the data splits (`emodraw check-data`, and every training run).

Two things in a labelled corpus quietly distort its scores: a validation or test sentence that is also
a training sentence measures memory, not generalisation; and one sentence written down with two labels
is a coin flip no model can win. The bundled emotion data has both -- 11 of its 2,000 test sentences are
training sentences with another label -- so a run says so (run.json's `data_audit` and one log line)
and `emodraw check-data` lists them.

Sentences are compared after lower-casing and collapsing white space, so "I feel  fine" and "i feel
fine" count as the same sentence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from emodraw.data.splits import Splits

SPLITS = ("train", "val", "test")


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def audit_splits(splits: Splits, *, max_examples: int = 20) -> dict[str, Any]:
    """Counts per split: sentences, distinct ones, repeats, sentences with more than one label in the
    split itself, and for val/test how many also occur in an earlier split (and how many of those with a
    label that differs there). `conflicts` lists up to `max_examples` sentences with more than one label
    anywhere, with the labels each split gives them and the line numbers."""
    present = {name: getattr(splits, name) for name in SPLITS if getattr(splits, name) is not None}
    keys = {name: [normalise(t) for t in examples.texts] for name, examples in present.items()}
    # sentence -> split -> [[label, line], ...]: the one index every count below reads
    where: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for name, examples in present.items():
        for key, label, line in zip(keys[name], examples.labels, examples.lines):
            where[key][name].append([label, line])

    # Each sentence's label set per split, built once: rebuilding it at every occurrence made the audit
    # quadratic in repeats (20,000 copies of one sentence took seconds, a million lines minutes).
    label_sets = {
        key: {name: {label for label, _ in places} for name, places in found.items()} for key, found in where.items()
    }

    def labels_in(key: str, name: str) -> set[str]:
        return label_sets[key].get(name, set())

    report: dict[str, Any] = {}
    for position, (name, examples) in enumerate(present.items()):
        counts = Counter(keys[name])
        entry: dict[str, Any] = {
            "sentences": len(keys[name]),
            "distinct": len(counts),
            "repeats": len(keys[name]) - len(counts),
            "with_two_labels": sum(1 for k in keys[name] if len(labels_in(k, name)) > 1),
            "labels": dict(sorted(Counter(_each_label(examples.labels)).items())),
        }
        for earlier in list(present)[:position]:
            also = [(k, y) for k, y in zip(keys[name], examples.labels) if earlier in where[k]]
            entry[f"in_{earlier}"] = len(also)
            entry[f"in_{earlier}_other_label"] = sum(1 for k, y in also if labels_in(k, earlier) != {y})
        report[name] = entry

    conflicts = [
        {"text": key, **found} for key, found in where.items() if len(set().union(*label_sets[key].values())) > 1
    ]
    report["conflicting_sentences"] = len(conflicts)
    report["conflicts"] = conflicts[:max_examples]
    report["files"] = {name: str(examples.path) for name, examples in present.items()}
    return report


def problems(report: dict[str, Any]) -> list[str]:
    """One line per problem worth a user's attention before trusting validation/test scores."""
    lines = []
    for name in ("val", "test"):
        entry = report.get(name)
        if not entry:
            continue
        for earlier in ("train", "val"):
            shared = entry.get(f"in_{earlier}", 0)
            if shared:
                other = entry[f"in_{earlier}_other_label"]
                lines.append(
                    f"{shared} of the {entry['sentences']} {name} sentences also occur in {earlier}"
                    + (f", {other} of them with another label there" if other else "")
                )
    if report["conflicting_sentences"]:
        lines.append(
            f"{report['conflicting_sentences']} distinct sentences carry two or more labels "
            "(emodraw check-data lists them)"
        )
    return lines


def _each_label(labels):
    """Every label once per example that carries it (a multi-label example's tuple counts each of its labels;
    for multi-label data, "two labels" below means two different label sets)."""
    for label in labels:
        yield from label if isinstance(label, (tuple, list)) else (label,)


def _shown(label) -> str:
    return ",".join(label) if isinstance(label, (tuple, list)) else str(label)


def format_report(report: dict[str, Any], examples: int = 10) -> str:
    names = [n for n in SPLITS if n in report]
    labels = sorted({label for n in names for label in report[n]["labels"]})
    rows = [
        "| split | sentences | distinct | repeats | with two labels | " + " | ".join(labels) + " |",
        "|---" * (5 + len(labels)) + "|",
    ]
    for n in names:
        e = report[n]
        rows.append(
            f"| {n} | {e['sentences']} | {e['distinct']} | {e['repeats']} | {e['with_two_labels']} | "
            + " | ".join(str(e["labels"].get(label, 0)) for label in labels)
            + " |"
        )
    out = [f"{n}: {report['files'][n]}" for n in names] + [""] + rows + [""]
    overlap = [
        f"{n} sentences also in {earlier}: {report[n][f'in_{earlier}']} "
        f"({report[n][f'in_{earlier}_other_label']} with another label there)"
        for n in names
        for earlier in names[: names.index(n)]
    ]
    out += overlap + [f"sentences with two or more labels anywhere: {report['conflicting_sentences']}"]
    for item in report["conflicts"][:examples]:
        places = "; ".join(f"{n} line {line}: {_shown(label)}" for n in names for label, line in item.get(n, []))
        out.append(f"  {item['text'][:100]!r}  ->  {places}")
    if report["conflicting_sentences"] > examples:
        more = report["conflicting_sentences"] - min(examples, len(report["conflicts"]))
        out.append(f"  ... and {more} more (--examples N, --json)")
    return "\n".join(out)
