"""The end of a run (main process): its last and best checkpoints scored on test (on validation when there is
no test file), evaluation.json, and the plots drawn from what that evaluation returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emodraw.metrics import compute_metrics, format_metrics
from emodraw.modeling.batching import encode, predict_logits
from emodraw.results import results_row, saved_from_best
from emodraw.training.saved_model import SavedModel


def evaluate_checkpoints(trainer, found: dict[str, Path]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(results rows, evaluation) of the checkpoints `found` ({"last": path, "best": path}); writes
    evaluation.json. Without saved checkpoints (--no-save-checkpoints) the model as trained is "last"."""
    cfg, splits = trainer.config, trainer.splits
    split = "test" if splits.test is not None else "val"
    examples = splits.test if splits.test is not None else splits.val
    if split == "val":
        trainer.log("no test file: the results table is computed on the validation split")
    labels = splits.ids(examples)
    epochs_trained = trainer.history[-1]["epoch"] if trainer.history else 0
    targets = [("last", f"Epoch {epochs_trained}"), ("best", saved_from_best(cfg.checkpoint_rule))]
    rows, evaluation = [], {}
    for kind, saved_from in targets:
        # multi-label: each checkpoint's thresholds, chosen on validation; never chosen on test
        thresholds = getattr(trainer, "val_thresholds", None)
        if kind in found:
            saved = SavedModel.load(found[kind], device=trainer.device, precision=cfg.precision)
            logits = saved.logits(examples.texts, batch_size=trainer.eval_batch_size)
            thresholds = saved.meta.get("thresholds", thresholds)
            name = found[kind].name
        elif kind == "last" and not cfg.save_checkpoints:
            model = trainer.accelerator.unwrap_model(trainer.model)
            enc = encode(trainer.tokenizer, examples.texts, labels, cfg.max_length).to(trainer.device)
            with trainer.averaged():
                logits = predict_logits(model, enc, trainer.eval_batch_size, trainer.device, trainer.bf16).numpy()
            name = "(not saved)"
        else:
            continue
        if splits.multi_label and thresholds is None:  # no epoch was validated: the default, not a choice on test
            thresholds = dict.fromkeys(splits.label_names, 0.5)
        metrics = compute_metrics(logits, labels, splits.label_names, thresholds=thresholds)
        evaluation[kind] = {**metrics, "checkpoint": name, "split": split}
        rows.append(
            results_row(
                cfg.to_dict(),
                trainer.backbone.short_name,
                saved_from,
                name,
                metrics,
                epochs_trained,
                split=split,
                seed=cfg.seed,
                epoch=trainer.selection.best_epoch if kind == "best" else epochs_trained,
            )
        )
        trainer.log(f"{kind} checkpoint on {split}: " + format_metrics(metrics).splitlines()[0])
    (trainer.run_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=1))
    return rows, evaluation


def write_plots(run_dir: Path, evaluation: dict[str, Any]) -> None:
    """plots/: the training curves of metrics.csv, and the confusion matrix of the best checkpoint (else the last)."""
    from emodraw.plots import confusion_matrix_plot, training_curves  # matplotlib: only when plots are drawn

    plots = run_dir / "plots"
    training_curves(run_dir / "metrics.csv", plots / "training_curves.png")
    chosen = evaluation.get("best") or evaluation.get("last")
    if chosen and "confusion_matrix" in chosen:  # a multi-label evaluation has none
        confusion_matrix_plot(
            chosen["confusion_matrix"],
            chosen["labels"],
            plots / "confusion_matrix.png",
            f"{chosen['checkpoint']} on {chosen['split']}",
        )
