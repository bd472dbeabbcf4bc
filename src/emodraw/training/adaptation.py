"""Domain-adaptive pretraining (`emodraw adapt`): continue a backbone's masked-language-model (MLM)
pretraining on unlabelled in-domain sentences before fine-tuning it -- "task-adaptive pretraining"
(Gururangan et al., 2020, "Don't Stop Pretraining"). The output is a model folder for
`emodraw train --model FOLDER`.

Only the encoder changes. The folder keeps everything else the backbone had -- the pooler included,
which a ...ForMaskedLM model drops and fine-tuning with the [CLS] head would otherwise re-initialise --
and its tokenizer. A backbone saved without an MLM head (the embedded sentence-transformers model) gets
a fresh one, tied to the word embeddings as in pretraining; the head is not saved. A fresh head first
trains alone for `head_warmup_epochs` (encoder frozen): a random head's gradients would otherwise
reach the encoder as noise at the start and undo some of its pretraining.

Only the training split's sentences are read by default: validation and test stay unseen.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from emodraw.config import AdaptConfig
from emodraw.console import log_stderr
from emodraw.data.splits import read_examples, resolve_data_files
from emodraw.errors import ConfigError
from emodraw.hardware import autocast, pick_device, set_threads, use_bf16
from emodraw.modeling.backbones import _from_pretrained, load_tokenizer, quiet_transformers, resolve_backbone
from emodraw.modeling.batching import Encoded, bucketed_batches, encode, sorted_batches
from emodraw.training.limits import fit_max_length
from emodraw.training.optim import make_optimizer, parameter_groups

ADAPT_MANIFEST = "adapt.json"
# Where transformers' ...ForMaskedLM classes keep the head that maps hidden states to vocabulary
# logits; with it the loss is computed on the masked positions only (the vocabulary projection of
# all positions costs about as much as the encoder itself for a small model).
_MLM_HEADS = ("cls", "predictions", "lm_head")


def read_sentences(cfg: AdaptConfig) -> tuple[list[str], list[str], list[str]]:
    """(training sentences, held-out sentences for the MLM loss report, source descriptions).

    With --text-file: those files, one sentence per line (blank lines skipped). Otherwise the training
    split of --train-file or of the data folder (--data-dir, default the bundled data), labels ignored.
    The held-out sentences, whose masked-LM loss tells whether adaptation still improves, are the data
    folder's validation split when the training split came from that folder; otherwise there are none."""
    if cfg.text_files:
        texts = []
        for name in cfg.text_files:
            path = Path(name)
            if not path.is_file():
                raise ConfigError(f"--text-file {name}: no such file")
            texts += [
                line.strip()
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.strip()
            ]
        return texts, [], [str(Path(n).resolve()) for n in cfg.text_files]
    if cfg.train_file:
        return read_examples(cfg.train_file).texts, [], [str(Path(cfg.train_file).resolve())]
    files = resolve_data_files(cfg.data_dir)
    return (
        read_examples(files["train"]).texts,
        read_examples(files["val"]).texts,
        [str(Path(files["train"]).resolve())],
    )


