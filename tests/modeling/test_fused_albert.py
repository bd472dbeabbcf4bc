"""The fused ALBERT encoder forward must compute what the stock forward computes: same logits, same
gradient for every parameter, same checkpoint keys; and it must step aside where it does not apply."""

import copy

import pytest
import torch


def _models(dropout: float = 0.0, layers: int = 4, hidden_act: str = "gelu_new", **options):
    from transformers import AlbertConfig, AlbertForSequenceClassification

    from emodraw.modeling import fused_albert
    from emodraw.modeling.speedups import fuse_activations

    torch.manual_seed(0)
    config = AlbertConfig(
        vocab_size=120,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=64,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        classifier_dropout_prob=0.0,
        num_labels=6,
        hidden_act=hidden_act,
    )
    stock = fuse_activations(AlbertForSequenceClassification(config))
    fused = copy.deepcopy(stock)
    assert fused_albert.install(fused, **options) == 1
    return stock, fused


def _batch():
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 120, (4, 8), generator=generator)
    mask = torch.ones(4, 8, dtype=torch.long)
    mask[1, 5:] = 0
    mask[2, 2:] = 0  # padding of different lengths: the mask must reach every layer
    return ids, mask, torch.tensor([0, 3, 5, 1])


def _logits_and_grads(model, ids, mask, labels, bf16=False):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, attention_mask=mask).logits
    torch.nn.functional.cross_entropy(logits.float(), labels).backward()
    return logits.detach().float(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


GRADIENT_OPTIONS = [
    {},
    {"layernorm_grads": "deferred"},
    {"bias_grads": "gemv"},
    {"layernorm_grads": "deferred", "bias_grads": "gemv"},
]


@pytest.mark.parametrize(
    "options", GRADIENT_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
@pytest.mark.parametrize("hidden_act", ["gelu_new", "gelu", "relu"])  # GELUs: the fused feed-forward; relu: generic
def test_same_logits_and_gradients_as_the_stock_forward_in_float32(hidden_act, options):
    stock, fused = _models(hidden_act=hidden_act, **options)
    batch = _batch()
    logits, grads = _logits_and_grads(stock, *batch)
    fused_logits, fused_grads = _logits_and_grads(fused, *batch)
    torch.testing.assert_close(fused_logits, logits, rtol=1e-5, atol=1e-6)
    assert fused_grads.keys() == grads.keys() and len(grads) == sum(1 for _ in stock.parameters())
    for name, grad in grads.items():
        # relative to the largest entry; the key bias has a zero gradient in exact arithmetic (softmax
        # does not see it), so it is compared in absolute terms
        scale = max(grad.abs().max().item(), 1e-3)
        torch.testing.assert_close(fused_grads[name], grad, rtol=0, atol=1e-5 * scale, msg=name)
    encoder = fused.albert.encoder
    assert all(not slot.inputs and not slot.grads for slot in encoder._slots.values())  # nothing kept
    assert all(slot.inputs is None and slot.grads is None for slot in encoder._norm_slots.values())


def test_deferred_layernorm_gradients_really_are_deferred(monkeypatch):
    """With layernorm_grads=deferred the per-use LayerNorm backward computes no weight gradients: one call
    per norm over all uses does (and the gradients still match, test above)."""
    _, fused = _models(layernorm_grads="deferred")
    calls = []
    real = torch.ops.aten.native_layer_norm_backward

    class Spy:
        def __call__(self, *args):
            calls.append((tuple(args[-1]), args[1].dim()))
            return real(*args)

    from emodraw.modeling import fused_albert

    monkeypatch.setattr(fused_albert.torch.ops.aten, "native_layer_norm_backward", Spy())
    _logits_and_grads(fused, *_batch())
    per_use = [c for c in calls if c[0] == (True, False, False)]
    at_the_end = [c for c in calls if c[0] == (False, True, True)]
    assert len(per_use) == 2 * 4 and all(dim == 3 for _, dim in per_use)  # two norms x four uses, (B, L, size)
    assert len(at_the_end) == 2 and all(dim == 4 for _, dim in at_the_end)  # one per norm, (uses, B, L, size)


@pytest.mark.parametrize("options", GRADIENT_OPTIONS[::3], ids=["default", "deferred-norms,gemv"])
def test_bf16_autocast_matches_up_to_rounding(options):
    stock, fused = _models(**options)
    batch = _batch()
    logits, grads = _logits_and_grads(stock, *batch, bf16=True)
    fused_logits, fused_grads = _logits_and_grads(fused, *batch, bf16=True)
    torch.testing.assert_close(fused_logits, logits, rtol=0.02, atol=0.02)
    name = "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"
    for name in (
        name,
        "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.weight",
        "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.LayerNorm.bias",
        "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.bias",
    ):
        cosine = torch.nn.functional.cosine_similarity(fused_grads[name].flatten(), grads[name].flatten(), dim=0)
        assert cosine > 0.999, name


def test_the_fused_path_is_the_one_that_runs_and_checkpoints_are_unchanged(monkeypatch):
    from transformers.models.albert import modeling_albert

    stock, fused = _models()
    calls = []
    monkeypatch.setattr(modeling_albert.AlbertLayer, "forward", lambda *a, **k: calls.append(1) or None)
    ids, mask, _ = _batch()
    fused(input_ids=ids, attention_mask=mask)
    assert calls == []  # the stock layer was not used
    assert fused.state_dict().keys() == stock.state_dict().keys()


def test_dropout_in_training_falls_back_to_the_stock_forward():
    stock, fused = _models(dropout=0.1)
    ids, mask, _ = _batch()
    fused.eval()
    stock.eval()
    with torch.no_grad():  # evaluation: dropout is off, the fused path applies and agrees
        torch.testing.assert_close(
            fused(input_ids=ids, attention_mask=mask).logits,
            stock(input_ids=ids, attention_mask=mask).logits,
            rtol=1e-5,
            atol=1e-6,
        )
    fused.train()
    torch.manual_seed(3)
    a = fused(input_ids=ids, attention_mask=mask).logits
    stock.train()
    torch.manual_seed(3)
    b = stock(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(a, b)  # same dropout draws: the stock path ran


@pytest.mark.parametrize(
    "options", [{}, {"layernorm_grads": "deferred", "bias_grads": "gemv"}], ids=["default", "deferred"]
)
@pytest.mark.parametrize("freeze", [False, True])
def test_training_steps_follow_the_stock_model(freeze, options):
    from emodraw.training.optim import make_optimizer, parameter_groups
    from emodraw.training.steps import EagerStep

    ids, mask, labels = _batch()
    losses = []
    for model in _models(**options):
        if freeze:
            model.get_input_embeddings().weight.requires_grad_(False)
        optimizer = make_optimizer(parameter_groups(model, 1e-2, 0.01), torch.device("cpu"), False)
        step = EagerStep(
            model, optimizer, device=torch.device("cpu"), bf16=False, max_grad_norm=1.0, label_smoothing=0.1
        )
        losses.append([float(step({"input_ids": ids, "attention_mask": mask}, labels, 4)) for _ in range(5)])
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[0][-1] < losses[0][0]


def test_the_math_attention_backend_computes_the_same_function():
    stock, fused = _models(attention="math")
    batch = _batch()
    logits, _ = _logits_and_grads(stock, *batch)
    torch.testing.assert_close(_logits_and_grads(fused, *batch)[0], logits, rtol=1e-5, atol=1e-6)


def test_a_bf16_residual_stream_is_bf16_and_stays_close_to_autocast():
    stock, fused = _models(residual="bf16")
    ids, mask, labels = _batch()
    seen = []
    fused.albert.pooler.register_forward_hook(lambda module, args, out: seen.append(args[0].dtype))
    logits, grads = _logits_and_grads(stock, ids, mask, labels, bf16=True)
    fused_logits, fused_grads = _logits_and_grads(fused, ids, mask, labels, bf16=True)
    assert seen == [torch.bfloat16]  # the encoder's output: the residual stream really was bf16
    torch.testing.assert_close(fused_logits, logits, rtol=0.05, atol=0.05)
    for name in (
        "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight",
        "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.weight",
    ):
        cosine = torch.nn.functional.cosine_similarity(fused_grads[name].flatten(), grads[name].flatten(), dim=0)
        assert cosine > 0.99, name
    # in float32 (no autocast) the option changes nothing
    float_logits, _ = _logits_and_grads(stock, ids, mask, labels)
    torch.testing.assert_close(_logits_and_grads(fused, ids, mask, labels)[0], float_logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option", ["residual", "attention", "layernorm_grads", "bias_grads"])
def test_unknown_options_are_refused(option):
    with pytest.raises(ValueError, match=option):
        _models(**{option: "fp8"})


def test_compile_layers_finds_each_encoder_layer_once():
    """speedups.compile_layers marks the repeated blocks (compiled lazily, on their first call): ALBERT's
    one shared layer, and each of BERT's layers."""
    from transformers import BertConfig, BertForSequenceClassification

    from emodraw.modeling.speedups import compile_layers

    albert, _ = _models(layers=3)
    bert = BertForSequenceClassification(
        BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32)
    )
    assert compile_layers(albert) == 1 and compile_layers(bert) == 3


def test_install_leaves_other_encoders_alone():
    from transformers import BertConfig, BertForSequenceClassification

    from emodraw.modeling import fused_albert

    bert = BertForSequenceClassification(
        BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    )
    assert fused_albert.install(bert) == 0
