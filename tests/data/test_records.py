"""The one record reader: training's whole-file read and `predict`'s streaming read of the same bytes give the
same records and the same `path:line: reason` problems, whichever way the bytes arrive."""

from __future__ import annotations

import io
import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emodraw.data import EMOTIONS, read_examples, read_records
from emodraw.data import records as reader
from emodraw.errors import DataError
from emodraw.inference import streaming

BOM = b"\xef\xbb\xbf"

# Each case: valid records (labels all known, so text-only reading keeps the same texts) and defects that
# are a problem in both readings -- invalid UTF-8, an empty or missing text, broken JSON -- behind a BOM,
# with CRLF and LF line ends, blank lines and a `\r` inside a text.
CASES = {
    ".txt": BOM
    + b"i feel great; really;joy\r\n"
    + b"\r\n"
    + b"bad \xff\xfe bytes;joy\r\n"
    + b"   ;sadness\n"
    + b"a\rb;fear\n"
    + b"i am sad;sadness",
    ".csv": BOM
    + b"id,text,label\r\n"
    + b'1,"i feel great, really",joy\r\n'
    + b'2,"multi\r\nline\nrow",sadness\n'
    + b"3,bad \xff bytes,joy\n"
    + b"\n"
    + b"4,,fear\n"
    + b'5,"a\rb",fear\n'
    + b"6,i am sad,sadness\r\n"
    + b"7\n",
    ".jsonl": BOM
    + b'{"text": "i feel great", "label": "joy"}\r\n'
    + b"\n"
    + b'{"text": "bad \xff", "label": "joy"}\n'
    + b"{not json\r\n"
    + b'{"text": "  ", "label": "fear"}\n'
    + b'{"text": 3, "label": "fear"}\n'
    + b'{"label": "sadness", "text": "i am sad"}',
}


class Trickle(io.RawIOBase):
    """A pipe that hands over a few bytes at a time, so lines arrive split at arbitrary points."""

    def __init__(self, data: bytes, size: int = 3):
        self.data, self.size = data, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        piece, self.data = self.data[: self.size], self.data[self.size :]
        buffer[: len(piece)] = piece
        return len(piece)


def trickle(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(Trickle(data), buffer_size=8)


class FakeClassifier:
    """What predict_stream needs from a Classifier, recording every text it is given."""

    labels = list(EMOTIONS)
    multi_label = False

    def __init__(self):
        self.seen: list[str] = []

    def details(self, texts, batch_size=64, **scoring):
        self.seen += texts
        return [{"label": "joy", "scores": {n: 1 / 6 for n in self.labels}, "truncated": False} for _ in texts]


def predicted(capsys, monkeypatch, tmp_path, path=None, stdin: bytes | None = None):
    """(line, text) of each prediction and the problems `emodraw predict` reports, streaming in chunks of 2."""
    monkeypatch.setattr(streaming, "CHUNK", 2)
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(trickle(stdin)))
    clf, out = FakeClassifier(), tmp_path / "out.jsonl"
    capsys.readouterr()
    streaming.predict_stream(clf, file=str(path) if path else None, output=str(out), force=True)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert clf.seen == [row["text"] for row in rows]
    reported = [line for line in capsys.readouterr().err.splitlines() if line.endswith(" (skipped)")]
    return [(row["line"], row["text"]) for row in rows], [line.removesuffix(" (skipped)") for line in reported]


# The problems of each case, as both readings report them.
PROBLEMS = {
    ".txt": [(3, "invalid UTF-8"), (4, "missing or empty text")],
    ".csv": [(6, "invalid UTF-8"), (8, "missing or empty text"), (11, "row has fewer columns than the header")],
    ".jsonl": [
        (3, "invalid UTF-8"),
        (4, "not valid JSON"),
        (5, "missing or empty text"),
        (6, "missing or non-string 'text'"),
    ],
}


