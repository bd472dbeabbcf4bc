"""--text-column, --label-column and --no-header: a column by name or position, in .csv and .tsv headers, in
files without one, and as fields of a .jsonl line; the options refused with one line naming the flag."""

from __future__ import annotations

import io

import pytest
import yaml

from emodraw.config import CheckDataConfig, EvaluateConfig, PredictConfig, TrainConfig, resolve_config
from emodraw.data import Columns, read_examples, read_records
from emodraw.errors import ConfigError, DataError


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def read(data: bytes, fmt: str, **options):
    return [(r.line, r.text, r.label, r.problem) for r in read_records(io.BytesIO(data), fmt, **options)]


def test_a_header_without_text_says_which_columns_it_has_and_the_flag(tmp_path):
    path = write(tmp_path, "train.csv", "sentence,label\ni feel great,joy\n")
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert str(info.value) == (
        f"{path}:1: the CSV header must name a 'text' and a 'label' column "
        "(it has 'sentence', 'label': choose with --text-column)"
    )
    assert read_examples(path, columns=Columns.of("sentence")).texts == ["i feel great"]


def test_columns_by_name_ignore_case_and_by_position_in_a_header():
    data = b"id,Sentence,Emotion\n1,i feel great,joy\n2,so sad,sadness\n"
    by_name = read(data, ".csv", columns=Columns.of("sentence", "EMOTION"))
    by_position = read(data, ".csv", columns=Columns.of("1", 2))
    assert by_name == by_position == [(2, "i feel great", "joy", ""), (3, "so sad", "sadness", "")]
    with pytest.raises(DataError, match=r"x:1: --label-column 5: the file has only 3 column\(s\)"):
        read_examples_of(data, ".csv", columns=Columns.of("1", 5))


def read_examples_of(data: bytes, fmt: str, **options):
    """read_examples's strictness over bytes: the first problem is a DataError naming `x`."""
    for record in read_records(io.BytesIO(data), fmt, source="x", **options):
        if record.problem:
            raise DataError("x", record.line, record.problem)


def test_no_header_reads_the_first_row_as_data_and_columns_by_position():
    data = b"joy,i feel great\nsadness,so sad\n"
    got = read(data, ".csv", columns=Columns.of(1, 0, no_header=True))
    assert got == [(1, "i feel great", "joy", ""), (2, "so sad", "sadness", "")]
    # The default names mean the first two columns of a file without a header.
    assert read(b"i feel great,joy\n", ".csv", columns=Columns.of(no_header=True)) == [(1, "i feel great", "joy", "")]
    short = read(b"a,joy\nonly one\n", ".csv", columns=Columns.of(no_header=True))
    assert short[1] == (2, "", None, "row has 1 column(s); --label-column 1 needs more")


def test_a_name_without_a_header_and_two_options_on_one_column_are_refused():
    named = read(b"a,joy\n", ".csv", columns=Columns.of("sentence", 1, no_header=True))
    why = "without a header (--no-header), name columns by position (0, 1, ...)"
    assert named == [(1, "", None, f"--text-column 'sentence': {why}")]
    same = read(b"text,label\na,joy\n", ".csv", columns=Columns.of("label", "label"))
    assert same == [(1, "", None, "--text-column and --label-column name the same column")]


def test_tsv_is_split_at_tabs_without_quoting():
    data = b'text\tlabel\n"quoted" words, and commas\tjoy\n"an open quote\tsadness\na\rb\tfear\n'
    assert read(data, ".tsv") == [
        (2, '"quoted" words, and commas', "joy", ""),
        (3, '"an open quote', "sadness", ""),
        (4, "a\rb", "fear", ""),
    ]
    assert read(b"x\tjoy\n", ".tsv", columns=Columns.of(no_header=True)) == [(1, "x", "joy", "")]


def test_other_columns_are_kept_by_their_header_names_or_positions():
    data = b"id,text,label,note\n7,hello,joy,a\n8,bye,sadness\n"
    records = list(read_records(io.BytesIO(data), ".csv", labelled=False, keep_others=True))
    assert [r.others for r in records] == [
        {"id": "7", "label": "joy", "note": "a"},
        {"id": "8", "label": "sadness", "note": ""},  # a short row: the missing cell is empty
    ]
    columns = Columns.of(1, no_header=True)
    headless = read_records(io.BytesIO(b"7\thello\tjoy\n"), ".tsv", labelled=False, keep_others=True, columns=columns)
    assert [r.others for r in headless] == [{"0": "7", "2": "joy"}]
    jsonl = b'{"id": 7, "text": "hello", "label": 3, "meta": {"a": 1}}\n'
    (record,) = read_records(io.BytesIO(jsonl), ".jsonl", labelled=False, keep_others=True)
    assert record.others == {"id": 7, "label": 3, "meta": {"a": 1}}
    (plain,) = read_records(io.BytesIO(data[:24]), ".csv", labelled=False)
    assert plain.others is None  # kept only when asked


def test_jsonl_fields_are_named_not_numbered(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"sentence": "i feel great", "emotion": "joy"}\n')
    assert read_examples(path, columns=Columns.of("sentence", "emotion")).labels == ["joy"]
    with pytest.raises(DataError, match=r"a\.jsonl: --text-column 0: a \.jsonl line names its fields; give the name"):
        read_examples(path, columns=Columns.of(0, "emotion"))
    with pytest.raises(DataError, match=r"a\.jsonl:1: missing or non-string 'text'"):
        read_examples(path)


@pytest.mark.parametrize("cls", [TrainConfig, EvaluateConfig, PredictConfig, CheckDataConfig])
def test_every_command_refuses_bad_column_options_in_one_line(cls):
    extra = {"checkpoint": "c"} if cls in (EvaluateConfig, PredictConfig) else {}
    assert cls(text_column=2, no_header=True, **extra).text_column == "2"  # a YAML 2 is the position 2
    cases = [
        ({"text_column": " "}, "--text-column ' ': must name a column"),
        ({"no_header": True, "text_column": "sentence"}, "--text-column 'sentence': --no-header files have no"),
        ({"label_column": 1.5}, "--label-column 1.5: must be a string"),
    ]
    same = {"no_header": True, "text_column": "1"}  # the label's default is position 1 too
    if cls is PredictConfig:  # which reads the text alone
        assert cls(**same, **extra).text_column == "1"
    else:
        cases.append((same, "--text-column '1' and --label-column 'label': the same column"))
    for options, message in cases:
        with pytest.raises(ConfigError) as info:
            cls(**options, **extra)
        assert str(info.value).startswith(message), str(info.value)


def test_a_yaml_config_takes_the_data_options(tmp_path):
    config = tmp_path / "run.yaml"
    options = {"text_column": 1, "label_column": 0, "no_header": True, "label_names": ["neg", "pos"]}
    config.write_text(yaml.safe_dump(options))
    cfg = resolve_config(config)
    assert (cfg.text_column, cfg.label_column, cfg.no_header, cfg.label_names) == ("1", "0", True, "neg,pos")
    assert Columns.from_config(cfg) == Columns("1", "0", header=False)
    assert Columns.from_config({"text_column": "sentence"}) == Columns("sentence", "label")
    assert Columns.from_config({}) == Columns()  # a checkpoint from before these options
