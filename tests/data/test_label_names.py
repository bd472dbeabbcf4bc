"""Integer labels: `--label-names FILE` or `a,b,c` make them ids (a JSON 3 and a CSV "3" alike), an id out of
range is a `path:line` problem, and without names they keep their digits, in numeric order, with a hint."""

from __future__ import annotations

import pytest

from emodraw.data import EMOTIONS, label_names_for, load_splits, read_examples, read_label_names
from emodraw.data.label_names import hint
from emodraw.errors import ConfigError, DataError


def write(folder, name: str, text: str):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_names_come_from_a_file_a_comma_list_or_a_list(tmp_path):
    path = write(tmp_path, "labels.txt", "\ufeffsadness\njoy \r\nlove\n\n")  # a BOM, CRLF, a final blank line
    assert read_label_names(path) == read_label_names(str(path)) == ["sadness", "joy", "love"]
    assert read_label_names("sadness, joy,love") == read_label_names(["sadness", "joy", "love"])
    assert read_label_names(None) is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("neg\n\npos\n", r"labels\.txt:2: label name is empty"),
        ("neg\npos\nneg\n", r"labels\.txt:3: label name 'neg' is given twice \(ids 0 and 2\)"),
        ("neg\n1\n", r"labels\.txt:2: label name '1' is a number"),
    ],
)
def test_a_bad_names_file_is_a_path_line_error(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        read_label_names(write(tmp_path, "labels.txt", content))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("a,,b", r"--label-names 'a,,b': name 2 is empty"),
        ("no-such-file.txt", r"--label-names 'no-such-file.txt': no such file; give a file with one name per line"),
        (["only"], r"--label-names: needs at least 2 names, got 1"),
    ],
)
def test_bad_names_on_the_command_line_are_one_line(spec, message):
    with pytest.raises(ConfigError, match=message):
        read_label_names(spec)


def test_integer_labels_are_ids_in_json_and_csv_alike(tmp_path):
    names = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    jsonl = write(tmp_path, "a.jsonl", '{"text": "i feel great", "label": 1}\n{"text": "grr", "label": "3"}\n')
    csv = write(tmp_path, "a.csv", "text,label\ni feel great,1\ngrr, 3 \n")
    assert read_examples(jsonl, label_names=names).labels == read_examples(csv, label_names=names).labels
    assert read_examples(csv, label_names=names).labels == ["joy", "anger"]
    mixed = write(tmp_path, "mixed.txt", "i feel great;joy\ngrr;3\n")  # a name given as itself stays that name
    assert read_examples(mixed, label_names=names).labels == ["joy", "anger"]


def test_an_id_out_of_range_or_an_unknown_name_is_its_lines_problem(tmp_path):
    path = write(
        tmp_path, "a.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": 6}\n{"text": "c", "label": -1}\n'
    )
    with pytest.raises(DataError) as info:
        read_examples(path, label_names="neg,pos")
    assert str(info.value) == f"{path}:2: label id 6 out of range: --label-names gives ids 0-1"
    examples = read_examples(path, label_names="neg,pos", skip_invalid=True)
    assert (examples.labels, examples.skipped) == (["neg"], 2)
    named = write(tmp_path, "b.txt", "a;neutral\n")
    with pytest.raises(
        DataError, match=r"b\.txt:1: unknown label 'neutral' \(the --label-names are neg, pos, ids 0-1\)"
    ):
        read_examples(named, label_names="neg,pos")


def test_a_json_label_must_be_a_string_or_a_whole_number(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "a", "label": 3}\n{"text": "b", "label": 1.5}\n{"text": "c"}\n')
    examples = read_examples(path, skip_invalid=True)
    assert (examples.labels, examples.skipped) == (["3"], 2)
    with pytest.raises(DataError, match=r"a\.jsonl:2: 'label' is float: a label is a string, or a whole number"):
        read_examples(path)


def test_unnamed_integer_labels_keep_their_digits_in_numeric_order_with_a_hint():
    labels = [str(i) for i in range(12)]
    assert label_names_for(labels) == labels  # 10 and 11 after 9, so each id is its number
    assert label_names_for(["joy", "fear"]) == list(EMOTIONS)  # the emotions keep their conventional ids
    line = hint(["0", "1", "2"], given=False)
    assert line.startswith("the labels are numbers (0, 1, 2)") and "--label-names" in line
    assert "\n" not in line
    assert hint(["0", "1"], given=True) is None and hint(["neg", "pos"], given=False) is None


def test_names_fix_the_label_map_of_every_split(tmp_path):
    write(tmp_path, "train.csv", "text,label\ni feel great,1\nso sad,0\n")
    write(tmp_path, "val.jsonl", '{"text": "grr", "label": 2}\n')
    splits = load_splits(tmp_path, label_names="sadness,joy,anger")
    assert splits.label_names == ["sadness", "joy", "anger"]  # in id order, anger too though train lacks it
    assert (splits.train.labels, splits.val.labels, splits.hint) == (["joy", "sadness"], ["anger"], None)
    with pytest.raises(DataError, match=r"val\.jsonl:1: unknown label '2' \(the training labels are 0, 1\)"):
        load_splits(tmp_path)  # without names, 2 is a label of its own, which training lacks
    write(tmp_path, "val.jsonl", '{"text": "grr", "label": 1}\n')
    unnamed = load_splits(tmp_path)
    assert unnamed.label_names == ["0", "1"] and unnamed.hint.startswith("the labels are numbers")


def test_an_integer_label_unknown_to_named_training_labels_suggests_names(tmp_path):
    path = write(tmp_path, "test.tsv", "text\tlabel\ngrr\t3\n")
    with pytest.raises(
        DataError, match=r"test\.tsv:2: unknown label '3' .*; to read integer labels as ids, give --label-names"
    ):
        read_examples(path, labels=EMOTIONS)
