"""`emodraw adapt`: masked-LM adaptation of a backbone on in-domain sentences, saved as a model folder
that `emodraw train --model` fine-tunes like any other."""

from __future__ import annotations

import json

import pytest
import torch

from emodraw.errors import ConfigError
from emodraw.training.adaptation import AdaptConfig, Masker, _phase_parameters, adapt

# A tiny model learns the masked-LM task visibly in one epoch at this rate.
FAST = dict(epochs=1, batch_size=16, learning_rate=3e-3, precision="fp32", progress=False)


def _weights(folder):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder).state_dict()


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, tiny_bert, small_data):
    out = tmp_path_factory.mktemp("adapt") / "tiny-bert-adapted"
    return adapt(AdaptConfig(model=str(tiny_bert), data_dir=str(small_data), output_dir=str(out), **FAST))


def test_adapted_folder_keeps_the_pooler_and_changes_the_encoder(adapted, tiny_bert):
    before, after = _weights(tiny_bert), _weights(adapted)
    assert before.keys() == after.keys()
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        assert torch.equal(before[key], after[key]), (
            key
        )  # a ...ForMaskedLM has no pooler: it must come from the source
    changed = [k for k in before if k.startswith("encoder.") and not torch.equal(before[k], after[k])]
    assert len(changed) == len([k for k in before if k.startswith("encoder.")])
    assert not torch.equal(before["embeddings.word_embeddings.weight"], after["embeddings.word_embeddings.weight"])


def test_manifest_records_a_head_warmup_then_the_whole_model_and_a_falling_held_out_loss(adapted, small_data):
    manifest = json.loads((adapted / "adapt.json").read_text())
    assert manifest["sentences"] == 300  # the training split only
    assert manifest["held_out_sentences"] == 100  # validation, for the loss report; never trained on
    phases = [row.get("phase") for row in manifest["history"]]
    assert phases == [None, "head", "all"]  # before, the fresh head alone, everything
    losses = [row["held_out_loss"] for row in manifest["history"]]
    assert losses[2] < losses[1] < losses[0]


def test_train_fine_tunes_the_adapted_folder(adapted, small_data, tmp_path):
    from helpers.tiny_data import TINY_OPTIONS

    from emodraw import train

    result = train(
        model=str(adapted),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "run"),
        progress=False,
        **{**TINY_OPTIONS, "epochs": 1, "plots": False},
    )
    assert result.best_checkpoint is not None and (result.best_checkpoint / "model.safetensors").is_file()


def test_head_phase_trains_only_the_head(tiny_bert):
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    trainable = _phase_parameters(model, "head")
    encoder_ids = {id(p) for p in model.base_model.parameters()}
    assert trainable and all(id(p) not in encoder_ids for p in trainable)
    # The decoder shares the word-embedding matrix with the encoder: it stays frozen with it.
    assert not model.get_output_embeddings().weight.requires_grad
    assert len(_phase_parameters(model, "all")) == len(list(model.parameters()))


def test_backbone_with_its_pretraining_head_skips_the_warmup(tmp_path, tiny_bert, small_data):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    with_head = tmp_path / "with-head"
    AutoModelForMaskedLM.from_pretrained(tiny_bert).save_pretrained(with_head)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(with_head)
    out = adapt(AdaptConfig(model=str(with_head), data_dir=str(small_data), output_dir=str(tmp_path / "out"), **FAST))
    phases = [row.get("phase") for row in json.loads((out / "adapt.json").read_text())["history"]]
    assert phases == [None, "all"]


def test_masker_masks_only_real_tokens_at_the_rate(tiny_bert):
    from helpers.tiny_models import training_sentences
    from transformers import AutoTokenizer

    from emodraw.modeling.batching import encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    encoded = encode(tokenizer, training_sentences(400))
    batch = encoded.batch(torch.arange(len(encoded)).numpy())
    torch.manual_seed(0)
    ids, labels = Masker(tokenizer, 0.15)(batch)
    chosen = labels != -100
    special = torch.isin(batch["input_ids"], torch.tensor(tokenizer.all_special_ids)) | (batch["attention_mask"] == 0)
    assert not (chosen & special).any()
    assert torch.equal(labels[chosen], batch["input_ids"][chosen])  # the labels are the original tokens
    rate = chosen.sum().item() / (~special).sum().item()
    assert 0.13 < rate < 0.17
    masked = (ids == tokenizer.mask_token_id) & chosen
    assert 0.75 < masked.sum().item() / chosen.sum().item() < 0.85  # 80 % of the chosen become [MASK]
    assert torch.equal(ids[~chosen], batch["input_ids"][~chosen])


def test_text_files_replace_the_training_split(tmp_path, tiny_bert, small_data):
    text = tmp_path / "sentences.txt"
    text.write_text("i feel great today\n\ni am so scared of the dark\nwhat a lovely surprise\n" * 20)
    out = adapt(
        AdaptConfig(
            model=str(tiny_bert),
            data_dir=str(small_data),
            text_files=(str(text),),
            output_dir=str(tmp_path / "out"),
            **FAST,
        )
    )
    assert json.loads((out / "adapt.json").read_text())["sentences"] == 60


def test_refuses_a_non_empty_output_folder_and_bad_options(tmp_path, tiny_bert):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        adapt(AdaptConfig(model=str(tiny_bert), output_dir=str(tmp_path / "taken")))
    with pytest.raises(ConfigError, match="mask-probability"):
        adapt(AdaptConfig(model=str(tiny_bert), output_dir=str(tmp_path / "new"), mask_probability=1.5))


