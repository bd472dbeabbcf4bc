"""Knowledge distillation from trained runs: the student also learns the teachers' mean distribution.

Where several runs (different seeds, or bigger models) predict better together than one alone,
distillation moves much of that gain into one model of the student's size, so prediction costs what
one model costs. (On the emotion data, three seeds of `offline-full` averaged were no better than one
on validation, and distilling from them gained nothing: docs/RESULTS.md, round 4.) The teachers are
scored once, on the training sentences only, before training starts (validation and test are never
shown to them here), and their scores are cached beside their runs (training/soft_labels.py), so the next
student -- another seed, another recipe -- does not score them again. A teacher can also be soft labels
alone: a file of them, or `bundled`, the large backbone's, shipped for the bundled training data.

Here: `teacher_targets` (the teachers' distribution per training sentence), `Distillation` (the Trainer's
part: those targets go to every step) and `distillation_loss` (the step's extra term, in steps.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from emodraw.errors import ConfigError
from emodraw.training.distributed import gather_rows
from emodraw.training.saved_model import SavedModel
from emodraw.training.soft_labels import SUFFIX, SoftLabels, is_soft_label_file, read_source

# What a teacher's soft labels record of how it was trained (its emodraw.json "config").
RECIPE_KEYS = ("model", "experiment", "seed", "epochs", "batch_size", "learning_rate", "portion", "train_on_val")


def teacher_entries(spec: str) -> list[str]:
    """`--distill-from a,b,c` -> its entries: run or checkpoint folders (each checked to exist), soft-label
    files (`*.safetensors`) or `bundled`."""
    entries = [p.strip() for p in spec.split(",") if p.strip()]
    if not entries:
        raise ConfigError("--distill-from: name at least one run or checkpoint folder")
    for entry in entries:
        if not is_soft_label_file(entry) and not Path(entry).exists():
            raise ConfigError(f"--distill-from: {entry}: no such run or checkpoint folder")
    return entries


def cache_path(teacher) -> Path:
    """Where a teacher's scores are cached: `soft_labels/<checkpoint>.safetensors` in its run folder (beside
    the checkpoint when it is not in a run's checkpoints/ folder)."""
    home = teacher.path.parent.parent if teacher.path.parent.name == "checkpoints" else teacher.path.parent
    return home / "soft_labels" / f"{teacher.path.name}{SUFFIX}"


def teacher_logits(teacher, texts: Sequence[str], *, batch_size: int, cache: bool, log) -> np.ndarray:
    """The teacher's logits for `texts`, in its own label order: read from its cache where the cache was made
    by these weights at this length, the rest scored (and, with `cache`, added to the cache)."""
    from emodraw.checkpoint_integrity import read_manifest

    weights = read_manifest(teacher.path).get("model.safetensors", {}).get("sha256", "")
    config = teacher.meta.get("config") or {}
    recipe = {k: config[k] for k in RECIPE_KEYS if k in config}
    meta = {
        "teacher": str(teacher.path),
        "teacher_model": str(config.get("model", "")),
        "teacher_sha256": weights,
        "max_length": str(teacher.max_length),
        "recipe": json.dumps(recipe, sort_keys=True),
    }
    path, known = cache_path(teacher), None
    if path.is_file():
        try:
            known = SoftLabels.read(path)
        except ConfigError as exc:
            log(f"distillation: ignoring the cache {exc.args[0].removeprefix('--distill-from: ')}")
        if known is not None and any(known.meta.get(k) != meta[k] for k in ("teacher_sha256", "max_length")):
            known = None  # other weights or another length: scored again
    missing = known.missing(texts) if known is not None else np.ones(len(texts), bool)
    if missing.any():
        new = [t for t, m in zip(texts, missing) if m]
        scored = SoftLabels.from_scores(new, teacher.logits(new, batch_size=batch_size), teacher.labels, meta)
        known = known.merged(scored) if known is not None else scored
        if cache:
            try:
                known.write(path)
            except OSError as exc:  # a read-only teacher folder: distillation goes on without the cache
                log(f"distillation: could not cache the teacher's scores in {path}: {exc}")
    else:
        log(f"distillation: teacher {teacher.path}: its scores of these sentences read from {path}")
    return known.lookup(texts, teacher.labels, source=str(path))


def trained_on(teacher) -> set[str]:
    """The sentences a teacher's checkpoint records training on (each file checked against its hash): its
    training file, and its validation file too when it was trained with --train-on-val. `teacher`: anything
    with the checkpoint's `meta` (emodraw.json) and `path`, as a SavedModel."""
    from emodraw.data.columns import Columns
    from emodraw.data.splits import read_examples
    from emodraw.files import file_sha256

    config = teacher.meta.get("config") or {}
    splits = ["train"] + (["val"] if config.get("train_on_val") else [])
    # read as the teacher's training read it: its columns; its labels as its own names (they are not used)
    reading = {
        "columns": Columns.from_config(config),
        "label_names": list(teacher.labels) if config.get("label_names") else None,
    }
    sentences: set[str] = set()
    for split in splits:
        recorded = (teacher.meta.get("data") or {}).get(split) or {}
        path = recorded.get("path")
        if not path or not Path(path).is_file():
            raise ConfigError(f"--distill-cross-fit: {teacher.path} records no {split} file that exists here")
        if recorded.get("sha256") and file_sha256(path) != recorded["sha256"]:
            raise ConfigError(f"--distill-cross-fit: {path} changed since {teacher.path} was trained on it")
        sentences |= set(read_examples(path, skip_invalid=True, **reading).texts)
    return sentences


