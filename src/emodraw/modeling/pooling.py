"""`--pooling mean`: a classification head on the attention-masked mean of the last hidden states.

transformers' BERT classifier reads the [CLS] position through the pooler's dense + tanh. Sentence-
transformers models such as the embedded all-MiniLM-L6-v2 were trained to mean their tokens instead,
so their [CLS] vector is not what pretraining shaped; on the emotion data the mean head scored higher
(docs/RESULTS.md, round 5).

A mean-pooled checkpoint says so in its config.json: its `model_type` is `emodraw-mean-pooled-bert`,
a BERT config under another name, with the pooler's weights left out. Importing this module registers
that type with transformers' Auto classes (emodraw's loaders import it), so `from_pretrained` builds
the mean-pooled model; plain transformers without emodraw refuses the unknown type instead of silently
reading [CLS] with a head trained on the mean.
"""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from emodraw.errors import ConfigError

MEAN_POOLED_TYPE = "emodraw-mean-pooled-bert"


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(B, L, H) -> (B, H): the mean over the positions the mask keeps (all of them without a mask)."""
    if attention_mask is None:
        return hidden.mean(1)
    weights = attention_mask[..., None].to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


class MeanPooledBertConfig(BertConfig):
    model_type = MEAN_POOLED_TYPE


class MeanPooledBertForSequenceClassification(BertForSequenceClassification):
    """BertForSequenceClassification whose head reads the masked mean; the encoder has no pooler."""

    config_class = MeanPooledBertConfig

    def __init__(self, config):
        super().__init__(config)
        self.bert.pooler = None

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        **kwargs,
    ):
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        logits = self.classifier(self.dropout(masked_mean(outputs.last_hidden_state, attention_mask)))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


def to_mean_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """Turn a freshly loaded BertForSequenceClassification into the mean-pooled model, in place.

    The weights, the new head's initialisation and everything else stay as loaded; only the class (and
    the config's, so checkpoints record the type) changes and the pooler goes.
    """
    if type(model) is not BertForSequenceClassification:
        raise ConfigError(
            f"--pooling mean: made for BERT-architecture models (the embedded all-MiniLM-L6-v2, "
            f"bert-base-*); this model is a {type(model).__name__}, which keeps its own head"
        )
    model.config.__class__ = MeanPooledBertConfig
    model.__class__ = MeanPooledBertForSequenceClassification
    model.bert.pooler = None
    return model


def register() -> None:
    """Make the Auto classes build the mean-pooled model for its config.json (idempotent)."""
    try:
        AutoConfig.register(MEAN_POOLED_TYPE, MeanPooledBertConfig)
        AutoModelForSequenceClassification.register(MeanPooledBertConfig, MeanPooledBertForSequenceClassification)
    except ValueError:  # already registered in this process
        pass


register()
