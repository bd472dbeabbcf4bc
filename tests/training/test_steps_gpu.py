"""CUDA-graph training steps must train exactly like eager ones. Needs a GPU; skipped elsewhere."""

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


DEFERRED = {"layernorm_grads": "deferred", "bias_grads": "gemv"}


@pytest.mark.parametrize(
    "fused, distill",
    [(False, False), ({}, False), (DEFERRED, False), (False, True)],
    ids=["stock", "fused", "fused-deferred-grads", "stock-distill"],
)
def test_graphed_steps_match_eager_steps(tiny_albert, fused, distill):
    from helpers.tiny_models import training_sentences
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from emodraw.modeling import fused_albert
    from emodraw.modeling.batching import encode
    from emodraw.training.optim import make_optimizer, parameter_groups
    from emodraw.training.steps import EagerStep, GraphedStep

    device = torch.device("cuda")
    tokenizer = AutoTokenizer.from_pretrained(tiny_albert)
    texts = training_sentences(64)
    data = encode(tokenizer, texts, [i % 6 for i in range(64)]).to(device)
    # full batches of 16 replay graphs; the 8-sentence one runs eagerly between replays
    batches = ([np.arange(i, i + 16) for i in range(0, 48, 16)] + [np.arange(48, 56)]) * 3
    # distillation: each replay must read this batch's teacher distribution, not the captured one's
    teachers = torch.softmax(torch.randn(64, 6, generator=torch.Generator().manual_seed(1)) * 3, -1).to(device)

    def losses(graphs: bool, fused):  # fused: False, or the fused encoder's options
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(tiny_albert, num_labels=6).to(device)
        model.config.classifier_dropout_prob = 0.0
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        if fused is not False:
            assert fused_albert.install(model, **fused) == 1
        opt = make_optimizer(parameter_groups(model, 1e-3, 0.01), device, graphs)
        kw = dict(
            device=device,
            bf16=False,
            max_grad_norm=1.0,
            label_smoothing=0.0,
            distill_alpha=0.5 if distill else 0.0,
            distill_temperature=2.0,
        )
        step = GraphedStep(model, opt, batch_size=16, **kw) if graphs else EagerStep(model, opt, **kw)
        out = []
        for rows in batches:
            inputs = data.batch(rows)
            labels = inputs.pop("labels")
            if distill:
                inputs["soft_targets"] = teachers[torch.from_numpy(rows).to(device)]
            out.append(float(step(inputs, labels, len(rows))))
        if graphs:
            assert step.graphs and not step.disabled
        return out

    eager, graphed = losses(False, False), losses(True, fused)
    assert graphed == pytest.approx(eager, rel=1e-4, abs=1e-5)
