"""Your own data through the command line, as a new user brings it: a CSV whose text column is `sentence`,
a JSONL file with integer labels as `datasets` writes it, labels 0-5, .tsv files, and predict keeping the
input's ids. Each case trains, checks, evaluates or predicts through `emodraw` itself."""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest
from helpers.runs import best_checkpoint, labels_of

from emodraw.cli import main
from emodraw.data import EMOTIONS
from emodraw.data.splits import bundled_data_dir

NAMES = ",".join(EMOTIONS)
# A tiny model learning fast on the CPU, one epoch (tests/helpers/tiny_data.py's TINY_OPTIONS, as flags).
FAST = ["--epochs", 1, "--batch-size", 16, "--learning-rate", 3e-3, "--no-freeze-embeddings", "--warmup-ratio", 0]
FAST += ["--precision", "fp32", "--eval-batch-size", 64, "--no-plots", "--no-save-state", "--device", "cpu"]


def cli(*args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `emodraw ARGS`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def sentences(split: str, n: int) -> list[tuple[str, int]]:
    """The first n bundled sentences of a split, each with its emotion's id."""
    lines = (bundled_data_dir() / f"{split}.txt").read_text(encoding="utf-8").splitlines()[:n]
    return [(text, EMOTIONS.index(label)) for text, label in (line.rsplit(";", 1) for line in lines)]


def write_table(path, header: list[str], rows: list[tuple], delimiter: str = ",") -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows([header, *rows])


@pytest.fixture(scope="module")
def datasets_run(tmp_path_factory, tiny_albert):
    """A run trained on JSONL files with integer labels, as `datasets` writes them, named by --label-names."""
    folder = tmp_path_factory.mktemp("datasets-style")
    for split, name, n in (("train", "train", 300), ("val", "validation", 100)):
        rows = [json.dumps({"text": text, "label": label}) for text, label in sentences(split, n)]
        (folder / f"{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    run = folder / "run"
    code, out, err = cli(
        "train", "--model", tiny_albert, "--data-dir", folder, "--label-names", NAMES, "--output-dir", run, *FAST
    )
    assert code == 0, err
    return run, err


def test_integer_jsonl_labels_train_under_their_names(datasets_run):
    run, err = datasets_run
    assert labels_of(best_checkpoint(run)) == list(EMOTIONS)
    assert "the labels are numbers" not in err  # named: no hint


def test_a_csv_with_a_sentence_column_and_labels_0_to_5_trains_with_a_hint(tmp_path, tiny_albert):
    train, val, test = tmp_path / "train.csv", tmp_path / "val.tsv", tmp_path / "test.tsv"
    write_table(train, ["id", "sentence", "label"], [(i, t, y) for i, (t, y) in enumerate(sentences("train", 300))])
    write_table(val, ["sentence", "label"], sentences("val", 100), delimiter="\t")
    write_table(test, ["sentence", "label"], sentences("test", 100), delimiter="\t")
    data = ["--train-file", train, "--val-file", val, "--test-file", test, "--text-column", "sentence"]
    run = tmp_path / "run"
    code, _, err = cli("train", "--model", tiny_albert, *data, "--output-dir", run, *FAST)
    assert code == 0, err
    assert labels_of(best_checkpoint(run)) == ["0", "1", "2", "3", "4", "5"]
    (hint,) = [line for line in err.splitlines() if "the labels are numbers" in line]
    assert "--label-names" in hint

    # check-data reads the same files the same way, and says the same
    code, out, err = cli("check-data", *data, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["train"]["sentences"], report["val"]["sentences"], report["test"]["sentences"]) == (300, 100, 100)
    assert "the labels are numbers" in err
    code, out, err = cli("check-data", *data, "--label-names", NAMES, "--json")
    assert code == 0 and set(json.loads(out)["train"]["labels"]) <= set(EMOTIONS), err
    assert "the labels are numbers" not in err


def test_own_labels_from_a_train_and_a_val_file_train_without_a_test_split(tmp_path, tiny_albert):
    # No --test-file and labels other than CARER's: the run neither reads nor records CARER's test split (it
    # once failed at start on the bundled test.txt), scores validation, and evaluate asks for --data.
    train, val = tmp_path / "train.csv", tmp_path / "val.csv"
    write_table(train, ["sentence", "label"], sentences("train", 300))
    write_table(val, ["sentence", "label"], sentences("val", 100))
    run = tmp_path / "run"
    code, _, err = cli(
        "train", "--model", tiny_albert, "--train-file", train, "--val-file", val, "--text-column", "sentence",
        "--output-dir", run, *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert "no test file: the results table is computed on the validation split" in err
    assert set(json.loads((run / "run.json").read_text())["data"]) == {"train", "val"}
    code, _, err = cli("evaluate", run, "--json")
    assert code == 2 and err.strip().endswith(
        "no test data recorded for " + str(best_checkpoint(run)) + "; pass --data FILE"
    )
    code, out, err = cli("evaluate", run, "--split", "val", "--json")
    assert code == 0 and json.loads(out)["n"] == 100, err


def test_check_data_refuses_a_missing_column_in_one_line(tmp_path):
    write_table(tmp_path / "train.csv", ["sentence", "label"], [("i feel great", "joy")])
    write_table(tmp_path / "val.csv", ["sentence", "label"], [("so sad", "sadness")])
    code, _, err = cli("check-data", "--data-dir", tmp_path)
    assert code == 2
    assert err.strip() == (
        f"emodraw check-data: error: {tmp_path / 'train.csv'}:1: the CSV header must name a 'text' and a 'label' "
        "column (it has 'sentence', 'label': choose with --text-column)"
    )


def test_evaluate_a_tsv_with_integer_labels_and_label_names(datasets_run, tmp_path):
    run, _ = datasets_run
    names = tmp_path / "labels.txt"
    names.write_text("\n".join(EMOTIONS) + "\n", encoding="utf-8")
    data = tmp_path / "test.tsv"
    rows = sentences("test", 50)
    data.write_text("".join(f"{label}\t{text}\n" for text, label in rows), encoding="utf-8")  # no header
    args = ["evaluate", best_checkpoint(run), "--data", data, "--no-header", "--text-column", 1, "--label-column", 0]
    code, out, err = cli(*args, "--label-names", names, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["n"] == 50 and set(metrics["per_class"]) == set(EMOTIONS)
    # Trained with --label-names, the checkpoint's own labels name the ids; an id out of range is its line's.
    assert json.loads(cli(*args, "--json")[1])["accuracy"] == metrics["accuracy"]
    data.write_text("6\ti am lost\n", encoding="utf-8")
    code, _, err = cli(*args, "--label-names", names)
    assert code == 2 and f"{data}:1: label id 6 out of range: --label-names gives ids 0-5" in err
    # The run's own validation split is read as training read it.
    code, out, err = cli("evaluate", best_checkpoint(run), "--split", "val", "--json")
    assert code == 0 and json.loads(out)["n"] == 100, err


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_predict_keeps_the_inputs_other_columns(datasets_run, tmp_path, suffix):
    run, _ = datasets_run
    comments = tmp_path / "comments.csv"
    write_table(comments, ["id", "comment", "label"], [("c-17", "i feel great", "joy"), ("c-18", "so sad", "")])
    out = tmp_path / f"out{suffix}"
    code, _, err = cli(
        "predict", best_checkpoint(run), "--file", comments, "--text-column", "comment", "--output", out
    )
    assert code == 0, err
    if suffix == ".csv":
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
    else:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["c-17", "c-18"]
    assert [row["text"] for row in rows] == ["i feel great", "so sad"]
    assert [row["input_label"] for row in rows] == ["joy", ""]  # the input's label, beside the prediction
    assert all(row["label"] in EMOTIONS for row in rows)