def teacher_targets(
    spec: str,
    texts: Sequence[str],
    label_names: Sequence[str],
    *,
    temperature: float,
    device: torch.device,
    precision: str,
    batch_size: int,
    cross_fit: bool = False,
    cache: bool = True,
    log: Callable[[str], None] = print,
) -> torch.Tensor:
    """The teachers' mean of softmax(logits / temperature) for `texts`: (N, C) float32 on the CPU,
    columns in the order of `label_names` (each teacher's own label order is mapped by name). A teacher is
    a run or checkpoint folder (its scores cached beside it, `cache`) or soft labels (a file, `bundled`).

    `cross_fit`: each sentence gets the mean of only the teachers that did not train on it (teachers
    trained on different folds of the data), so the targets are out-of-sample predictions rather
    than a teacher's memory of the label; a sentence every teacher trained on gets all teachers' mean.
    """
    entries = teacher_entries(spec)
    if cross_fit and any(is_soft_label_file(entry) for entry in entries):
        raise ConfigError(
            "--distill-cross-fit needs the teachers' checkpoints (what each trained on), not soft labels"
        )

    everyone = torch.zeros(len(texts), len(label_names))
    unseen_sum, unseen_count = torch.zeros_like(everyone), torch.zeros(len(texts))
    for entry in entries:
        if is_soft_label_file(entry):
            stored = read_source(entry)
            logits = torch.from_numpy(stored.lookup(texts, label_names, source=entry))
            everyone += torch.softmax(logits / temperature, dim=-1)
            log(f"distillation: soft labels of {len(texts)} training sentences from {entry} ({_made_by(stored)})")
            continue
        teacher = SavedModel.load(entry, device=device, precision=precision)
        if sorted(teacher.labels) != sorted(label_names):
            raise ConfigError(
                f"--distill-from: {entry} predicts {teacher.labels}, the training data has {list(label_names)}"
            )
        columns = [teacher.labels.index(name) for name in label_names]
        scores = teacher_logits(teacher, texts, batch_size=batch_size, cache=cache, log=log)
        probabilities = torch.softmax(torch.from_numpy(scores)[:, columns] / temperature, dim=-1)
        everyone += probabilities
        if cross_fit:
            seen = trained_on(teacher)
            unseen = torch.tensor([text not in seen for text in texts])
            unseen_sum[unseen] += probabilities[unseen]
            unseen_count += unseen.float()
            log(
                f"distillation: teacher {teacher.path} scored {len(texts)} training sentences, "
                f"{int(unseen.sum())} of them new to it"
            )
        else:
            log(f"distillation: teacher {teacher.path} scored {len(texts)} training sentences")
        del teacher
    mean = everyone / len(entries)
    if not cross_fit:
        return mean
    covered = unseen_count > 0
    if not covered.all():
        log(
            f"distillation: {int((~covered).sum())} sentences were in every teacher's training data; "
            "they get all teachers' mean"
        )
    return torch.where(covered[:, None], unseen_sum / unseen_count.clamp(min=1)[:, None], mean)


def _made_by(stored: SoftLabels) -> str:
    teacher = stored.meta.get("teacher_model") or stored.meta.get("teacher", "teacher not named")
    digest = stored.meta.get("teacher_sha256", "")
    return f"{teacher}, weights sha256 {digest[:12]}…" if digest else teacher


def distillation_loss(student_logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per sentence: T^2 * KL(targets || softmax(student / T)) (Hinton et al., 2015).

    The T^2 keeps the gradient's size independent of T, so the mixing weight means the same at any T.
    """
    log_student = torch.log_softmax(student_logits / temperature, dim=-1)
    kl = torch.nn.functional.kl_div(log_student, targets, reduction="none").sum(-1)
    return kl * temperature**2


class Distillation:
    """--distill-from, as a part of the Trainer (trainer.trainer_class puts it before Trainer in the class's
    bases): every training step also gets the teachers' distribution of its sentences, as `soft_targets`."""

    def _sentence_inputs(self) -> dict[str, torch.Tensor]:
        """The teachers' mean distribution per training sentence, on the device. Each process scores a share
        of the sentences and the shares are gathered, so several processes split the teachers' work instead
        of each repeating all of it."""
        inputs = super()._sentence_inputs()
        cfg = self.config
        texts = self.splits.train.texts
        share = np.arange(self.rank, len(texts), self.world)
        targets = teacher_targets(
            cfg.distill_from,
            [texts[i] for i in share],
            self.splits.label_names,
            temperature=cfg.distill_temperature,
            device=self.device,
            precision=cfg.precision,
            batch_size=self.eval_batch_size,
            cross_fit=cfg.distill_cross_fit,
            cache=self.world == 1,  # a process holds only its share of the scores: one process alone caches them
            log=self.log if self.main else (lambda _message: None),
        )
        inputs["soft_targets"] = gather_rows(self.accelerator, share, targets, len(texts)).to(self.device)
        return inputs
