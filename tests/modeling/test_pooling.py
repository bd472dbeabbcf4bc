"""--pooling mean: the head reads the attention-masked mean of the tokens; checkpoints record it, load
back with it (PyTorch and ONNX), and plain transformers refuses them rather than reading [CLS]."""

import json
import subprocess
import sys
import types

import pytest
import torch
from helpers.tiny_data import TINY_OPTIONS

from emodraw import Classifier, train
from emodraw.errors import EmodrawError
from emodraw.modeling.backbones import load_classifier, resolve_backbone
from emodraw.modeling.pooling import MEAN_POOLED_TYPE

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
OPTIONS = {**TINY_OPTIONS, "plots": False, "save_state": False}


@pytest.fixture(scope="module")
def mean_run(tiny_bert, small_data, tmp_path_factory):
    return train(
        model=str(tiny_bert),
        data_dir=str(small_data),
        output_dir=str(tmp_path_factory.mktemp("mean") / "run"),
        progress=False,
        pooling="mean",
        **OPTIONS,
    )


def test_the_head_reads_the_masked_mean_and_the_pooler_is_gone(tiny_bert):
    torch.manual_seed(0)
    model = load_classifier(resolve_backbone(str(tiny_bert)), LABELS, pooling="mean").eval()
    assert model.bert.pooler is None and not any("pooler" in k for k in model.state_dict())
    seen = []
    model.classifier.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    ids = torch.randint(1000, 2000, (2, 6))
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1] * 6])
    model(input_ids=ids, attention_mask=mask)
    hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(seen[0], torch.stack([hidden[0, :3].mean(0), hidden[1].mean(0)]))


def study_patch(model: torch.nn.Module) -> torch.nn.Module:
    """The round-5 study's patch (studies/pooling_and_trainval/mean_pooling_study.py, copied here: tests import
    no study script): a stock BERT classifier whose pooler returns the attention-masked mean of the last
    hidden states instead of dense + tanh on [CLS]."""
    encoder, pooler = model.base_model, model.base_model.pooler

    def remember_mask(_module, args, kwargs):  # the pooler itself is only handed the hidden states
        pooler.mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)

    def masked_mean(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            return hidden_states.mean(1)
        weights = self.mask[..., None].to(hidden_states.dtype)
        return (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1)

    encoder.register_forward_pre_hook(remember_mask, with_kwargs=True)
    pooler.forward = types.MethodType(masked_mean, pooler)
    return model


def patched(loaded):
    """study_patch on what a loader returned: a model, or (model, loading info) with output_loading_info."""
    if isinstance(loaded, tuple):
        return (study_patch(loaded[0]), *loaded[1:])
    return study_patch(loaded)


def test_same_run_as_the_round_5_study_patch(tiny_bert, small_data, tmp_path, monkeypatch):
    """The round-5 figures came from the study's patch of the stock model, applied in process to every model
    transformers builds; `--pooling mean` must train exactly the same way, so they are this option's figures."""
    from transformers import AutoModelForSequenceClassification as Auto

    recipe = {**OPTIONS, "layer_lr_decay": 0.85, "class_weights": "sqrt", "precision": "bf16"}  # as offline-full
    runs = {}
    for name in ("cls", "mean", "study"):
        if name == "study":  # as the study script did: every model loaded in this process reads the mean
            for loader in ("from_pretrained", "from_config"):
                stock = getattr(Auto, loader)
                monkeypatch.setattr(Auto, loader, staticmethod(lambda *a, _stock=stock, **k: patched(_stock(*a, **k))))
        runs[name] = train(
            model=str(tiny_bert),
            data_dir=str(small_data),
            output_dir=str(tmp_path / name),
            progress=False,
            pooling="mean" if name == "mean" else "cls",
            **recipe,
        ).history
    losses = {name: [r["train_loss"] for r in history] for name, history in runs.items()}
    assert losses["study"] == losses["mean"]
    assert [r["val_loss"] for r in runs["study"]] == [r["val_loss"] for r in runs["mean"]]
    assert losses["cls"] != losses["mean"]  # it is another head


def test_checkpoints_record_the_head_and_reload_with_it(mean_run, small_data):
    folder = mean_run.checkpoints["best"]
    assert json.loads((folder / "config.json").read_text())["model_type"] == MEAN_POOLED_TYPE
    assert "import emodraw.modeling.pooling" in (folder / "README.md").read_text()
    clf = Classifier.load(folder, device="cpu", precision="fp32")
    # the reloaded model scores validation exactly as the run did at that epoch (a [CLS] reading would not)
    from emodraw.data.splits import read_examples

    val = read_examples(small_data / "val.txt")
    logits = torch.from_numpy(clf.logits(val.texts))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([clf.labels.index(y) for y in val.labels]))
    kept = json.loads((folder / "emodraw.json").read_text())["epoch"]
    assert float(loss) == pytest.approx(mean_run.history[kept - 1]["val_loss"], abs=1e-5)


def test_plain_transformers_refuses_a_mean_pooled_checkpoint(mean_run):
    code = (
        "from transformers import AutoModelForSequenceClassification as A; "
        f"A.from_pretrained({str(mean_run.checkpoints['best'])!r})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and MEAN_POOLED_TYPE in done.stderr
    imported = subprocess.run(
        [sys.executable, "-c", "import emodraw.modeling.pooling; " + code], capture_output=True, text=True, timeout=300
    )
    assert imported.returncode == 0, imported.stderr[-2000:]


def test_onnx_export_keeps_the_mean(mean_run, tmp_path):
    from emodraw.export import export
    from emodraw.inference.classifier import OnnxClassifier

    out = tmp_path / "onnx"
    export(mean_run.checkpoints["best"], out, log=lambda m: None)
    texts = ["i feel wonderful today", "i am so scared of the dark and everything in it", "this made me furious"]
    torch_scores = Classifier.load(mean_run.checkpoints["best"], device="cpu", precision="fp32").logits(texts)
    onnx_scores = OnnxClassifier.load(out).logits(texts)
    assert abs(onnx_scores - torch_scores).max() < 1e-4


def test_mean_pooling_is_refused_for_other_architectures_and_mixed_up_checkpoints(tiny_albert, mean_run):
    with pytest.raises(EmodrawError, match="BERT-architecture"):
        load_classifier(resolve_backbone(str(tiny_albert)), LABELS, pooling="mean")
    with pytest.raises(EmodrawError, match="--pooling mean"):
        load_classifier(resolve_backbone(str(mean_run.checkpoints["best"])), LABELS, pooling="cls")
    assert (
        load_classifier(resolve_backbone(str(mean_run.checkpoints["best"])), LABELS, pooling="mean").bert.pooler
        is None
    )
