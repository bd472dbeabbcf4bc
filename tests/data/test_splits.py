from collections import Counter
from pathlib import Path

import pytest

from emodraw.data.splits import (
    EMOTIONS,
    bundled_data_dir,
    label_names_for,
    load_splits,
    read_examples,
    resolve_data_files,
    stratified_portion,
)
from emodraw.errors import DataError


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_txt_splits_on_the_last_semicolon(tmp_path):
    path = write(tmp_path, "a.txt", "i feel great; really;joy\ni am sad;sadness\n")
    ex = read_examples(path)
    assert ex.texts == ["i feel great; really", "i am sad"]
    assert ex.labels == ["joy", "sadness"]
    assert ex.lines == [1, 2]


def test_bom_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbfi feel great;joy\r\ni am sad;sadness\r\n")
    ex = read_examples(path)
    assert ex.texts == ["i feel great", "i am sad"]
    assert ex.labels == ["joy", "sadness"]


@pytest.mark.parametrize(
    "content, line, reason",
    [
        ("ok;joy\n" * 50 + "no label here\n", 51, "no label"),
        ("ok;joy\n   ;sadness\n", 2, "empty text"),
        ("ok;joy\ntext;\n", 2, "empty label"),
        (b"ok;joy\nbad \xff\xfe bytes;joy\n", 2, "invalid UTF-8"),
    ],
)
def test_malformed_txt_names_file_and_line(tmp_path, content, line, reason):
    path = write(tmp_path, "train.txt", content)
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert reason in str(info.value)


def test_skip_invalid_skips_and_counts(tmp_path):
    path = write(tmp_path, "train.txt", b"a;joy\nno label\n ;joy\n\xff;joy\nb;sadness\n")
    ex = read_examples(path, skip_invalid=True)
    assert ex.texts == ["a", "b"]
    assert ex.skipped == 3


def test_unknown_label_in_closed_set_is_an_error(tmp_path):
    path = write(tmp_path, "val.txt", "a;joy\nb;happiness\n")
    with pytest.raises(DataError, match=r"val\.txt:2: unknown label 'happiness'"):
        read_examples(path, labels=EMOTIONS)
    assert read_examples(path, labels=EMOTIONS, skip_invalid=True).labels == ["joy"]


def test_csv_reader(tmp_path):
    path = write(tmp_path, "a.csv", 'id,label,text\n1,joy,"i feel great, really"\n2,sadness,"multi\nline"\n')
    ex = read_examples(path)
    assert ex.texts == ["i feel great, really", "multi\nline"]
    assert ex.labels == ["joy", "sadness"]


def test_csv_without_columns_is_an_error(tmp_path):
    path = write(tmp_path, "a.csv", "sentence,emotion\nx,joy\n")
    with pytest.raises(DataError, match=r"a\.csv:1: .*'text' and a 'label'"):
        read_examples(path)


def test_jsonl_reader_and_errors(tmp_path):
    good = write(tmp_path, "a.jsonl", '{"text": "i feel great", "label": "joy"}\n\n{"label": "fear", "text": "eek"}\n')
    assert read_examples(good).labels == ["joy", "fear"]
    bad = write(tmp_path, "b.jsonl", '{"text": "ok", "label": "joy"}\n{"text": 3, "label": "joy"}\n')
    with pytest.raises(DataError, match=r"b\.jsonl:2: .*'text'"):
        read_examples(bad)
    broken = write(tmp_path, "c.jsonl", '{"text": "ok", "label": "joy"}\n{not json\n')
    with pytest.raises(DataError, match=r"c\.jsonl:2: not valid JSON"):
        read_examples(broken)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="unknown format"):
        read_examples(write(tmp_path, "a.xlsx", "x"))
    with pytest.raises(DataError, match="file not found"):
        read_examples(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="no valid examples"):
        read_examples(write(tmp_path, "empty.txt", "\n\n"))


def test_label_map_keeps_conventional_ids_and_sorts_others():
    assert label_names_for(["joy", "fear"]) == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    assert label_names_for(["pos", "neg", "neutral", "neg"]) == ["neg", "neutral", "pos"]


