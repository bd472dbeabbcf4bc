"""`emodraw train --dataset NAME_OR_PATH` (emodraw.data.hub_datasets): a Hugging Face `datasets` dataset built
in the test -- a save_to_disk DatasetDict with a ClassLabel (or a List(ClassLabel)) label, a folder of parquet
or csv files -- trained on through the command line, validated as files are, recorded in run.json and the
checkpoints, and reloaded by `emodraw evaluate --split`. Nothing touches the network."""

from __future__ import annotations

import contextlib
import io
import json
import random

import pytest
from helpers.keyword_data import keyword_sentence, multi_label_sentence
from helpers.runs import best_checkpoint, labels_of

from emodraw.cli import main
from emodraw.data import EMOTIONS
from emodraw.data.columns import Columns
from emodraw.data.hub_datasets import load_dataset_splits
from emodraw.errors import DataError

datasets = pytest.importorskip("datasets")

# Neither alphabetical nor the CARER order, so the label map can only have come from the ClassLabel.
NAMES = ["fear", "joy", "sadness", "anger", "love", "surprise"]
FAST = ["--epochs", 1, "--batch-size", 16, "--learning-rate", 3e-3, "--no-freeze-embeddings", "--warmup-ratio", 0]
FAST += ["--precision", "fp32", "--eval-batch-size", 64, "--no-plots", "--no-save-state", "--device", "cpu"]


