"""Repeated sentences within and across splits: `emodraw check-data` and the audit every run records."""

import json
from pathlib import Path

import pytest
from helpers.tiny_data import TINY_OPTIONS, write_split_files

from emodraw.cli import main
from emodraw.data.audit import audit_splits, format_report, problems
from emodraw.data.splits import Examples, Splits, load_splits

TRAIN = """i feel happy today;joy
i feel happy today;joy
i feel passionate about it;love
i feel passionate about it;joy
i am scared of the dark;fear
i am furious;anger
"""
# line 1 is a training sentence with its label, line 2 one with another label (spelt with other case and
# spacing: the audit compares them normalised), line 3 is new
VAL = """i am furious;anger
I am  Scared of the dark;surprise
i feel lonely;sadness
"""
TEST = """i feel lonely;joy
i feel calm;joy
"""


@pytest.fixture
def planted(tmp_path) -> Path:
    for name, text in (("train", TRAIN), ("val", VAL), ("test", TEST)):
        (tmp_path / f"{name}.txt").write_text(text)
    return tmp_path


def test_counts_repeats_overlaps_and_two_label_sentences(planted):
    report = audit_splits(load_splits(planted))
    assert report["train"] == {
        "sentences": 6,
        "distinct": 4,
        "repeats": 2,
        "with_two_labels": 2,
        "labels": {"anger": 1, "fear": 1, "joy": 3, "love": 1},
    }
    assert report["val"]["in_train"] == 2 and report["val"]["in_train_other_label"] == 1
    assert (
        report["test"]["in_train"] == 0 and report["test"]["in_val"] == 1 and report["test"]["in_val_other_label"] == 1
    )
    # passionate (love/joy in train), scared (fear in train, surprise in val), lonely (sadness/joy)
    assert report["conflicting_sentences"] == 3
    first = report["conflicts"][0]
    assert first["text"] == "i feel passionate about it" and first["train"] == [["love", 3], ["joy", 4]]
    scared = next(c for c in report["conflicts"] if c["text"].startswith("i am scared"))
    assert scared["train"] == [["fear", 5]] and scared["val"] == [["surprise", 2]]


def test_clean_data_has_no_warnings(tmp_path):
    for name, text in (("train", "a b;joy\nc d;fear\n"), ("val", "e f;joy\n"), ("test", "g h;fear\n")):
        (tmp_path / f"{name}.txt").write_text(text)
    report = audit_splits(load_splits(tmp_path))
    assert problems(report) == []
    assert report["conflicting_sentences"] == 0 and report["val"]["in_train"] == 0


def test_warnings_name_each_problem(planted):
    lines = problems(audit_splits(load_splits(planted)))
    assert lines == [
        "2 of the 3 val sentences also occur in train, 1 of them with another label there",
        "1 of the 2 test sentences also occur in val, 1 of them with another label there",
        "3 distinct sentences carry two or more labels (emodraw check-data lists them)",
    ]


def test_examples_are_capped_but_counted(planted):
    report = audit_splits(load_splits(planted), max_examples=1)
    assert len(report["conflicts"]) == 1 and report["conflicting_sentences"] == 3
    assert "... and 2 more" in format_report(report, examples=1)


def test_check_data_command(planted, capsys):
    assert main(["check-data", "--data-dir", str(planted)]) == 0
    out = capsys.readouterr().out
    assert "| train | 6 | 4 | 2 | 2 |" in out
    assert "val sentences also in train: 2 (1 with another label there)" in out
    assert "train line 3: love; train line 4: joy" in out
    assert main(["check-data", "--data-dir", str(planted), "--strict"]) == 1
    capsys.readouterr()
    assert main(["check-data", "--data-dir", str(planted), "--json", "--examples", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conflicting_sentences"] == 3 and report["conflicts"] == []


def test_check_data_strict_passes_clean_data(tmp_path, capsys):
    for name, text in (("train", "a b;joy\nc d;fear\n"), ("val", "e f;joy\n")):
        (tmp_path / f"{name}.txt").write_text(text)
    assert main(["check-data", "--data-dir", str(tmp_path), "--strict"]) == 0
    assert "| test |" not in capsys.readouterr().out  # no test file: no test row


def test_bundled_data_figures():
    """The figures docs/RESULTS.md quotes for the bundled data."""
    report = audit_splits(load_splits())
    assert (report["test"]["in_train"], report["test"]["in_train_other_label"]) == (11, 11)
    assert (report["val"]["in_train"], report["val"]["in_train_other_label"]) == (5, 5)
    assert report["conflicting_sentences"] == 51


def test_a_run_records_the_audit_and_says_so(tiny_albert, tmp_path, capsys):
    from emodraw import train

    data = write_split_files(tmp_path / "data", n_train=120, n_val=40, n_test=40)
    with open(data / "val.txt", "a") as handle:  # a training sentence, relabelled, into validation
        text, label = (data / "train.txt").read_text().splitlines()[0].rsplit(";", 1)
        handle.write(f"{text};{'joy' if label != 'joy' else 'fear'}\n")
    run = train(
        model=str(tiny_albert),
        data_dir=str(data),
        output_dir=str(tmp_path / "run"),
        progress=False,
        **{**TINY_OPTIONS, "epochs": 1, "plots": False},
    )
    audit = json.loads((run.run_dir / "run.json").read_text())["data_audit"]
    assert (
        audit["val"]["sentences"] == 41 and audit["val"]["in_train"] == 1 and audit["val"]["in_train_other_label"] == 1
    )
    assert "conflicts" not in audit
    assert (
        "data: 1 of the 41 val sentences also occur in train, 1 of them with another label there"
        in capsys.readouterr().err
    )


class CountedLabel(str):
    """A label that counts how often it is hashed: the audit's work, free of timing noise."""

    hashes = 0

    def __hash__(self):
        CountedLabel.hashes += 1
        return str.__hash__(self)


def test_the_audit_is_linear_in_repeats():
    # 2,000 copies of one sentence: the quadratic audit hashed a label 2,000 times per copy (4 million).
    n = 2000
    labels = [CountedLabel(("joy", "fear")[i % 2]) for i in range(n)]
    train = Examples("train.txt", ["i feel the same"] * n, labels, list(range(1, n + 1)))
    val = Examples("val.txt", ["i feel the same"] * (n // 10), labels[: n // 10], list(range(1, n // 10 + 1)))
    CountedLabel.hashes = 0
    report = audit_splits(Splits(train, val, None, ["fear", "joy"], {}))
    assert report["train"]["with_two_labels"] == n and report["val"]["in_train_other_label"] == n // 10
    assert CountedLabel.hashes < 20 * n, f"{CountedLabel.hashes} label hashes for {n} lines"