def test_stratified_portion_of_the_bundled_train_set():
    labels = read_examples(bundled_data_dir() / "train.txt").labels
    chosen = stratified_portion(labels, 0.1, seed=1)
    assert len(chosen) == 1600
    full, part = Counter(labels), Counter(labels[i] for i in chosen)
    for name in EMOTIONS:
        assert abs(part[name] - full[name] * 0.1) < 1, name
    assert chosen == stratified_portion(labels, 0.1, seed=1)
    assert chosen != stratified_portion(labels, 0.1, seed=2)


def test_stratified_portion_keeps_rare_classes():
    labels = ["a"] * 98 + ["b"] * 2
    chosen = stratified_portion(labels, 0.1, seed=0)
    assert {labels[i] for i in chosen} == {"a", "b"}


def test_bundled_data_is_the_published_split():
    splits = load_splits()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16000, 2000, 2000)
    assert splits.label_names == list(EMOTIONS)
    assert Counter(splits.train.labels)["surprise"] == 572


def test_data_dir_resolution(tmp_path):
    write(tmp_path, "train.jsonl", '{"text": "a", "label": "joy"}\n')
    write(tmp_path, "validation.csv", "text,label\nb,joy\n")
    files = resolve_data_files(tmp_path)
    assert files["train"].name == "train.jsonl" and files["val"].name == "validation.csv" and files["test"] is None
    (tmp_path / "validation.csv").unlink()
    with pytest.raises(DataError, match="no val file"):
        resolve_data_files(tmp_path)


def test_a_bundled_split_borrowed_by_named_files_says_so_when_it_does_not_fit(tmp_path):
    # Named files without --data-dir take the splits they lack from the bundled CARER data; with other
    # labels the validation split cannot be read, and the error must say why it was read and which flag
    # replaces it.
    train = write(tmp_path, "train.csv", "text,label\ngood day,positive\nbad day,negative\n")
    with pytest.raises(DataError) as caught:
        load_splits(train_file=train)
    assert Path(caught.value.path) == bundled_data_dir() / "val.txt" and caught.value.line is not None
    assert "unknown label" in str(caught.value)
    assert str(caught.value).endswith(
        "; this is the bundled CARER val split, read because no --val-file was given: pass --val-file"
    )
    # the user's own file gets no such note
    with pytest.raises(
        DataError, match=r"v2.csv:2: unknown label 'neutral' \(the training labels are negative, positive\)$"
    ):
        load_splits(train_file=train, val_file=write(tmp_path, "v2.csv", "text,label\nmeh,neutral\n"))


def test_named_files_borrow_the_bundled_test_split_only_with_its_labels(tmp_path):
    # CARER-labelled files are tested on CARER's test split; files with other labels have no test split (as a
    # --data-dir without a test file), instead of failing on a file the user never named.
    carer = write(tmp_path, "carer.txt", "i feel happy;joy\ni feel sad;sadness\n")
    splits = load_splits(train_file=carer)
    assert Path(splits.val.path) == bundled_data_dir() / "val.txt"
    assert Path(splits.test.path) == bundled_data_dir() / "test.txt" and len(splits.test.texts) == 2000
    train = write(tmp_path, "train.csv", "text,label\ngood day,positive\nbad day,negative\n")
    val = write(tmp_path, "val.csv", "text,label\nfine day,positive\n")
    splits = load_splits(train_file=train, val_file=val)
    assert splits.test is None and splits.files["test"] is None and splits.label_names == ["negative", "positive"]
    # integer labels named as CARER's six borrow it too; a test file of one's own is always read
    ids = write(tmp_path, "ids.csv", "text,label\ni feel happy,1\ni feel sad,0\n")
    assert load_splits(train_file=ids, label_names=list(EMOTIONS)).test is not None
    test = write(tmp_path, "test.csv", "text,label\nawful day,negative\n")
    assert load_splits(train_file=train, val_file=val, test_file=test).test.texts == ["awful day"]
