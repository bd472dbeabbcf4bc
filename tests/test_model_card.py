"""The README.md model card of a checkpoint is a Hub model card: its YAML metadata parses back with
huggingface_hub (base model, license, datasets, validation metrics as a model-index, tags) over the body."""

import copy
import json

import numpy as np
import pytest
from huggingface_hub import ModelCard

from emodraw.checkpoints import write_metadata
from emodraw.config import EMBEDDED_MODEL
from emodraw.model_card import model_card

# emodraw.json's validation keys -> (model-index metric type, its `average` argument)
METRIC_KEYS = {
    ("accuracy", None): "accuracy",
    ("f1", "macro"): "f1_macro",
    ("f1", "weighted"): "f1_weighted",
    ("f1", "micro"): "f1_micro",
    ("loss", None): "avg_loss",
}
DATA_OPTIONS = ("data_dir", "train_file", "val_file", "test_file", "dataset")


@pytest.fixture
def meta(tiny_run):
    return json.loads((tiny_run.checkpoints["best"] / "emodraw.json").read_text())


def parse(text, tmp_path):
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    return ModelCard.load(path)


def reported(card):
    """{emodraw.json validation key: value} of the card's model-index."""
    found = {}
    for result in card.data.eval_results or []:
        assert result.task_type == "text-classification" and result.dataset_split == "validation"
        average = (result.metric_args or {}).get("average")
        found[METRIC_KEYS[result.metric_type, average]] = result.metric_value
    return found


def embedded(meta, **config):
    """The tiny run's metadata as the default job would record it: the embedded model on the bundled data."""
    meta = copy.deepcopy(meta)
    meta["config"].update({"model": EMBEDDED_MODEL, **dict.fromkeys(DATA_OPTIONS), **config})
    return meta


def test_the_card_of_a_checkpoint_parses_back_with_its_metadata(tiny_run, tiny_albert, meta, tmp_path):
    card = ModelCard.load(tiny_run.checkpoints["best"] / "README.md")
    data = card.data.to_dict()
    assert data["pipeline_tag"] == "text-classification" and data["library_name"] == "transformers"
    assert {"emodraw", "emotion", "text-classification"} <= set(data["tags"])
    assert "multi-label-classification" not in data["tags"]
    assert set(data["metrics"]) == {"accuracy", "f1"}
    assert reported(card) == meta["validation"]  # the very figures of emodraw.json, every one of them
    assert card.data.model_name == meta["name"]
    # trained from a local folder on the user's own files: no Hub base model or dataset to name, and no local path
    assert "base_model" not in data and "datasets" not in data and "license" not in data
    assert {r.dataset_type for r in card.data.eval_results} == {"custom"}
    assert str(tiny_albert) not in card.content and "`tiny-albert`" in card.text
    for i, name in enumerate(meta["label_names"]):
        assert f"{i} {name}" in card.text
    assert "from emodraw import Classifier" in card.text and "educational and research use only" in card.text
    cfg = meta["config"]
    assert f"{cfg['epochs']} epochs, batch size {cfg['batch_size']}, learning rate {cfg['learning_rate']}" in card.text
    assert f"seed {cfg['seed']}, max length {cfg['max_length']}" in card.text


@pytest.mark.parametrize("name", [EMBEDDED_MODEL, "all-MiniLM-L6-v2", "embedded"])
def test_the_embedded_default_names_its_hub_model_license_and_the_carer_data(meta, tmp_path, name):
    card = parse(model_card(embedded(meta, model=name), "emodraw.json"), tmp_path)
    data = card.data.to_dict()
    assert data["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["license"] == "apache-2.0"
    assert data["datasets"] == ["dair-ai/emotion"] and data["language"] == "en"
    assert {(r.dataset_type, r.dataset_config) for r in card.data.eval_results} == {("dair-ai/emotion", "split")}
    assert reported(card) == meta["validation"]


def test_a_hub_model_and_a_hub_dataset_are_named_as_given(meta, tmp_path):
    card = parse(
        model_card(embedded(meta, model="someone/unknown-bert", dataset="someone/tweets"), "x.json"), tmp_path
    )
    data = card.data.to_dict()
    assert data["base_model"] == "someone/unknown-bert" and "license" not in data  # a license is never guessed
    assert data["datasets"] == ["someone/tweets"]


def test_an_adapted_backbone_names_the_model_it_was_adapted_from(meta, tmp_path):
    folder = tmp_path / "adapted"
    folder.mkdir()
    (folder / "adapt.json").write_text(json.dumps({"adapted_from": "albert-base-v2"}))
    data = parse(model_card(embedded(meta, model=str(folder)), "emodraw.json"), tmp_path).data.to_dict()
    assert data["base_model"] == "albert-base-v2" and data["license"] == "apache-2.0"


def test_multi_label_models_are_tagged_and_report_micro_f1(meta, tmp_path):
    meta = embedded(meta, multi_label=True)
    meta["validation"]["f1_micro"] = 0.625
    card = parse(model_card(meta, "emodraw.json"), tmp_path)
    assert "multi-label-classification" in card.data.tags
    assert reported(card) == meta["validation"] and reported(card)["f1_micro"] == 0.625
    assert "multi-label emotion classifier" in card.text


def test_validation_that_was_trained_on_is_no_evaluation(meta, tmp_path):
    card = parse(model_card(embedded(meta, train_on_val=True), "emodraw.json"), tmp_path)
    assert not card.data.eval_results and "model-index" not in card.data.to_dict()
    assert "not held out" in card.text and f"{meta['validation']['accuracy']:.4f}" in card.text


@pytest.mark.parametrize(
    "partial",
    [
        {"config": {}},
        {"config": {"model": 5, "portion": "all"}, "validation": {"accuracy": float("nan"), "f1_macro": "?"}},
        {"config": None, "label_names": "not a list", "validation": []},
        {"name": "np", "config": {"model": "embedded"}, "validation": {"accuracy": np.float32(0.5)}},
    ],
)
def test_older_or_partial_metadata_still_gets_a_card_that_parses(partial, tmp_path):
    write_metadata(tmp_path, partial)  # what a checkpoint's writing calls: it must not raise
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.pipeline_tag == "text-classification"
    assert "educational and research use only" in card.text
    for result in card.data.eval_results or []:
        assert isinstance(result.metric_value, float)  # a numpy float is written as a plain number


def test_a_card_that_cannot_be_built_falls_back_to_a_plain_one(meta, tmp_path, monkeypatch):
    import emodraw.model_card as cards

    def broken(meta):
        raise RuntimeError("boom")

    monkeypatch.setattr(cards, "card_data", broken)
    card = parse(model_card(meta, "emodraw.json"), tmp_path)
    assert card.data.library_name == "transformers" and "emodraw.json" in card.text
    assert "educational and research use only" in card.text


def test_the_card_knows_every_name_of_the_embedded_model():
    from emodraw.model_card import EMBEDDED_NAMES
    from emodraw.modeling.backbones import EMBEDDED_ALIASES

    assert EMBEDDED_NAMES == EMBEDDED_ALIASES


def test_the_card_knows_every_name_of_the_large_offline_backbone():
    from emodraw.config import LARGE_MODEL, LARGE_MODEL_NAMES
    from emodraw.model_card import base_model
    from emodraw.modeling.offline_packages import ALIASES, HUB_ID

    assert LARGE_MODEL_NAMES == ALIASES and LARGE_MODEL == HUB_ID
    assert {base_model(name) for name in ALIASES} == {HUB_ID}