def _mlm_head(mlm_model) -> torch.nn.Module | None:
    for name in _MLM_HEADS:
        head = getattr(mlm_model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    return None


def _phase_parameters(mlm_model, phase: str) -> list[torch.nn.Parameter]:
    """Make only this phase's parameters trainable: "head" -- the MLM head without the word-embedding
    matrix it shares with the encoder; "all" -- everything. Returns them."""
    encoder = {id(p) for p in mlm_model.base_model.parameters()}
    for param in mlm_model.parameters():
        param.requires_grad_(phase == "all" or id(param) not in encoder)
    return [p for p in mlm_model.parameters() if p.requires_grad]


class Masker:
    """BERT's masking (15 % of the non-special tokens: 80 % [MASK], 10 % a random token, 10 % kept),
    done by transformers' DataCollatorForLanguageModeling on our padded batches."""

    def __init__(self, tokenizer, probability: float):
        from transformers import DataCollatorForLanguageModeling

        if tokenizer.mask_token_id is None:
            raise ConfigError("this backbone's tokenizer has no [MASK] token: masked-LM adaptation needs one")
        self.collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=probability)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)

    def __call__(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = batch["input_ids"]
        special = torch.isin(ids, self.special_ids.to(ids.device)) | (batch["attention_mask"] == 0)
        return self.collator.torch_mask_tokens(ids.clone(), special_tokens_mask=special)


def mlm_loss(mlm_model, head, input_ids, attention_mask, labels) -> torch.Tensor:
    """Mean cross-entropy over the masked positions."""
    if head is None:
        return mlm_model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    hidden = mlm_model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    chosen = labels != -100
    logits = head(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits.float(), labels[chosen])


@torch.no_grad()
def held_out_loss(
    mlm_model, head, encoded: Encoded, masker: Masker, batch_size: int, device, bf16: bool, seed: int
) -> float:
    """The MLM loss on held-out sentences with the same masks every time (a fixed seed), so epochs compare."""
    mlm_model.eval()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    total, count = 0.0, 0
    for rows in sorted_batches(encoded.lengths, batch_size):
        batch = encoded.batch(rows)
        ids, labels = masker(batch)
        n = int((labels != -100).sum())
        if n == 0:
            continue
        with autocast(device, bf16):
            loss = mlm_loss(mlm_model, head, ids.to(device), batch["attention_mask"].to(device), labels.to(device))
        total, count = total + float(loss) * n, count + n
    torch.random.set_rng_state(state)
    mlm_model.train()
    return total / count if count else float("nan")


def adapt(cfg: AdaptConfig, log: Callable[[str], None] = log_stderr) -> Path:
    """Run the adaptation; returns the output folder (a model folder for `emodraw train --model`)."""
    cfg.check()
    texts, held_out, sources = read_sentences(cfg)
    return adapt_sentences(cfg, texts, held_out, sources, log=log)


def adapt_sentences(
    cfg: AdaptConfig,
    texts: list[str],
    held_out: list[str],
    sources: list[str],
    log: Callable[[str], None] = log_stderr,
) -> Path:
    """Adapt `cfg.model` on `texts` (reporting the masked-LM loss on `held_out`) into `cfg.output_dir`.

    The folder appears complete or not at all: it is written under another name and renamed at the end."""
    from tqdm import tqdm
    from transformers import AutoModel, AutoModelForMaskedLM, get_linear_schedule_with_warmup

    set_threads(cfg.threads)
    quiet_transformers()
    device = pick_device(cfg.device)
    bf16 = use_bf16(cfg.precision, device)
    if not texts:
        raise ConfigError("no sentences to adapt on")
    backbone = resolve_backbone(cfg.model)
    tokenizer = load_tokenizer(backbone)
    masker = Masker(tokenizer, cfg.mask_probability)
    torch.manual_seed(cfg.seed)  # the fresh MLM head's initialisation and the masks follow the seed
    base = _from_pretrained(AutoModel, backbone)
    mlm_model, info = _from_pretrained(AutoModelForMaskedLM, backbone, output_loading_info=True)
    mlm_model = mlm_model.to(device)
    head = _mlm_head(mlm_model)
    base_prefix = mlm_model.base_model_prefix + "."
    fresh_head = any(not key.startswith(base_prefix) for key in info["missing_keys"])
    cfg = fit_max_length(cfg, mlm_model, tokenizer, log)  # adapt.json then records the length used

    encoded = encode(tokenizer, texts, max_length=cfg.max_length)
    held = encode(tokenizer, held_out, max_length=cfg.max_length) if held_out else None
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    progress = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    head_epochs = cfg.head_warmup_epochs if fresh_head else 0
    phases = [("head", head_epochs), ("all", cfg.epochs)]

    history = []
    if held is not None:
        history.append(
            {
                "epoch": 0,
                "train_loss": None,
                "held_out_loss": held_out_loss(mlm_model, head, held, masker, 128, device, bf16, cfg.seed),
            }
        )
        log(
            f"adapt: {len(texts):,} sentences, {cfg.epochs} epochs; "
            f"held-out masked-LM loss before: {history[0]['held_out_loss']:.4f}"
        )
    started = time.perf_counter()
    epoch = 0
    for phase, n_epochs in phases:
        if n_epochs == 0:
            continue
        trainable = _phase_parameters(mlm_model, phase)
        total = steps_per_epoch * n_epochs
        # The lone head learns from scratch: ten times the rate (its own warm-up and decay).
        lr = cfg.learning_rate * (10 if phase == "head" else 1)
        optimizer = make_optimizer(parameter_groups(mlm_model, lr, cfg.weight_decay), device, graphs=False)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
        mlm_model.train()
        for phase_epoch in range(1, n_epochs + 1):
            epoch += 1
            t0 = time.perf_counter()
            losses = []
            batches = bucketed_batches(encoded.lengths, cfg.batch_size, rng)
            label = f"adapt {'head warm-up' if phase == 'head' else 'epoch'} {phase_epoch}/{n_epochs}"
            for rows in tqdm(batches, desc=label, unit="batch", disable=not progress, file=sys.stderr):
                batch = encoded.batch(rows)
                ids, labels = masker(batch)
                if not (labels != -100).any():
                    continue
                with autocast(device, bf16):
                    loss = mlm_loss(
                        mlm_model, head, ids.to(device), batch["attention_mask"].to(device), labels.to(device)
                    )
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.detach())
            train_loss = float(torch.stack(losses).mean()) if losses else float("nan")
            if not math.isfinite(train_loss):
                raise ConfigError(f"adapt: the masked-LM loss is {train_loss} at epoch {epoch}; try a lower --lr")
            row = {
                "epoch": epoch,
                "phase": phase,
                "train_loss": train_loss,
                "seconds": round(time.perf_counter() - t0, 2),
            }
            if held is not None:
                row["held_out_loss"] = held_out_loss(mlm_model, head, held, masker, 128, device, bf16, cfg.seed)
            history.append(row)
            log(
                f"{label}: train masked-LM loss {train_loss:.4f}"
                + (f", held-out {row['held_out_loss']:.4f}" if held is not None else "")
                + f" ({row['seconds']:.0f} s)"
            )

    # The encoder's new weights into the full backbone (pooler and all), saved as safetensors.
    missing, unexpected = base.load_state_dict(mlm_model.base_model.state_dict(), strict=False)
    if unexpected or any("pooler" not in key for key in missing):
        raise ConfigError(
            f"adapt: the masked-LM encoder does not match the backbone "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    manifest = {
        "adapted_from": cfg.model,
        "sources": sources,
        "sentences": len(texts),
        "held_out_sentences": len(held_out),
        "device": str(device),
        "bf16": bf16,
        "seconds": round(time.perf_counter() - started, 1),
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "history": history,
    }
    out = Path(cfg.output_dir)
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    base.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / ADAPT_MANIFEST).write_text(json.dumps(manifest, indent=1))
    if out.is_dir():
        out.rmdir()  # empty (checked before): the rename below needs the name free
    partial.rename(out)
    return out