@pytest.mark.parametrize("suffix", sorted(CASES))
def test_predict_streams_the_records_training_reads(tmp_path, capsys, monkeypatch, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_bytes(CASES[suffix])
    streamed, streamed_problems = predicted(capsys, monkeypatch, tmp_path, path)
    assert streamed_problems == [f"{path}:{line}: {reason}" for line, reason in PROBLEMS[suffix]]

    examples = read_examples(path, skip_invalid=True)
    assert streamed == list(zip(examples.lines, examples.texts))
    assert examples.skipped == len(streamed_problems)
    with pytest.raises(DataError) as strict:
        read_examples(path)
    assert str(strict.value) == streamed_problems[0]


def test_predict_from_stdin_reads_like_a_file(tmp_path, capsys, monkeypatch):
    path = tmp_path / "data.txt"
    path.write_bytes(CASES[".txt"])
    from_file, file_problems = predicted(capsys, monkeypatch, tmp_path, path)
    from_stdin, stdin_problems = predicted(capsys, monkeypatch, tmp_path, stdin=CASES[".txt"])
    assert from_stdin == from_file
    assert stdin_problems == [p.replace(str(path), "stdin", 1) for p in file_problems]


def test_the_cases_hold_what_they_claim(tmp_path):
    """BOM stripped, CRLF read as a line end (in a quoted CSV field too), `\\r` inside a text kept."""
    texts = {}
    for suffix, data in CASES.items():
        path = tmp_path / f"data{suffix}"
        path.write_bytes(data)
        examples = read_examples(path, skip_invalid=True)
        texts[suffix] = examples.texts
        assert examples.labels[0] == "joy" and examples.texts[-1] == "i am sad", suffix
    assert texts[".txt"] == ["i feel great; really", "a\rb", "i am sad"]
    assert texts[".csv"] == ["i feel great, really", "multi\nline\nrow", "a\rb", "i am sad"]
    assert texts[".jsonl"] == ["i feel great", "i am sad"]


# Arbitrary lines of near-data, so the property below also covers what nobody thought of.
piece = st.one_of(
    st.binary(max_size=12),
    st.sampled_from(
        [b"text,label", b"a;joy", b'"a, b",joy', b'"open,joy', b'{"text": "x", "label": "joy"}', BOM, b"\r", b";"]
    ),
)
file_bytes = st.lists(st.lists(piece, max_size=3).map(b"".join), max_size=8).flatmap(
    lambda lines: st.sampled_from([b"\n", b"\r\n"]).map(lambda end: end.join(lines))
)


@pytest.mark.parametrize("suffix", sorted(CASES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=file_bytes)
def test_any_bytes_read_alike_from_a_file_and_from_a_pipe(tmp_path, suffix, data):
    path = tmp_path / f"any{suffix}"
    path.write_bytes(data)

    def outcome(**options):
        try:
            examples = read_examples(path, **options)
        except DataError as exc:
            return exc.line, exc.reason
        return list(zip(examples.lines, examples.texts, examples.labels)), examples.skipped

    try:
        streamed = list(read_records(trickle(data), suffix))
    except DataError as exc:  # refused whole (a UTF-16/32 byte-order mark): the same from a file
        assert outcome() == outcome(skip_invalid=True) == (exc.line, exc.reason)
        return
    valid = [(r.line, r.text, r.label) for r in streamed if not r.problem]
    problems = [(r.line, r.problem) for r in streamed if r.problem]
    no_examples = (None, "no valid examples")
    assert outcome(skip_invalid=True) == ((valid, len(problems)) if valid else no_examples)
    assert outcome() == (problems[0] if problems else (valid, 0) if valid else no_examples)


def test_text_only_reading_drops_known_labels_only():
    data = b"i feel great;joy\nsee you at 5;30\n;joy\njoy\n"
    records = list(read_records(io.BytesIO(data), ".txt", labelled=False, labels=EMOTIONS))
    assert [(r.line, r.text, r.problem) for r in records] == [
        (1, "i feel great", ""),
        (2, "see you at 5;30", ""),
        (3, "", "missing or empty text"),
        (4, "joy", ""),
    ]
    assert all(r.label is None for r in records)


def test_text_only_needs_no_label_column_or_field(tmp_path):
    csv_records = list(read_records(io.BytesIO(b"id,text\n1,hello\n"), ".csv", labelled=False))
    assert [(r.line, r.text) for r in csv_records] == [(2, "hello")]
    jsonl = b'{"text": "hello"}\n["a list"]\n'
    assert [(r.text, r.problem) for r in read_records(io.BytesIO(jsonl), ".jsonl", labelled=False)] == [
        ("hello", ""),
        ("", "expected a JSON object with 'text'"),
    ]
    labelled = tmp_path / "x.csv"
    labelled.write_bytes(b"id,text\n1,hello\n")
    with pytest.raises(DataError, match=r"x\.csv:1: the CSV header must name a 'text' and a 'label' column"):
        read_examples(labelled)


def test_csv_problems_come_in_file_order_with_physical_line_numbers():
    # A lone "\r" ends a CSV row (as in a file opened with newline=""), but does not shift the line numbers.
    data = b"text,label\ra,joy\n,sadness\nb \xff,joy\n"
    records = list(read_records(io.BytesIO(data), ".csv"))
    assert [(r.line, r.text, r.problem) for r in records] == [
        (1, "a", ""),
        (2, "", "missing or empty text"),
        (3, "", "invalid UTF-8"),
    ]


def test_byte_offsets_reach_the_end_of_the_file():
    data = BOM + b"a;joy\r\nb;joy\n\nc;joy"
    assert [r.offset for r in read_records(io.BytesIO(data), ".txt")] == [len(BOM) + 7, len(BOM) + 13, len(data)]


@pytest.mark.parametrize("suffix", sorted(CASES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=file_bytes)
def test_the_record_limit_cuts_alike_whichever_way_the_bytes_arrive(monkeypatch, suffix, data):
    monkeypatch.setattr(reader, "MAX_RECORD_BYTES", 8)

    def read(handle):
        try:
            return list(read_records(handle, suffix))
        except DataError as exc:
            return exc.line, exc.reason

    from_pipe = read(trickle(data))
    assert read(io.BytesIO(data)) == read(io.BytesIO(data).readlines()) == from_pipe  # bounded readline or lines
    if isinstance(from_pipe, list) and suffix != ".csv":
        lines = data.split(b"\n")
        for record in from_pipe:
            size = len(lines[record.line - 1].removesuffix(b"\r").removeprefix(BOM * (record.line == 1)))
            assert (size > 8) == (record.problem == "record longer than 8 bytes"), (record, size)
