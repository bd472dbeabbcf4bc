"""Compatibility: the mean-pooled head now lives in `emodraw.modeling.pooling`.

Model cards of mean-pooled checkpoints written before the package was split into subpackages tell
users to `import emodraw.pooling` before loading the folder with plain transformers; that import
must keep registering the head. New code and new cards use `import emodraw.modeling.pooling`.
"""

from emodraw.modeling.pooling import (  # importing it registers the type with transformers' Auto classes
    MEAN_POOLED_TYPE,
    MeanPooledBertConfig,
    MeanPooledBertForSequenceClassification,
    masked_mean,
    register,
    to_mean_pooling,
)

__all__ = [
    "MEAN_POOLED_TYPE",
    "MeanPooledBertConfig",
    "MeanPooledBertForSequenceClassification",
    "masked_mean",
    "register",
    "to_mean_pooling",
]
