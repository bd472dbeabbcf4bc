"""The README.md model card written into every checkpoint: Hub metadata (huggingface_hub's ModelCardData: license,
base model, datasets, validation metrics as a model-index, tags) over a markdown body.

It is built from whatever the metadata holds, so an older or partial emodraw.json still gets a card; and a card
can never stop a checkpoint from being written (the last resort is a plain card without the figures)."""

from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path
from typing import Any

from emodraw.config import EMBEDDED_MODEL, LARGE_MODEL, LARGE_MODEL_NAMES

# The names --model accepts for the embedded default (modeling.backbones.EMBEDDED_ALIASES; a test keeps them equal).
EMBEDDED_NAMES = frozenset({EMBEDDED_MODEL, "all-MiniLM-L6-v2", "embedded"})
# The licenses of the base models the docs and presets name, as their Hub cards state them; others stay unset.
KNOWN_LICENSES = {
    EMBEDDED_MODEL: "apache-2.0",
    LARGE_MODEL: "apache-2.0",
    "albert-base-v2": "apache-2.0",
    "albert/albert-base-v2": "apache-2.0",
    "bert-base-uncased": "apache-2.0",
    "google-bert/bert-base-uncased": "apache-2.0",
    "distilbert-base-uncased": "apache-2.0",
    "distilbert/distilbert-base-uncased": "apache-2.0",
}
CARER = "dair-ai/emotion"  # the bundled data: CARER, the "split" configuration of this Hub dataset
CARER_NAMES = frozenset({CARER, "emotion"})
DATA_OPTIONS = ("data_dir", "train_file", "val_file", "test_file", "dataset")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
# emodraw.json's validation keys -> (model-index metric type, name, args)
METRICS = {
    "accuracy": ("accuracy", "Accuracy", None),
    "f1_macro": ("f1", "F1 (macro)", {"average": "macro"}),
    "f1_weighted": ("f1", "F1 (weighted)", {"average": "weighted"}),
    "f1_micro": ("f1", "F1 (micro)", {"average": "micro"}),
    "avg_loss": ("loss", "Loss", None),
}
BASE_TAGS = ["emodraw", "emotion", "text-classification"]

LIMITS = """## Intended use and limits
Detecting one of the labels above in short English sentences, for research and education.
The default training data is the CARER emotion dataset (Saravia et al., EMNLP 2018), whose
dataset card states it is for **educational and research use only**; a model trained on it
inherits those terms. Labels come from hashtags and are noisy; love and surprise are rare classes
with lower recall. Do not use it to make decisions about people.
"""


def model_card(meta: dict[str, Any], metadata_file: str) -> str:
    """The card of a checkpoint whose full metadata is in `metadata_file`, beside it."""
    try:
        return _full_card(meta, metadata_file)
    except Exception:  # a card is documentation: it must never cost the checkpoint itself
        return _plain_card(meta, metadata_file)


# -- what the metadata says ------------------------------------------------------------------------------------
def _is_local(name: str) -> bool:
    try:
        return Path(name).expanduser().exists()
    except (OSError, ValueError):
        return False


def _is_hub_id(name: Any) -> bool:
    return isinstance(name, str) and HUB_ID.fullmatch(name) is not None and ".." not in name and not _is_local(name)


def base_model(name: Any, depth: int = 0) -> str | None:
    """The Hub id the model was fine-tuned from: the embedded default's, a Hub id as given, or, for a backbone
    adapted by `emodraw adapt` (a local folder with adapt.json), the one it was adapted from; else None."""
    if not isinstance(name, str):
        return None
    if name in EMBEDDED_NAMES:
        return EMBEDDED_MODEL
    if name in LARGE_MODEL_NAMES:
        return LARGE_MODEL
    if _is_local(name):
        try:
            adapted_from = json.loads((Path(name).expanduser() / "adapt.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        source = adapted_from.get("adapted_from") if isinstance(adapted_from, dict) else None
        return base_model(source, depth + 1) if depth < 3 else None
    return name if _is_hub_id(name) else None


def datasets(cfg: dict[str, Any]) -> list[str]:
    """The Hub datasets trained on: the bundled CARER data's, or a --dataset Hub name; [] for the user's own files
    (or where the metadata does not say)."""
    dataset = cfg.get("dataset")
    if isinstance(dataset, str) and dataset.strip():
        if dataset in CARER_NAMES and not _is_local(dataset):
            return [CARER]
        return [dataset] if _is_hub_id(dataset) else []
    if not any(name in cfg for name in DATA_OPTIONS):  # metadata that does not say where its data came from
        return []
    return [] if any(cfg.get(name) for name in DATA_OPTIONS) else [CARER]


def _numbers(values: Any) -> dict[str, float]:
    """The finite numbers of a metrics dict, as plain floats (numpy's would not write as YAML)."""
    if not isinstance(values, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))
    }


def _local_name(name: Any) -> str:
    """A model as the body names it: a Hub id as it is, a local folder by its name only (not its whole path)."""
    if not isinstance(name, str):
        return "an unrecorded model"
    if name in EMBEDDED_NAMES:
        return f"`{EMBEDDED_MODEL}` (the copy embedded in emodraw)"
    if _is_local(name) or name.startswith((".", "/", "~")):
        return f"the local model folder `{Path(name).name}`"
    return f"`{name}`"


