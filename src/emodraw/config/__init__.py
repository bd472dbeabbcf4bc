"""Every command's options as typed dataclasses, plus the experiment presets and YAML loading.

- options:  how an option is declared (`option(default, help, ...)`) and checked; shared choices
- train:    TrainConfig, one training run's options (`emodraw train` and the Python API)
- sources:  a TrainConfig from defaults -> preset -> YAML file -> flags (resolve_config)
- data_options: the data-reading options train, evaluate, predict and check-data share (columns, labels)
- inference: the options of the commands that load a trained model (evaluate, predict, export, serve)
- commands: the other commands' options (TrainCommand, AdaptConfig, CompareConfig, ...)
"""

from emodraw.config.commands import (
    AdaptConfig,
    AverageConfig,
    CheckDataConfig,
    CompareConfig,
    PushConfig,
    ReportConfig,
    TrainCommand,
)
from emodraw.config.inference import EvaluateConfig, ExportConfig, PredictConfig, ServeConfig
from emodraw.config.options import (
    DEVICES,
    EMBEDDED_MODEL,
    LARGE_MODEL,
    LARGE_MODEL_NAMES,
    PRECISIONS,
    field_kind,
    option,
    suggest,
)
from emodraw.config.sources import available_presets, check_keys, load_preset, load_yaml, resolve_config
from emodraw.config.train import (
    ATTENTION_BACKENDS,
    BIAS_GRADS,
    CLASS_WEIGHTS,
    LAYERNORM_GRADS,
    OPTION_NAMES,
    POOLINGS,
    REPORTERS,
    RESIDUAL_STREAMS,
    SELECT_BY,
    TrainConfig,
)
from emodraw.errors import ConfigError

__all__ = [
    "ATTENTION_BACKENDS",
    "BIAS_GRADS",
    "CLASS_WEIGHTS",
    "DEVICES",
    "EMBEDDED_MODEL",
    "LARGE_MODEL",
    "LARGE_MODEL_NAMES",
    "LAYERNORM_GRADS",
    "OPTION_NAMES",
    "POOLINGS",
    "PRECISIONS",
    "REPORTERS",
    "RESIDUAL_STREAMS",
    "SELECT_BY",
    "AdaptConfig",
    "AverageConfig",
    "CheckDataConfig",
    "CompareConfig",
    "ConfigError",
    "EvaluateConfig",
    "ExportConfig",
    "PredictConfig",
    "PushConfig",
    "ReportConfig",
    "ServeConfig",
    "TrainCommand",
    "TrainConfig",
    "available_presets",
    "check_keys",
    "field_kind",
    "load_preset",
    "load_yaml",
    "option",
    "resolve_config",
    "suggest",
]
