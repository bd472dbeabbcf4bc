"""The README.md model card written into every checkpoint."""

from __future__ import annotations

from typing import Any


def model_card(meta: dict[str, Any], metadata_file: str) -> str:
    """The card of a checkpoint whose full metadata is in `metadata_file`, beside it."""
    cfg, val = meta["config"], meta.get("validation", {})
    labels = ", ".join(f"{i} {name}" for i, name in enumerate(meta["label_names"]))
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in val.items() if isinstance(v, (int, float)))
    # Cards written before the package was split say `import emodraw.pooling`: emodraw/pooling.py keeps that working.
    mean_note = (
        " after `import emodraw.modeling.pooling`, which registers this mean-pooled head (`--pooling mean`); "
        "without it transformers refuses the folder"
        if cfg.get("pooling") == "mean"
        else ""
    )
    recipe = (
        f"experiment `{cfg['experiment']}`, {cfg['epochs']} epochs, batch size {cfg['batch_size']}, "
        f"learning rate {cfg['learning_rate']}"
    )
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [emodraw, emotion, text-classification]
---
# {meta["name"]}

An emotion classifier fine-tuned by [emodraw](https://github.com/) from `{cfg["model"]}`
({"random initialisation" if cfg.get("random_init") else "pretrained weights"}).
Saved from: {meta["saved_from"]} (epoch {meta["epoch"]}).

**Labels:** {labels}

## Validation metrics at this epoch
| metric | value |
|---|---|
{rows}

## Training
{recipe},
{cfg["portion"] * 100:g} % of the training data, seed {cfg["seed"]}, max length {cfg["max_length"]}.
The full resolved configuration, data checksums and package versions are in `{metadata_file}`.

## Use
```python
from emodraw import Classifier
Classifier.load("this-folder").predict("i feel wonderful today")
```
It also loads with `transformers.AutoModelForSequenceClassification.from_pretrained("this-folder")`{mean_note}.

## Intended use and limits
Detecting one of the labels above in short English sentences, for research and education.
The default training data is the CARER emotion dataset (Saravia et al., EMNLP 2018), whose
dataset card states it is for **educational and research use only**; a model trained on it
inherits those terms. Labels come from hashtags and are noisy; love and surprise are rare classes
with lower recall. Do not use it to make decisions about people.
"""
