import numpy as np
import pytest
import torch

from emodraw.training.optim import class_weights, layer_depth, parameter_groups


def test_class_weights_average_one_over_the_training_sentences():
    labels = [0] * 80 + [1] * 15 + [2] * 5
    for mode in ("balanced", "sqrt"):
        w = class_weights(labels, 3, mode)
        assert w[2] > w[1] > w[0]
        assert float((w * torch.tensor([80.0, 15.0, 5.0])).sum() / 100) == pytest.approx(1.0)
    balanced = class_weights(labels, 3, "balanced")
    assert float(balanced[2] / balanced[0]) == pytest.approx(16.0)
    assert class_weights(labels, 3, "none") is None


def test_layer_depths():
    assert layer_depth("bert.embeddings.word_embeddings.weight", 6) == 0
    assert layer_depth("bert.encoder.layer.0.attention.self.query.weight", 6) == 1
    assert layer_depth("bert.encoder.layer.5.output.dense.weight", 6) == 6
    assert layer_depth("classifier.weight", 6) == 7
    # ALBERT shares one layer across depths: it counts as the top, only its embeddings decay
    assert layer_depth("albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight", 12) == 13


def test_layer_wise_lr_decay_and_no_decay_for_norms(tiny_albert):
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=3,
        )
    )
    groups = parameter_groups(model, lr=1.0, weight_decay=0.1, layer_lr_decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == 1.0
    assert lr_of[id(named["bert.encoder.layer.1.output.dense.weight"])] == 0.5
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == 0.25
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == 0.125
    assert wd_of[id(named["bert.encoder.layer.0.output.LayerNorm.weight"])] == 0.0
    assert wd_of[id(named["bert.encoder.layer.0.output.dense.bias"])] == 0.0
    assert wd_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == 0.1
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_a_step_ignores_stale_gradients(tiny_albert):
    """After a CUDA-graph replay `.grad` still holds the graph's buffers; an eager step must not add to them."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from emodraw.modeling.batching import encode
    from emodraw.training.optim import make_optimizer
    from emodraw.training.steps import EagerStep

    tokenizer = AutoTokenizer.from_pretrained(tiny_albert)
    data = encode(tokenizer, ["i feel good", "i am sad", "so angry", "how scary"], [1, 0, 3, 4])
    inputs = data.batch(np.arange(4))
    labels = inputs.pop("labels")

    def one_step(stale: bool):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(tiny_albert, num_labels=6)
        model.eval()  # no dropout: the two runs must be identical
        optimizer = make_optimizer(parameter_groups(model, 1e-2, 0.0), torch.device("cpu"), graphs=False)
        if stale:
            for p in model.parameters():
                p.grad = torch.full_like(p, 5.0)
        EagerStep(model, optimizer, device=torch.device("cpu"), bf16=False, max_grad_norm=0.0, label_smoothing=0.0)(
            dict(inputs), labels, 4
        )
        return [p.detach().clone() for p in model.parameters()]

    for clean, stale in zip(one_step(False), one_step(True)):
        assert torch.equal(clean, stale)


def _rdrop_updates(tiny_albert, alpha: float, dropout: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from emodraw.modeling.batching import encode
    from emodraw.training.optim import make_optimizer
    from emodraw.training.steps import EagerStep

    tokenizer = AutoTokenizer.from_pretrained(tiny_albert)
    data = encode(tokenizer, ["i feel good", "i am sad", "so angry", "how scary"], [1, 0, 3, 4])
    inputs = data.batch(np.arange(4))
    labels = inputs.pop("labels")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_albert, num_labels=6, classifier_dropout_prob=0.5)
    model.train(dropout)
    optimizer = make_optimizer(parameter_groups(model, 1e-2, 0.0), torch.device("cpu"), graphs=False)
    step = EagerStep(
        model,
        optimizer,
        device=torch.device("cpu"),
        bf16=False,
        max_grad_norm=0.0,
        label_smoothing=0.0,
        rdrop_alpha=alpha,
    )
    torch.manual_seed(1)
    loss = float(step(dict(inputs), labels, 4))
    return loss, [p.detach().clone() for p in model.parameters()]


def test_rdrop_adds_the_consistency_term_only_where_dropout_differs(tiny_albert):
    # Without dropout the two passes agree: the KL term is zero and the step is the plain one.
    plain_loss, plain = _rdrop_updates(tiny_albert, 0.0, dropout=False)
    rdrop_loss, rdrop = _rdrop_updates(tiny_albert, 1.0, dropout=False)
    assert rdrop_loss == pytest.approx(plain_loss, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, rdrop))
    # With dropout the two passes differ, and the KL term changes the update of the classifier.
    _, weak = _rdrop_updates(tiny_albert, 1e-9, dropout=True)
    _, strong = _rdrop_updates(tiny_albert, 5.0, dropout=True)
    assert not torch.allclose(weak[-2], strong[-2], atol=1e-6)


def test_weight_average_is_the_bias_corrected_exponential_mean_and_swaps_back():
    from emodraw.training.ema import WeightAverage

    weight = torch.nn.Parameter(torch.zeros(3))
    average = WeightAverage([weight], decay=0.5)
    for value in (1.0, 2.0, 3.0):  # weights after three steps
        with torch.no_grad():
            weight.fill_(value)
        average.update()
        average.updates += 1
    expected = (0.25 * 1 + 0.5 * 2 + 1 * 3) / 1.75  # decay^(n-i) weights, no pull towards the zero start
    with average.applied():
        assert torch.allclose(weight, torch.full((3,), expected))
    assert torch.equal(weight.detach(), torch.full((3,), 3.0))  # the live weights are back
    restored = WeightAverage([torch.nn.Parameter(torch.zeros(3))], decay=0.5)
    restored.load_state_tensors(average.state_tensors())
    assert restored.updates == 3 and torch.allclose(restored.averaged()[0], average.averaged()[0])