def test_cli_adapt_help_and_error(tmp_path, tiny_bert, capsys):
    from emodraw.cli import main

    with pytest.raises(SystemExit):
        main(["adapt", "--help"])
    assert "masked-language-model" in capsys.readouterr().out
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "f").write_text("x")
    assert main(["adapt", "--model", str(tiny_bert), "--output-dir", str(tmp_path / "taken")]) != 0
    assert "not empty" in capsys.readouterr().err


# -- `emodraw train --adapt-epochs N` ---------------------------------
def _checkpoint_weights(run):
    from safetensors.torch import load_file

    return load_file(str(run.best_checkpoint / "model.safetensors"))


def test_train_with_adapt_epochs_equals_adapt_then_train(tmp_path, monkeypatch, tiny_bert, small_data):
    """One command gives the very model of the two commands round 6 measured:
    `emodraw adapt` (seed 0, its defaults) then `emodraw train --model ADAPTED`."""
    from helpers.tiny_data import TINY_OPTIONS

    from emodraw import train

    monkeypatch.setenv("EMODRAW_CACHE", str(tmp_path / "cache"))
    options = {**TINY_OPTIONS, "epochs": 1, "plots": False, "seed": 3}
    adapted = adapt(
        AdaptConfig(
            model=str(tiny_bert),
            data_dir=str(small_data),
            epochs=1,
            precision="fp32",
            output_dir=str(tmp_path / "adapted"),
            progress=False,
        )
    )
    two_step = train(
        model=str(adapted), data_dir=str(small_data), output_dir=str(tmp_path / "two-step"), progress=False, **options
    )
    one_step = train(
        model=str(tiny_bert),
        adapt_epochs=1,
        data_dir=str(small_data),
        output_dir=str(tmp_path / "one-step"),
        progress=False,
        **options,
    )
    a, b = _checkpoint_weights(two_step), _checkpoint_weights(one_step)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    report = json.loads((one_step.run_dir / "adapt.json").read_text())
    assert report["sentences"] == 300 and report["options"]["epochs"] == 1 and report["options"]["seed"] == 0
    # checkpoints are named after the backbone the run started from, not the cache folder
    assert "tiny-bert" in one_step.best_checkpoint.name


def test_adapted_backbone_is_cached_across_seeds(tmp_path, monkeypatch, capsys, tiny_bert, small_data):
    from helpers.tiny_data import TINY_OPTIONS

    from emodraw import train

    monkeypatch.setenv("EMODRAW_CACHE", str(tmp_path / "cache"))
    options = {**TINY_OPTIONS, "epochs": 1, "plots": False, "adapt_epochs": 1}
    capsys.readouterr()
    for seed in (1, 2):
        train(
            model=str(tiny_bert),
            data_dir=str(small_data),
            output_dir=str(tmp_path / f"seed{seed}"),
            progress=False,
            seed=seed,
            **options,
        )
    assert len(list((tmp_path / "cache" / "adapted").iterdir())) == 1
    assert capsys.readouterr().err.count("reusing the adapted backbone") == 1
    # another number of adaptation epochs is another backbone
    train(
        model=str(tiny_bert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "more"),
        progress=False,
        **{**options, "adapt_epochs": 2},
    )
    assert len(list((tmp_path / "cache" / "adapted").iterdir())) == 2


def test_a_process_that_cannot_see_the_adapted_backbone_says_so(tmp_path, monkeypatch, tiny_bert, small_data):
    """Several machines, a cache that is not shared: the other machines' processes get the main one's
    path and must stop with a line naming EMODRAW_CACHE, not look the path up on the Hub."""
    from helpers.tiny_data import TINY_OPTIONS

    from emodraw.errors import EmodrawError
    from emodraw.training import task_adaptation, trainer

    cache = tmp_path / "cache"
    monkeypatch.setenv("EMODRAW_CACHE", str(cache))
    # what the other processes receive as the adapted backbone's path: one in a cache they do not share
    monkeypatch.setattr(
        task_adaptation,
        "broadcast_path",
        lambda accelerator, path: tmp_path / "elsewhere" if cache in path.parents else path,
    )
    with pytest.raises(EmodrawError, match="EMODRAW_CACHE"):
        trainer.train(
            model=str(tiny_bert),
            data_dir=str(small_data),
            output_dir=str(tmp_path / "run"),
            progress=False,
            adapt_epochs=1,
            **{**TINY_OPTIONS, "epochs": 1, "plots": False},
        )


def test_adapt_epochs_refuses_random_init():
    from emodraw.config import TrainConfig

    with pytest.raises(ConfigError, match="random-init"):
        TrainConfig(adapt_epochs=2, random_init=True)


@pytest.mark.slow
def test_two_processes_adapt_once_and_train_on_the_adapted_backbone(tmp_path, tiny_bert, small_data):
    """Under several processes only the main one adapts; the others wait for its folder and load it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "EMODRAW_CACHE": str(tmp_path / "cache")}
    args = [
        "--model",
        str(tiny_bert),
        "--data-dir",
        str(small_data),
        "--epochs",
        "1",
        "--adapt-epochs",
        "1",
        "--batch-size",
        "16",
        "--learning-rate",
        "3e-3",
        "--precision",
        "fp32",
        "--no-plots",
        "--no-progress",
    ]
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodraw.cli",
            "train",
            *args,
            "--num-processes",
            "2",
            "--output-dir",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert two.returncode == 0, two.stderr
    assert two.stderr.count("masked-LM training of") == 1  # one adaptation, by the main process
    assert len(list((tmp_path / "cache" / "adapted").iterdir())) == 1
    assert json.loads((tmp_path / "two" / "adapt.json").read_text())["sentences"] == 300
    names = sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir())
    assert names == ["multiclass_default_tiny-bert_best_checkpoint", "multiclass_default_tiny-bert_epoch1_checkpoint"]
