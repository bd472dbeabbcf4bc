"""Scores from logits: softmax, sigmoid or the logits themselves, and which one a model gets by default."""

import types

import numpy as np
import pytest

from emodraw.inference.classifier import Classifier

LOGITS = np.array([[2.0, 0.0, -1.0]], dtype=np.float32)


def classifier(problem_type=None, on_model=True) -> Classifier:
    config = types.SimpleNamespace(problem_type=problem_type if on_model else None)
    clf = Classifier(types.SimpleNamespace(config=config), None, ["a", "b", "c"])
    if not on_model:  # an ONNX export: the problem type read from its config.json
        clf.problem_type = problem_type
    return clf


def test_each_function_and_auto_by_the_models_problem_type():
    single, multi = classifier(), classifier("multi_label_classification")
    softmax = np.exp(LOGITS) / np.exp(LOGITS).sum()
    sigmoid = 1 / (1 + np.exp(-LOGITS))
    assert single.activate(LOGITS) == pytest.approx(softmax) and single.activate(LOGITS, "sigmoid") == pytest.approx(
        sigmoid
    )
    assert multi.activate(LOGITS) == pytest.approx(sigmoid) and multi.activate(LOGITS, "softmax") == pytest.approx(
        softmax
    )
    assert single.activate(LOGITS, "none") == pytest.approx(LOGITS)
    with pytest.raises(ValueError, match="unknown function"):
        single.activate(LOGITS, "relu")


@pytest.mark.parametrize("on_model", [True, False])
def test_multi_label_is_read_from_the_model_or_its_exports_config(on_model):
    assert classifier("multi_label_classification", on_model).multi_label
    assert (
        not classifier("single_label_classification", on_model).multi_label
        and not classifier(None, on_model).multi_label
    )
