#!/usr/bin/env python
"""Issue 6, round 5b: would a mean-pooling head beat the [CLS] pooler? A validation-only study.

all-MiniLM-L6-v2 was trained to give sentence embeddings as the masked mean of its last hidden states;
the transformers classification head instead reads the [CLS] position through the pooler's dense + tanh.
This trains the `offline-full` preset with the head reading the masked mean (the pooler's dense + tanh
bypassed; then the usual dropout and linear classifier) and writes an ordinary run folder whose per-epoch
validation figures `studies/sweeps/best_validation.py` compares with the preset's.

It patches transformers' AutoModelForSequenceClassification inside this process only, so every model
the run builds or reloads here -- the one it trains and the checkpoints its end-of-run table scores --
reads the masked mean; the checkpoint files keep the standard layout, and anything outside this process
that loads them reads [CLS] (wrongly: the head was trained on the mean). Round 5 ran it on a data folder
without a test file for the validation A/B, then on the bundled data for the finals.

    python studies/pooling_and_trainval/mean_pooling_study.py --data-dir VAL_ONLY --seed 0 \
        --output-dir runs/meanpool-seed0                                              # the A/B
    python studies/pooling_and_trainval/mean_pooling_study.py --seed 1 \
        --output-dir runs/meanpool-final-seed1                                        # a final
"""

from __future__ import annotations

import argparse
import types

import torch


def use_mean_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """Make `model`'s pooler return the attention-masked mean of the last hidden states."""
    encoder = model.base_model
    pooler = encoder.pooler
    if pooler is None or not hasattr(pooler, "dense"):  # BERT's pooler; ALBERT's is a bare Linear, called otherwise
        raise SystemExit(f"{type(model).__name__}: not a BERT-style pooler to replace")

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="data folder (default: the bundled emotion data, test included)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--experiment", default="offline-full")
    p.add_argument("--epochs", type=int, help="override the preset's (for a smoke test)")
    args = p.parse_args()
    extra = {"epochs": args.epochs} if args.epochs else {}

    from transformers import AutoModelForSequenceClassification

    from emodraw import train

    # Every model this process builds or reloads -- the one it trains and the checkpoints the end-of-run
    # table scores -- reads the masked mean.
    for name in ("from_pretrained", "from_config"):
        stock = getattr(AutoModelForSequenceClassification, name)
        setattr(
            AutoModelForSequenceClassification,
            name,
            staticmethod(lambda *a, _stock=stock, **k: use_mean_pooling(_stock(*a, **k))),
        )
    train(
        experiment=args.experiment,
        seed=args.seed,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        plots=False,
        save_state=False,
        progress=False,
        **extra,
    )


if __name__ == "__main__":
    main()
