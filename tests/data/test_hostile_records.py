"""Hostile data files: lone surrogates and NULs, UTF-16/32 files, and records too long to hold in memory.

Each is one `path:line: reason` from the one reader, so training, evaluation and prediction all say the
same thing about the same line, and --skip-invalid skips what is wrong with a single record."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest

from emodraw.data import records
from emodraw.data.records import read_records, text_problem
from emodraw.data.splits import read_examples
from emodraw.errors import DataError


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_text_problem_names_surrogates_and_nuls_and_accepts_the_rest():
    assert text_problem("i feel great \U0001f600 déjà vu") is None
    assert text_problem("tab\tand\rcarriage return") is None
    assert text_problem("ab\ud800") == "text has a lone surrogate U+D800 at character 3 (not valid Unicode)"
    assert text_problem("\udcff") == "text has a lone surrogate U+DCFF at character 1 (not valid Unicode)"
    assert text_problem("a\x00b").startswith("text has a NUL character at character 2")


def test_lone_surrogate_in_jsonl_is_a_line_problem(tmp_path):
    # JSON escapes can spell a lone surrogate in a valid UTF-8 file; the tokenizer raises TypeError on it.
    lines = [
        {"text": "i feel great", "label": "joy"},
        {"text": "broken \ud800 text", "label": "joy"},
        {"text": "i am sad", "label": "sadness"},
        {"text": "a fine text", "label": "fear\udfff"},
    ]
    path = write(tmp_path, "train.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert str(info.value) == f"{path}:2: text has a lone surrogate U+D800 at character 8 (not valid Unicode)"
    examples = read_examples(path, skip_invalid=True)
    assert (examples.texts, examples.lines, examples.skipped) == (["i feel great", "i am sad"], [1, 3], 2)
    problems = [r.problem for r in read_records(io.BytesIO(path.read_bytes()), ".jsonl") if r.problem]
    assert problems[1] == "label has a lone surrogate U+DFFF at character 5 (not valid Unicode)"
    # Text-only reading (predict) ignores the label, so only the text is checked.
    text_only = [r.problem for r in read_records(io.BytesIO(path.read_bytes()), ".jsonl", labelled=False)]
    assert [bool(p) for p in text_only] == [False, True, False, False]


@pytest.mark.parametrize("suffix", [".txt", ".csv"])
def test_surrogates_encoded_as_bytes_are_invalid_utf8(tmp_path, suffix):
    """A .txt or .csv cannot carry a lone surrogate as valid UTF-8: its bytes (ED A0 80) fail to decode."""
    header = b"text,label\n" if suffix == ".csv" else b""
    sep = b"," if suffix == ".csv" else b";"
    path = write(tmp_path, f"train{suffix}", header + b"ok" + sep + b"joy\nbad \xed\xa0\x80" + sep + b"joy\n")
    with pytest.raises(DataError, match=rf":{2 + bool(header)}: invalid UTF-8$"):
        read_examples(path)


@pytest.mark.parametrize(
    "name, data, line",
    [
        ("train.txt", b"ok;joy\na\x00b;joy\n", 2),
        ("train.csv", b"text,label\nok,joy\n\x00,joy\n", 3),
        ("train.jsonl", b'{"text": "ok", "label": "joy"}\n{"text": "a\\u0000b", "label": "joy"}\n', 2),
    ],
)
def test_nul_characters_are_a_line_problem(tmp_path, name, data, line):
    # BERT's tokenizer deletes NULs ("a\x00b" reads as "ab"); in a text file they mean binary data or UTF-16.
    path = write(tmp_path, name, data)
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert info.value.line == line and "NUL character" in info.value.reason
    assert read_examples(path, skip_invalid=True).texts == ["ok"]


UTF_BOMS = {
    "utf-16-le": ("UTF-16", b"\xff\xfe", "FF FE"),
    "utf-16-be": ("UTF-16", b"\xfe\xff", "FE FF"),
    "utf-32-le": ("UTF-32", b"\xff\xfe\x00\x00", "FF FE 00 00"),
    "utf-32-be": ("UTF-32", b"\x00\x00\xfe\xff", "00 00 FE FF"),
}


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".jsonl"])
@pytest.mark.parametrize("encoding", sorted(UTF_BOMS))
def test_utf16_and_utf32_files_are_refused_with_one_line(tmp_path, encoding, suffix):
    content = {
        ".txt": "i feel great;joy\ni am sad;sadness\n",
        ".csv": "text,label\ni feel great,joy\n",
        ".jsonl": '{"text": "i feel great", "label": "joy"}\n',
    }[suffix]
    name, bom, spelt = UTF_BOMS[encoding]
    path = write(tmp_path, f"train{suffix}", bom + content.encode(encoding))
    for skip in (False, True):  # the whole file is unreadable: nothing to skip to
        with pytest.raises(DataError) as info:
            read_examples(path, skip_invalid=skip)
        assert str(info.value) == f"{path}:1: {name} text (a byte-order mark {spelt}): save the file as UTF-8"


def test_utf16_without_a_bom_is_caught_by_its_nuls(tmp_path):
    path = write(tmp_path, "train.txt", "i feel great;joy\n".encode("utf-16-le"))
    with pytest.raises(DataError, match=r"train\.txt:1: text has a NUL character .*UTF-16"):
        read_examples(path)


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)
    return 1000


GIANT = 3_000_000  # bytes: a few MB, far past the patched limit


@pytest.mark.parametrize(
    "name, before, giant, after",
    [
        ("big.txt", b"i feel great;joy\n", b"x" * GIANT + b";joy\r\n", b"i am sad;sadness\n"),
        ("big.csv", b"text,label\ni feel great,joy\n", b"x" * GIANT + b",joy\n", b"i am sad,sadness\n"),
        (
            "big.jsonl",
            b'{"text": "i feel great", "label": "joy"}\n',
            b'{"text": "' + b"x" * GIANT + b'", "label": "joy"}\n',
            b'{"text": "i am sad", "label": "sadness"}',
        ),
    ],
)
def test_an_overlong_record_is_a_line_problem_and_never_held_in_memory(
    tmp_path, small_limit, name, before, giant, after
):
    path = write(tmp_path, name, before + giant + after)
    giant_line = before.count(b"\n") + 1
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert str(info.value) == f"{path}:{giant_line}: record longer than 1000 bytes"

    tracemalloc.start()
    try:
        examples = read_examples(path, skip_invalid=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert examples.texts == ["i feel great", "i am sad"] and examples.lines == [giant_line - 1, giant_line + 1]
    assert examples.skipped == 1
    assert peak < GIANT // 10, f"peak {peak} bytes: the over-long line was read into memory"
    # The discarded bytes still count, so a progress bar reaches the end of the file.
    with open(path, "rb") as handle:
        assert [r.offset for r in read_records(handle, path.suffix)][-1] == path.stat().st_size


def test_the_limit_is_on_the_text_of_a_line_not_its_line_end(tmp_path, small_limit):
    fits = b"x" * 995 + b";joy"  # 999 bytes
    data = fits + b"\n" + b"y" + fits + b"\r\n" + b"z" * 997 + b";joy\n" + b"w" * 997 + b";joy"
    got = [(r.line, r.problem) for r in read_records(io.BytesIO(data), ".txt")]
    too_long = "record longer than 1000 bytes"
    assert got == [(1, ""), (2, ""), (3, too_long), (4, too_long)]


def test_a_csv_row_spanning_lines_is_bounded_too(tmp_path, small_limit):
    # An unclosed quote makes the rest of the file one field: stop at the limit, not at the end of the file.
    data = b"text,label\nok,joy\n" + b'"open quote\n' + b"x" * 500 + b"\n" * 10_000 + b"never,joy\n"
    path = write(tmp_path, "open.csv", data)
    with open(path, "rb") as handle:
        got = [(r.line, r.problem) for r in read_records(handle, ".csv")]
    assert got[0] == (2, "") and got[-1][1] == "record longer than 1000 bytes" and len(got) == 2
    assert got[-1][0] < 600


def test_a_long_csv_field_within_the_limit_is_read(tmp_path):
    # The csv module's own field limit (131,072 characters) is lifted to the documented record limit.
    path = write(tmp_path, "long.csv", b"text,label\n" + b"x" * 200_000 + b",joy\nok,joy\n")
    assert [len(t) for t in read_examples(path).texts] == [200_000, 2]