def _recipe(cfg: dict[str, Any]) -> str:
    parts = [
        f"experiment `{cfg['experiment']}`" if "experiment" in cfg else None,
        f"{cfg['epochs']} epochs" if "epochs" in cfg else None,
        f"batch size {cfg['batch_size']}" if "batch_size" in cfg else None,
        f"learning rate {cfg['learning_rate']}" if "learning_rate" in cfg else None,
        f"{cfg['portion'] * 100:g} % of the training data" if isinstance(cfg.get("portion"), numbers.Real) else None,
        f"seed {cfg['seed']}" if "seed" in cfg else None,
        f"max length {cfg['max_length']}" if "max_length" in cfg else None,
    ]
    parts = [p for p in parts if p]
    return ", ".join(parts) + "." if parts else "Not recorded."


# -- the card --------------------------------------------------------------------------------------------------
def card_data(meta: dict[str, Any]):
    """The card's YAML metadata, a huggingface_hub ModelCardData."""
    from huggingface_hub import EvalResult, ModelCardData

    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    base = base_model(cfg.get("model"))
    trained_on = datasets(cfg)
    carer = trained_on == [CARER]
    scores = _numbers(meta.get("validation"))
    results = []
    if not cfg.get("train_on_val"):  # validation inside the training data: its figures evaluate nothing
        for key, value in scores.items():
            if key in METRICS:
                kind, name, args = METRICS[key]
                results.append(
                    EvalResult(
                        task_type="text-classification",
                        task_name="Text Classification",
                        dataset_type=trained_on[0] if trained_on else "custom",
                        dataset_name="CARER emotion" if carer else (trained_on[0] if trained_on else "own data"),
                        dataset_config="split" if carer else None,
                        dataset_split="validation",
                        metric_type=kind,
                        metric_value=value,
                        metric_name=f"Validation {name.lower()}" if kind == "loss" else name,
                        metric_args=args,
                    )
                )
    tags = [*BASE_TAGS, *(["multi-label-classification"] if cfg.get("multi_label") else [])]
    return ModelCardData(
        language="en" if carer else None,
        license=KNOWN_LICENSES.get(base) if base else None,
        base_model=base,
        datasets=trained_on or None,
        metrics=sorted({METRICS[k][0] for k in scores if k in METRICS} - {"loss"}) or None,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=tags,
        model_name=str(meta.get("name") or "emodraw-model") if results else None,
        eval_results=results or None,
        widget=[{"text": "i feel wonderful today"}],
    )


def card_body(meta: dict[str, Any], metadata_file: str) -> str:
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    names = meta.get("label_names") if isinstance(meta.get("label_names"), list) else []
    labels = ", ".join(f"{i} {name}" for i, name in enumerate(names)) or "see `config.json` (id2label)"
    scores = _numbers(meta.get("validation"))
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in scores.items())
    table = f"| metric | value |\n|---|---|\n{rows}" if rows else "Not recorded for this checkpoint."
    if cfg.get("train_on_val"):
        table += "\n\nThe validation split was part of the training data: these figures are not held out."
    # Cards written before the package was split say `import emodraw.pooling`: emodraw/pooling.py keeps that working.
    mean_note = (
        " after `import emodraw.modeling.pooling`, which registers this mean-pooled head (`--pooling mean`); "
        "without it transformers refuses the folder"
        if cfg.get("pooling") == "mean"
        else ""
    )
    trained_on = datasets(cfg)
    if trained_on == [CARER]:
        link = f"[{CARER}](https://huggingface.co/datasets/{CARER})"
        data = f"the CARER emotion data (the `split` configuration of {link})"
    elif trained_on:
        data = f"the dataset `{trained_on[0]}`"
    else:
        data = "the user's own data" if any(name in cfg for name in DATA_OPTIONS) else "unrecorded data"
    saved = f"Saved from: {meta.get('saved_from', 'unrecorded')} (epoch {meta.get('epoch', '?')})."
    origin = "random initialisation" if cfg.get("random_init") else "pretrained weights"
    kind = "A multi-label" if cfg.get("multi_label") else "An"
    return f"""
# {meta.get("name", "emodraw model")}

{kind} emotion classifier fine-tuned by [emodraw](https://github.com/) from {_local_name(cfg.get("model"))}
({origin}) on {data}.
{saved}

**Labels:** {labels}

## Validation metrics at this epoch
{table}

## Training
{_recipe(cfg)}
The full resolved configuration, data checksums and package versions are in `{metadata_file}`.

## Use
```python
from emodraw import Classifier
Classifier.load("this-folder").predict("i feel wonderful today")
```
From the Hub, load the folder `huggingface_hub.snapshot_download("OWNER/NAME")` returns.
It also loads with `transformers.AutoModelForSequenceClassification.from_pretrained("this-folder")`{mean_note}.

{LIMITS}"""


def _full_card(meta: dict[str, Any], metadata_file: str) -> str:
    from huggingface_hub import ModelCard

    card = ModelCard(f"---\n{card_data(meta).to_yaml()}\n---\n{card_body(meta, metadata_file)}")
    return str(card)


def _plain_card(meta: dict[str, Any], metadata_file: str) -> str:
    name = meta.get("name", "emodraw model") if isinstance(meta, dict) else "emodraw model"
    return (
        "---\nlibrary_name: transformers\npipeline_tag: text-classification\n"
        f"tags: [{', '.join(BASE_TAGS)}]\n---\n# {name}\n\n"
        f"An emotion classifier fine-tuned by emodraw; its configuration and metrics are in `{metadata_file}`.\n\n"
        f"{LIMITS}"
    )
