"""A multi-label head starts at each label's training frequency (--prior-bias), not at probability 0.5."""

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from emodraw.config import TrainConfig
from emodraw.errors import ConfigError
from emodraw.modeling.prior_bias import set_prior_bias


def _tiny_classifier(tiny_bert, n_labels: int) -> BertForSequenceClassification:
    return BertForSequenceClassification.from_pretrained(tiny_bert, num_labels=n_labels)


def test_the_untrained_head_predicts_each_labels_training_frequency(tiny_bert):
    targets = np.zeros((200, 3))
    targets[:100, 0] = 1  # 50 %
    targets[:4, 1] = 1  # 2 %; label 2 never occurs
    model = _tiny_classifier(tiny_bert, 3).eval()
    set_prior_bias(model, targets)
    torch.nn.init.zeros_(model.classifier.weight)  # the bias alone decides: the head reads nothing
    probs = torch.sigmoid(model(input_ids=torch.tensor([[1, 2, 3]])).logits)[0].detach().numpy()
    np.testing.assert_allclose(probs[:2], [0.5, 0.02], rtol=1e-4)
    assert 0 < probs[2] < 1e-3  # clipped, not -inf


def test_a_model_with_another_label_count_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="no output layer with 4 outputs"):
        set_prior_bias(_tiny_classifier(tiny_bert, 3), np.zeros((10, 4)))


def test_prior_bias_goes_with_multi_label_only():
    with pytest.raises(ConfigError, match="prior.bias.*multi-label"):
        TrainConfig(prior_bias=True)
    assert TrainConfig(prior_bias=True, multi_label=True).prior_bias


def test_a_multi_label_run_starts_at_its_training_splits_priors(tiny_albert, multi_label_data):
    """What the trainer builds (training.classifier_setup.build_model) from the run's own splits."""
    from emodraw.data.columns import Columns
    from emodraw.data.splits import load_splits
    from emodraw.modeling.backbones import resolve_backbone
    from emodraw.training.classifier_setup import build_model

    splits = load_splits(multi_label_data, multi_label=True, columns=Columns.of(no_header=True))
    frequency = splits.ids(splits.train).mean(0)
    backbone, cpu = resolve_backbone(str(tiny_albert)), torch.device("cpu")
    model = build_model(backbone, 800, splits, TrainConfig(multi_label=True, prior_bias=True), cpu)
    np.testing.assert_allclose(torch.sigmoid(model.classifier.bias).detach().numpy(), frequency, rtol=1e-5)
    plain = build_model(backbone, 800, splits, TrainConfig(multi_label=True), cpu)
    assert not np.allclose(torch.sigmoid(plain.classifier.bias).detach().numpy(), frequency, rtol=1e-2)
