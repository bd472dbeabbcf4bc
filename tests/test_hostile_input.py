"""Property-based tests: arbitrary bytes and arguments never produce a traceback -- either valid data
and options, or one `path:line: reason` / option error."""

import contextlib
import io
import json
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emodraw.cli import build_parser, train_config_from_args
from emodraw.config import OPTION_NAMES, TrainConfig
from emodraw.data.records import read_records, text_problem
from emodraw.data.splits import read_examples
from emodraw.errors import ConfigError, DataError, EmodrawError
from emodraw.inference import streaming

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Lines that look like data, broken data and noise, joined with assorted line ends.
line = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda text, label: f"{text};{label}".encode("utf-8", "surrogatepass"),
        st.text(max_size=20),
        st.sampled_from(["joy", "sadness", "", " ", "fear;", "x"]),
    ),
    st.builds(
        lambda text, label: f'{{"text": {text}, "label": {label}}}'.encode(),
        st.sampled_from(['"hi"', '""', "3", "null", '["a"]', '"a\\u0000b"']),
        st.sampled_from(['"joy"', "1", "null", '"', "{}"]),
    ),
    st.sampled_from([b"text,label", b'"a, b",joy', b'"unclosed,joy', b"\xef\xbb\xbf", b"\x00\x00", b"a\rb;joy"]),
)
file_bytes = st.lists(line, max_size=12).flatmap(
    lambda lines: st.sampled_from([b"\n", b"\r\n"]).map(lambda end: end.join(lines))
)


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".jsonl"])
@SETTINGS
@given(data=file_bytes, skip=st.booleans())
def test_readers_give_data_or_a_path_line_error(tmp_path, suffix, data, skip):
    path = tmp_path / f"train{suffix}"
    path.write_bytes(data)
    try:
        examples = read_examples(path, skip_invalid=skip)
    except DataError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message
        assert exc.line is None or 1 <= exc.line <= data.count(b"\n") + 1
        return
    assert len(examples.texts) == len(examples.labels) == len(examples.lines) > 0
    assert all(text.strip() and label.strip() for text, label in zip(examples.texts, examples.labels))
    assert examples.lines == sorted(examples.lines)


option = st.sampled_from(
    ["--" + n.replace("_", "-") for n in OPTION_NAMES]
    + ["--learnig-rate", "--lr", "--epoch", "--config", "--no-plots", "--plots", "-x", "--"]
)
value = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1",
            "3",
            "0.5",
            "1e-5",
            "nan",
            "inf",
            "abc",
            "",
            "cpu",
            "sqrt",
            "10",
            "fp8",
            "default",
            "7",
            "1.5",
            "none",
        ]
    ),
    st.text(max_size=8),
)
argv = st.lists(st.one_of(option, value), max_size=8)


@SETTINGS
@given(args=argv)
def test_option_parser_gives_a_config_or_one_clear_error(args, tmp_path):
    parser = build_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parsed = parser.parse_args(["train", *args])
        config = train_config_from_args(parsed)
    except SystemExit as exc:  # exit 2 with exactly one "error:" line
        if exc.code == 0:  # -h / --help
            assert {"-h", "--help"} & set(args)
            return
        assert exc.code == 2
        lines = stderr.getvalue().strip().splitlines()
        assert len(lines) == 1 and re.match(r"emodraw( train)?: error: ", lines[0]), lines
        return
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(config, TrainConfig) and config.epochs >= 1 and 0 < config.portion <= 1


# Any code point at all, lone surrogates (U+D800-U+DFFF) and NUL included; the ones that break things are
# drawn often, as a uniform draw would almost never pick one of the 2,048 surrogates.
any_char = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\x00", "\ufeff", "\r", "\n", ";", ",", '"', " ", "\u2028", "\x85"]),
)
any_text = st.text(alphabet=any_char, max_size=20)


def encodings_of(texts: list[str], labels: list[str]) -> dict[str, tuple[str, bytes]]:
    """name -> (suffix, the texts written as that format would carry them). A surrogate reaches a .txt or
    .csv only as the bytes `surrogatepass` gives it (not UTF-8), a .jsonl as a JSON escape (valid UTF-8) or
    as those bytes."""

    def raw(s: str) -> bytes:
        return s.encode("utf-8", "surrogatepass")

    rows = list(zip(texts, labels))
    quoted = (raw('"' + t.replace('"', '""') + '"') for t, _ in rows)
    return {
        "txt": (".txt", b"\n".join(raw(f"{t};{y}") for t, y in rows)),
        "csv": (".csv", b"text,label\n" + b"\n".join(q + raw(f",{y}") for q, (_, y) in zip(quoted, rows))),
        "jsonl escaped": (".jsonl", b"\n".join(json.dumps({"text": t, "label": y}).encode() for t, y in rows)),
        "jsonl raw": (
            ".jsonl",
            b"\n".join(raw(json.dumps({"text": t, "label": y}, ensure_ascii=False)) for t, y in rows),
        ),
    }


def clean(text: str) -> bool:
    """What the reader promises of every text it returns: UTF-8 encodable, and no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text and text_problem(text) is None


class StrictClassifier:
    """Refuses, as the tokenizer does, any text that cannot be encoded as UTF-8."""

    labels = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    multi_label = False

    def details(self, texts, batch_size=64, **scoring):
        for text in texts:
            text.encode("utf-8")  # where the tokenizer raises TypeError
            assert clean(text), text
        return [{"label": "joy", "scores": {n: 1 / 6 for n in self.labels}, "truncated": False} for _ in texts]


def assert_one_line_error(exc: EmodrawError) -> None:
    assert "\n" not in str(exc) and str(exc)


@pytest.mark.parametrize("name", ["txt", "csv", "jsonl escaped", "jsonl raw"])
@SETTINGS
@given(texts=st.lists(any_text, min_size=1, max_size=6), labels=st.lists(st.sampled_from(["joy", "fear", "\ud800"])))
def test_any_unicode_reads_as_checked_records_or_one_error(tmp_path, name, texts, labels):
    labels = (labels * len(texts))[: len(texts)] or ["joy"] * len(texts)
    suffix, data = encodings_of(texts, labels)[name]
    path = tmp_path / f"train{suffix}"
    path.write_bytes(data)
    for labelled in (True, False):
        for record in read_records(io.BytesIO(data), suffix, labelled=labelled):
            assert record.problem or (clean(record.text) and record.text.strip())
            assert record.problem or record.label is None or clean(record.label)
    for skip in (False, True):
        try:
            examples = read_examples(path, skip_invalid=skip)
        except DataError as exc:
            assert_one_line_error(exc)
            continue
        assert all(clean(t) for t in examples.texts + examples.labels)


def predict_quietly(capsys, **source) -> None:
    try:
        streaming.predict_stream(StrictClassifier(), **source)
    except EmodrawError as exc:
        assert_one_line_error(exc)
    capsys.readouterr()


@SETTINGS
@given(
    texts=st.lists(any_text, min_size=1, max_size=6),
    data=file_bytes,
    suffix=st.sampled_from([".txt", ".csv", ".jsonl"]),
)
def test_predict_takes_any_text_or_bytes_without_a_traceback(tmp_path, monkeypatch, capsys, texts, data, suffix):
    monkeypatch.setattr(streaming, "CHUNK", 2)
    predict_quietly(capsys, texts=texts)
    for fmt, encoded in [*encodings_of(texts, ["joy"] * len(texts)).values(), (suffix, data)]:
        path = tmp_path / f"in{fmt}"
        path.write_bytes(encoded)
        predict_quietly(capsys, file=str(path))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    predict_quietly(capsys)
