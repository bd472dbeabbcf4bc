"""Property-based tests: arbitrary bytes and arguments never produce a traceback -- either valid data
and options, or one `path:line: reason` / option error."""

import contextlib
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emodraw.cli import build_parser, train_config_from_args
from emodraw.config import OPTION_NAMES, TrainConfig
from emodraw.data.splits import read_examples
from emodraw.errors import ConfigError, DataError

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