# -- adaptation inside `emodraw train --adapt-epochs N`: computed once, cached ----------------------
def cache_dir() -> Path:
    """Where adapted backbones are kept: $EMODRAW_CACHE, else $XDG_CACHE_HOME/emodraw, else ~/.cache/emodraw."""
    if os.environ.get("EMODRAW_CACHE"):
        return Path(os.environ["EMODRAW_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "emodraw"


def _model_identity(name: str) -> dict:
    """What names the starting weights: for a folder (the embedded model's included), its files' names,
    sizes and modification times -- a changed folder is a new backbone; for a Hub id, the id."""
    backbone = resolve_backbone(name)
    if not backbone.is_local:
        return {"hub": name}
    folder = Path(backbone.source)
    return {
        "folder": str(folder),
        "files": sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file()),
    }


def adaptation_key(cfg: AdaptConfig, texts: list[str]) -> str:
    """A hash of everything that decides the adapted weights (not where, how fast or how it reports)."""
    options = {
        k: v
        for k, v in asdict(cfg).items()
        if k not in ("model", "output_dir", "data_dir", "train_file", "text_files", "device", "threads", "progress")
    }
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
    blob = json.dumps({"model": _model_identity(cfg.model), "texts": digest, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def cached_adaptation(
    cfg: AdaptConfig,
    texts: list[str],
    held_out: list[str],
    sources: list[str],
    log: Callable[[str], None] = log_stderr,
) -> Path:
    """The backbone adapted on `texts` with `cfg`'s options, from the cache when these very inputs were
    adapted before (another seed of the same recipe), else computed now and stored there."""
    folder = cache_dir() / "adapted" / adaptation_key(cfg, texts)
    if (folder / ADAPT_MANIFEST).is_file():
        log(f"adapt: reusing the adapted backbone {folder}")
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)  # a folder without its manifest is not a finished one
    log(f"adapt: masked-LM training of {cfg.model} on the training sentences first; cached in {folder}")
    try:
        return adapt_sentences(replace(cfg, output_dir=str(folder)), texts, held_out, sources, log=log)
    except OSError:
        if (folder / ADAPT_MANIFEST).is_file():  # another process finished the same adaptation first
            return folder
        raise
