""".tsv and .parquet beside .txt, .csv and .jsonl: the same examples from the same data in every format, found
in a data folder, with the same strict `path:line: reason` problems (a Parquet row's number as its line)."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from emodraw.data import EMOTIONS, FORMATS, Columns, read_examples, read_records, records
from emodraw.data.formats import parquet
from emodraw.data.splits import find_split_file, load_splits
from emodraw.errors import DataError

ROWS = [("i feel great, really", "joy"), ('he said "no"', "anger"), ("so sad; again", "sadness")]


def write_rows(path, rows, header=("text", "label")) -> None:
    """`rows` in the format of `path`'s suffix, as other tools write it."""
    suffix = path.suffix
    if suffix == ".parquet":
        pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
        pq.write_table(pa.table({name: [row[i] for row in rows] for i, name in enumerate(header)}), path)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(header, row))) + "\n" for row in rows), encoding="utf-8")
    elif suffix == ".txt":
        path.write_text("".join(f"{text};{label}\n" for text, label in rows), encoding="utf-8")
    elif suffix == ".tsv":
        path.write_text("\t".join(header) + "\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_reads_the_same_examples(tmp_path, suffix):
    path = tmp_path / f"train{suffix}"
    write_rows(path, ROWS)
    examples = read_examples(path)
    assert list(zip(examples.texts, examples.labels)) == ROWS
    first = 1 if suffix in (".txt", ".jsonl", ".parquet") else 2  # a header is line 1
    assert examples.lines == [first, first + 1, first + 2]


def test_the_formats_are_found_in_a_data_folder_and_named_in_errors(tmp_path):
    assert FORMATS == (".txt", ".csv", ".tsv", ".jsonl", ".parquet")
    write_rows(tmp_path / "train.tsv", ROWS)
    write_rows(tmp_path / "validation.tsv", ROWS)
    assert find_split_file(tmp_path, "train").name == "train.tsv"
    assert load_splits(tmp_path).label_names == list(EMOTIONS)
    with pytest.raises(DataError, match=r"unknown format \.xlsx; use one of .txt, .csv, .tsv, .jsonl, .parquet"):
        read_examples(tmp_path / "a.xlsx")


def test_parquet_problems_name_the_row_and_skip_invalid_skips_them(tmp_path, monkeypatch):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    monkeypatch.setattr(parquet, "BATCH_ROWS", 2)  # read in pieces: the numbering goes on across them
    path = tmp_path / "train.parquet"
    texts, labels = ["ok", None, "a\x00b", "fine"], ["joy", "joy", None, "fear"]
    table = pa.table({"id": [1, 2, 3, 4], "text": texts, "label": labels})
    pq.write_table(table, path, row_group_size=2)
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert str(info.value) == f"{path}:2: missing or empty text"
    examples = read_examples(path, skip_invalid=True)
    assert (examples.texts, examples.lines, examples.skipped) == (["ok", "fine"], [1, 4], 2)
    with open(path, "rb") as handle:
        records = list(read_records(handle, ".parquet", labelled=False, keep_others=True))
    nul = "text has a NUL character at character 2 (binary data, or UTF-16 text?)"
    assert [r.problem for r in records] == ["", "missing or empty text", nul, ""]
    assert records[0].others == {"id": 1, "label": "joy"} and records[-1].offset == path.stat().st_size


def test_parquet_takes_integer_labels_and_columns_by_position(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"sentence": ["i feel great", "so sad"], "label": pa.array([1, 0], pa.int64())}), path)
    assert read_examples(path, columns=Columns.of(0, 1)).labels == ["1", "0"]
    named = read_examples(path, columns=Columns.of("sentence"), label_names=["sadness", "joy"])
    assert named.labels == ["joy", "sadness"]


@pytest.mark.parametrize(
    "table, reason",
    [
        ({"text": [1, 2], "label": ["joy", "joy"]}, "column 'text' holds int64, not text"),
        ({"text": ["a", "b"], "label": [0.5, 1.5]}, "column 'label' holds double, not text or whole numbers"),
        ({"words": ["a"], "label": ["joy"]}, "the Parquet file must have a 'text' and a 'label' column"),
    ],
)
def test_a_parquet_file_of_the_wrong_shape_is_refused_whole(tmp_path, table, reason):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table(table), path)
    with pytest.raises(DataError, match=f"^{path}: {reason}"):
        read_examples(path, skip_invalid=True)


def test_a_file_that_is_not_parquet_is_one_line(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "train.parquet"
    path.write_text("text,label\na,joy\n")
    with pytest.raises(DataError, match=rf"^{path}: not a readable Parquet file \(.+\)$"):
        read_examples(path)


def test_without_pyarrow_parquet_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` then raises ImportError
    path = tmp_path / "train.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"train\.parquet: reading \.parquet needs pyarrow: pip install pyarrow"):
        read_examples(path)


def test_a_bom_does_not_count_against_the_record_limit(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 8)
    data = b"\xef\xbb\xbf" + b"12345678\nabcdefghi\n"  # 8 bytes of text after the BOM fit; 9 do not
    for handle in (io.BytesIO(data), io.BytesIO(data).readlines()):
        got = [(r.line, r.text, r.problem) for r in read_records(handle, ".txt", labelled=False)]
        assert got == [(1, "12345678", ""), (2, "", "record longer than 8 bytes")]


class FakeClassifier:
    """What predict_stream needs from a Classifier: every text is joy."""

    labels = list(EMOTIONS)
    multi_label = False

    def details(self, texts, **scoring):
        return [{"label": "joy", "scores": {n: 1 / 6 for n in self.labels}, "truncated": False} for _ in texts]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("output", ["out.csv", "out.jsonl"])
def test_predict_keeps_the_other_columns_of_every_format(tmp_path, capsys, suffix, output):
    from emodraw.inference.streaming import predict_stream

    path = tmp_path / f"comments{suffix}"
    write_rows(path, [("c-1", "i feel great", "joy"), ("c-2", "so sad", "sadness")], header=("id", "text", "label"))
    out = tmp_path / output
    assert predict_stream(FakeClassifier(), file=str(path), output=str(out)) == 0
    if output.endswith(".csv"):
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
    else:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["text"], r["label"], r["input_label"]) for r in rows] == [
        ("c-1", "i feel great", "joy", "joy"),
        ("c-2", "so sad", "joy", "sadness"),
    ]
    assert "left out" not in capsys.readouterr().err


def test_a_csv_output_has_the_first_records_columns_and_says_what_it_left_out(tmp_path, capsys):
    from emodraw.inference.streaming import predict_stream

    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a", "id": 1}\n{"text": "b", "extra": [1, 2]}\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    predict_stream(FakeClassifier(), file=str(path), output=str(out))
    header, first, second = out.read_text(encoding="utf-8").splitlines()
    assert header.endswith(",id") and first.endswith(",1") and second.endswith(",")
    assert "note: 'extra' of some records left out: the CSV has the first record's columns" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("id,text\n", encoding="utf-8")
    predict_stream(FakeClassifier(), file=str(empty), output=str(tmp_path / "none.csv"))
    assert (tmp_path / "none.csv").read_text().startswith("line,text,label,truncated,sadness")  # the header still