@pytest.fixture(autouse=True, scope="module")
def datasets_cache(tmp_path_factory):
    """datasets.load_dataset converts a folder of data files into its cache: a temporary one, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets-cache")))
        yield


def cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def error_line(err: str) -> str:
    """The one line an error is, checked to be the last and without a traceback (datasets' progress bars aside)."""
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def rows(n: int, seed: int) -> dict[str, list]:
    """Keyword sentences (helpers.keyword_data) with their ClassLabel ids, the labels in turn."""
    rng = random.Random(seed)
    labels = [NAMES[i % len(NAMES)] for i in range(n)]
    return {"sentence": [keyword_sentence(rng, y) for y in labels], "label": [NAMES.index(y) for y in labels]}


def features():
    return datasets.Features({"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=NAMES)})


def dataset_dict(sizes: dict[str, int], seed: int = 0):
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(rows(n, seed + i), features=features())
            for i, (split, n) in enumerate(sizes.items())
        }
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A save_to_disk folder: train (with one empty text, row 7), dev and test splits, a `sentence` column."""
    data = dataset_dict({"train": 300, "dev": 60, "test": 60})
    train = data["train"].to_dict()
    train["sentence"][7] = "   "
    data["train"] = datasets.Dataset.from_dict(train, features=features())
    folder = tmp_path_factory.mktemp("datasets") / "keywords"
    data.save_to_disk(str(folder))
    return folder


@pytest.fixture(scope="module")
def saved_run(saved, tiny_albert, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "dataset-run"
    args = ["train", "--dataset", saved, "--text-column", "sentence", "--skip-invalid", "--output-dir", run]
    code, _, err = cli(*args, "--model", tiny_albert, *FAST)
    assert code == 0, err
    return run, err


def test_a_bad_row_stops_the_run_naming_the_dataset_split_and_row(saved, tiny_albert, tmp_path):
    args = ["train", "--dataset", saved, "--text-column", "sentence", "--output-dir", tmp_path / "run"]
    code, _, err = cli(*args, "--model", tiny_albert, *FAST)
    assert code == 2
    assert error_line(err) == f"emodraw train: error: {saved}[train]:7: missing or empty text"


def test_a_saved_dataset_trains_under_its_classlabel_names(saved_run, saved):
    run, err = saved_run
    assert f"{saved}[train]: skipped 1 invalid line(s)" in err  # --skip-invalid: skipped and counted
    checkpoint = best_checkpoint(run)
    assert labels_of(checkpoint) == NAMES  # the ClassLabel's names, in its id order
    assert "the labels are numbers" not in err


def test_run_json_and_the_checkpoint_record_the_dataset_and_its_splits(saved_run, saved):
    run, _ = saved_run
    loaded = datasets.load_from_disk(str(saved))
    recorded = json.loads((run / "run.json").read_text())["data"]
    assert set(recorded) == {"train", "val", "test"}
    assert recorded["val"]["split"] == "dev"  # `dev` is the validation split
    for split, own in (("train", "train"), ("val", "dev"), ("test", "test")):
        entry = recorded[split]
        assert entry["dataset"] == str(saved) and entry["path"] == str(saved.resolve())
        assert entry["rows"] == loaded[own].num_rows and entry["fingerprint"] == loaded[own]._fingerprint
        assert len(entry["sha256"]) == 64
    meta = json.loads((best_checkpoint(run) / "emodraw.json").read_text())
    assert meta["data"] == recorded


def test_evaluate_reloads_the_recorded_split_and_refuses_changed_data(saved_run, saved):
    run, _ = saved_run
    checkpoint = best_checkpoint(run)
    code, out, err = cli("evaluate", checkpoint, "--split", "test", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["data"] == f"{saved}[test]" and metrics["n"] == 60
    assert set(metrics["per_class"]) == set(NAMES)
    extra = saved / "extra.txt"
    extra.write_text("changed\n", encoding="utf-8")
    try:
        code, _, err = cli("evaluate", checkpoint, "--split", "test")
    finally:
        extra.unlink()
    assert code == 2
    assert "changed since training" in error_line(err) and "--data" in error_line(err)


def test_a_multi_label_dataset_trains_from_its_list_of_classlabel(tiny_albert, tmp_path):
    rng = random.Random(1)
    labelled = datasets.Features(
        {"text": datasets.Value("string"), "emotions": datasets.Sequence(datasets.ClassLabel(names=NAMES))}
    )

    def split(n):
        ids = [sorted({i % 6, (i + 2) % 6}) if i % 3 == 0 else [i % 6] for i in range(n)]
        texts = [multi_label_sentence(rng, [NAMES[j] for j in row]) for row in ids]
        return datasets.Dataset.from_dict({"text": texts, "emotions": ids}, features=labelled)

    folder = tmp_path / "multi"
    datasets.DatasetDict({"train": split(240), "validation": split(60)}).save_to_disk(str(folder))
    args = ["train", "--dataset", folder, "--label-column", "emotions", "--model", tiny_albert, *FAST]
    code, _, err = cli(*args, "--output-dir", tmp_path / "refused")  # without --multi-label: one line saying so
    assert code == 2 and "give --multi-label" in error_line(err) and f"{folder}[train]" in error_line(err)
    code, _, err = cli(*args, "--multi-label", "--output-dir", tmp_path / "run")
    assert code == 0, err
    checkpoint = best_checkpoint(tmp_path / "run")
    assert labels_of(checkpoint) == NAMES
    assert json.loads((checkpoint / "config.json").read_text())["problem_type"] == "multi_label_classification"


def test_a_folder_of_parquet_files_trains(tiny_albert, tmp_path):
    folder = tmp_path / "parquet"
    (folder / "data").mkdir(parents=True)
    for split, dataset in dataset_dict({"train": 240, "validation": 60}).items():
        dataset.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    run = tmp_path / "run"
    code, _, err = cli(
        "train", "--dataset", folder, "--text-column", "sentence", "--output-dir", run, "--model", tiny_albert, *FAST
    )
    assert code == 0, err
    assert labels_of(best_checkpoint(run)) == NAMES  # the parquet files keep the ClassLabel
    recorded = json.loads((run / "run.json").read_text())["data"]
    assert recorded["val"]["split"] == "validation" and recorded["train"]["rows"] == 240
    # no test split: evaluate says so in one line (never scores the bundled test file instead)
    code, _, err = cli("evaluate", best_checkpoint(run), "--split", "test")
    assert code == 2
    assert error_line(err).startswith(f"emodraw evaluate: error: {folder}: ") and "(no test split)" in err
    code, out, err = cli("evaluate", best_checkpoint(run), "--split", "val", "--json")
    assert code == 0 and json.loads(out)["data"] == f"{folder}[validation]", err


def test_a_folder_of_csv_files_reads_its_string_labels(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    for split, n in (("train", 30), ("val", 12)):
        data = rows(n, seed=len(split))
        lines = ["text,label"] + [f"{text},{NAMES[y]}" for text, y in zip(data["sentence"], data["label"])]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    splits = load_dataset_splits(str(folder))
    assert splits.label_names == list(EMOTIONS)  # plain strings: the training labels, as files give them
    assert (len(splits.train), len(splits.val), splits.test) == (30, 12, None)
    assert splits.files["val"].split == "validation"  # datasets' own discovery maps val.csv


def test_val_and_dev_name_the_validation_split_and_label_names_rename_ids(tmp_path):
    folder = tmp_path / "val"
    dataset_dict({"train": 30, "val": 12}).save_to_disk(str(folder))
    named = load_dataset_splits(str(folder), columns=Columns.of(0, 1))  # columns by position
    assert named.label_names == NAMES and named.val.path == f"{folder}[val]"
    renamed = load_dataset_splits(str(folder), columns=Columns.of("sentence"), label_names="a,b,c,d,e,f")
    assert renamed.label_names == list("abcdef")
    assert renamed.train.labels[:6] == list("abcdef")  # ClassLabel ids, named by --label-names


@pytest.mark.parametrize(
    "sizes, reason",
    [
        ({"train": 12, "test": 12}, "no validation split (it has train, test)"),
        ({"validation": 12}, "no train split (it has validation)"),
    ],
)
def test_a_dataset_without_train_or_validation_is_one_error(tmp_path, sizes, reason):
    folder = tmp_path / "partial"
    dataset_dict(sizes).save_to_disk(str(folder))
    with pytest.raises(DataError) as caught:
        load_dataset_splits(str(folder), columns=Columns.of("sentence"))
    assert str(caught.value).startswith(f"{folder}: {reason}")


def test_a_label_outside_the_training_labels_is_its_rows_problem(tmp_path):
    folder = tmp_path / "strings"
    text = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("string")})
    train = datasets.Dataset.from_dict({"text": ["so good", "so bad"], "label": ["pos", "neg"]}, features=text)
    val = datasets.Dataset.from_dict({"text": ["ok", "hmm"], "label": ["pos", "meh"]}, features=text)
    datasets.DatasetDict({"train": train, "dev": val}).save_to_disk(str(folder))
    with pytest.raises(DataError) as caught:
        load_dataset_splits(str(folder))
    assert str(caught.value).startswith(f"{folder}[dev]:1: unknown label 'meh' (the training labels are neg, pos)")


def test_a_missing_dataset_is_one_line_without_a_traceback(tmp_path, tiny_albert):
    missing = tmp_path / "nowhere"
    code, _, err = cli("train", "--dataset", missing, "--model", tiny_albert, "--output-dir", tmp_path / "r", *FAST)
    assert code == 2
    assert error_line(err) == f"emodraw train: error: {missing}: dataset folder not found"
    args = ["train", "--dataset", "nobody/no-such-dataset", "--output-dir", tmp_path / "r2"]
    code, _, err = cli(*args, "--model", tiny_albert, *FAST)
    assert code == 2
    line = error_line(err)
    assert line.startswith("emodraw train: error: nobody/no-such-dataset: no such folder here") and "offline" in line


def test_a_hub_datasets_record_names_it_without_a_path_and_passes_the_checkpoint_check(tmp_path):
    from emodraw.checkpoint_integrity import checked_metadata
    from emodraw.data.hub_datasets import DatasetSplit
    from emodraw.errors import CheckpointError
    from emodraw.training.run_data import describe_data

    data = describe_data({"train": DatasetSplit("someone/tweets", "train", 10, "0123abcd"), "test": None})
    assert data == {"train": {"dataset": "someone/tweets", "split": "train", "rows": 10, "fingerprint": "0123abcd"}}
    assert checked_metadata({"data": data}, tmp_path)["data"] == data
    with pytest.raises(CheckpointError, match="data.train must record"):
        checked_metadata({"data": {"train": {"dataset": "someone/tweets"}}}, tmp_path)  # which split?
