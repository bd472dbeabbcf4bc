#!/usr/bin/env python
"""Training speed: the Hugging Face Trainer (the way the published notebooks train: padding to 128,
bf16 on CUDA) against emodraw's training loop, on the same device, from the same initial weights, on the
same data, in one invocation. Each side runs in its own subprocess so peak memory is its own.

    python benchmarks/train_speed.py --device cpu --train-size 2000 --epochs 1
    python benchmarks/train_speed.py --device cuda --model albert-base-v2 --random-init --epochs 20

Hyper-parameters default to the preset of the job being compared: on CUDA the published
experiment 3 (batch 64, lr 2e-5), on CPU the default job (batch 32, lr 1e-4, frozen embeddings).
The last line is machine-readable:
    speedup_vs_hf_trainer=X.XX emodraw_s_per_epoch=X.XX hf_s_per_epoch=X.XX val_acc_emodraw=0.XXXX val_acc_hf=0.XXXX
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--model", default="sentence-transformers/all-MiniLM-L6-v2", help="Hub id, folder or the embedded default"
    )
    p.add_argument(
        "--random-init",
        action="store_true",
        help="the architecture with random weights (shipped config for albert-base-v2)",
    )
    p.add_argument(
        "--preset", default=None, help="emodraw preset for the defaults (default: 3 on cuda, default on cpu)"
    )
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--train-size", type=int, default=16000, help="stratified subset of the training set")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-baseline", action="store_true", help="time emodraw only (no speedup line)")
    p.add_argument(
        "--emodraw-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra emodraw TrainConfig option, e.g. cuda_graphs=false (for ablations)",
    )
    p.add_argument("--json-out", help="also write all measurements to this JSON file")
    p.add_argument("--phase", choices=("hf", "emodraw"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def settings(args) -> dict:
    from emodraw.config import resolve_config

    preset = args.preset or ("3" if args.device == "cuda" else "default")
    base = resolve_config(experiment=preset)
    extra = {}
    for item in args.emodraw_option:
        key, _, value = item.partition("=")
        extra[key] = yaml.safe_load(value)  # numbers, true/false and words, as in a config file
    return {
        "model": args.model,
        "random_init": args.random_init,
        "preset": preset,
        "epochs": args.epochs or base.epochs,
        "batch_size": args.batch_size or base.batch_size,
        "lr": args.lr or base.learning_rate,
        "freeze_embeddings": base.freeze_embeddings,
        "warmup_ratio": base.warmup_ratio,
        "weight_decay": base.weight_decay,
        "max_grad_norm": base.max_grad_norm,
        "train_size": args.train_size,
        "seed": args.seed,
        "device": args.device,
        "extra": extra,
    }


# -- preparation (parent process) --------------------------------------------------------------------
def prepare(workdir: Path, s: dict) -> dict:
    """Write the data subset and the initial model (head included) that both sides start from."""
    import torch

    from emodraw.data.splits import EMOTIONS, bundled_data_dir, read_examples, stratified_portion
    from emodraw.modeling.backbones import load_classifier, load_tokenizer, resolve_backbone

    data = workdir / "data"
    data.mkdir(parents=True)
    train = read_examples(bundled_data_dir() / "train.txt")
    keep = stratified_portion(train.labels, min(1.0, s["train_size"] / len(train)), s["seed"])
    (data / "train.txt").write_text("".join(f"{train.texts[i]};{train.labels[i]}\n" for i in keep))
    (data / "val.txt").write_text((bundled_data_dir() / "val.txt").read_text())

    backbone = resolve_backbone(s["model"])
    tokenizer = load_tokenizer(backbone, random_init=s["random_init"])
    torch.manual_seed(s["seed"])
    model = load_classifier(backbone, list(EMOTIONS), random_init=s["random_init"], vocab_size=len(tokenizer))
    init = workdir / "init"
    model.save_pretrained(init)
    tokenizer.save_pretrained(init)
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "init": str(init),
        "data": str(data),
        "train_sentences": len(keep),
        "parameters": n_params,
        "architecture": type(model).__name__,
        "flops_per_token": flops_per_token(model, tokenizer, s),
    }


def flops_per_token(model, tokenizer, s) -> float:
    """Forward+backward FLOPs per token, counted by torch on one batch of typical length."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    width = 24  # about the mean sentence length in tokens
    ids = torch.randint(1000, 2000, (s["batch_size"], width))
    mask = torch.ones_like(ids)
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=ids, attention_mask=mask).logits.float().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / ids.numel()


# -- the two sides (each in its own subprocess) ---------------------------------------------------------
def run_hf(s: dict, prep: dict, out_dir: Path) -> dict:
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from emodraw.data.splits import EMOTIONS, read_examples

    tokenizer = AutoTokenizer.from_pretrained(prep["init"])
    model = AutoModelForSequenceClassification.from_pretrained(prep["init"])
    if s["freeze_embeddings"]:
        model.get_input_embeddings().weight.requires_grad_(False)
    index = {n: i for i, n in enumerate(EMOTIONS)}

    class Padded(torch.utils.data.Dataset):  # the published notebooks: padding="max_length", 128
        def __init__(self, path):
            ex = read_examples(path)
            enc = tokenizer(ex.texts, padding="max_length", truncation=True, max_length=128)
            self.rows = [
                {"input_ids": torch.tensor(i), "attention_mask": torch.tensor(m), "labels": index[y]}
                for i, m, y in zip(enc["input_ids"], enc["attention_mask"], ex.labels)
            ]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            return self.rows[i]

    train, val = Padded(Path(prep["data"]) / "train.txt"), Padded(Path(prep["data"]) / "val.txt")
    epoch_ends = []

    class Clock(TrainerCallback):
        def on_epoch_end(self, *a, **k):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            epoch_ends.append(time.perf_counter())

    steps = -(-len(train) // s["batch_size"]) * s["epochs"]
    args = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=s["batch_size"],
        per_device_eval_batch_size=s["batch_size"],
        learning_rate=s["lr"],
        num_train_epochs=s["epochs"],
        weight_decay=s["weight_decay"],
        warmup_steps=int(s["warmup_ratio"] * steps),
        max_grad_norm=s["max_grad_norm"],
        bf16=s["device"] == "cuda",
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="epoch",
        report_to=[],
        seed=s["seed"],
        use_cpu=s["device"] == "cpu",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )

    def accuracy(pred):
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    trainer = Trainer(
        model=model, args=args, train_dataset=train, eval_dataset=val, compute_metrics=accuracy, callbacks=[Clock()]
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    evals = [log["eval_accuracy"] for log in trainer.state.log_history if "eval_accuracy" in log]
    epoch_seconds = [b - a for a, b in zip([start] + epoch_ends[:-1], epoch_ends)]
    return {
        "total_s": total,
        "epoch_s": epoch_seconds,
        "val_acc": evals[-1],
        "val_acc_per_epoch": evals,
        "peak_mem_bytes": _peak_memory(),
    }


def run_emodraw(s: dict, prep: dict, out_dir: Path) -> dict:
    import torch

    from emodraw.config import TrainConfig
    from emodraw.training.trainer import Trainer

    config = TrainConfig(
        model=prep["init"],
        data_dir=prep["data"],
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        learning_rate=s["lr"],
        freeze_embeddings=s["freeze_embeddings"],
        warmup_ratio=s["warmup_ratio"],
        weight_decay=s["weight_decay"],
        max_grad_norm=s["max_grad_norm"],
        seed=s["seed"],
        device=s["device"],
        output_dir=str(out_dir),
        experiment="bench",
        save_checkpoints=False,
        save_state=False,
        plots=False,
        **s["extra"],
    )
    trainer = Trainer(config, progress=False, log=lambda m: print(m, file=sys.stderr))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        history = trainer.fit()
    finally:
        trainer.close()  # releases the run folder's lock
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    tokens = int(trainer.train_data.lengths.sum())
    return {
        "total_s": total,
        "epoch_s": [r["seconds"] for r in history],
        "val_acc": history[-1]["val_accuracy"],
        "val_acc_per_epoch": [r["val_accuracy"] for r in history],
        "peak_mem_bytes": _peak_memory(),
        "tokens_per_epoch": tokens,
        "bf16": trainer.bf16,
        "cuda_graphs": bool(getattr(trainer.step, "graphs", None)) and not getattr(trainer.step, "disabled", True),
        "capture_s": getattr(trainer.step, "capture_seconds", None),
        "graphs": len(getattr(trainer.step, "graphs", {})),
    }


def _peak_memory() -> int:
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux reports KiB


# -- driver ------------------------------------------------------------------------------------------------
def device_name(device: str) -> str:
    import torch

    from emodraw.hardware import cpu_name

    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{cpu_name()}, {os.cpu_count()} CPU threads"


def peak_flops(device: str) -> float | None:
    if device != "cuda":
        return None
    name = device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def main(argv=None) -> int:
    args = parse_args(argv)
    s = settings(args)
    if args.phase:  # child process: run one side, print its JSON
        prep = json.loads((Path(args.workdir) / "prep.json").read_text())
        runner = run_hf if args.phase == "hf" else run_emodraw
        result = runner(s, prep, Path(args.workdir) / f"run-{args.phase}")
        (Path(args.workdir) / f"{args.phase}.json").write_text(json.dumps(result))
        return 0

    import torch
    import transformers

    with tempfile.TemporaryDirectory(prefix="emodraw-bench-") as tmp:
        workdir = Path(tmp)
        prep = prepare(workdir, s)
        (workdir / "prep.json").write_text(json.dumps(prep))
        results = {}
        for phase in ("emodraw",) if args.skip_baseline else ("hf", "emodraw"):
            child = [
                sys.executable,
                __file__,
                *(argv if argv is not None else sys.argv[1:]),
                "--phase",
                phase,
                "--workdir",
                tmp,
            ]
            print(f"running {phase} ...", file=sys.stderr, flush=True)
            log = workdir / f"{phase}.log"
            with open(log, "w") as handle:
                done = subprocess.run(child, stdout=handle, stderr=subprocess.STDOUT)
            text = log.read_text()
            print(
                "\n".join(
                    line
                    for line in text.splitlines()
                    if "emodraw" in line or "CUDA graphs" in line or line.startswith(("epoch ", "model:"))
                ),
                file=sys.stderr,
            )
            if done.returncode != 0:
                print(text[-6000:], file=sys.stderr)
                raise SystemExit(f"{phase} failed with exit code {done.returncode}")
            results[phase] = json.loads((workdir / f"{phase}.json").read_text())

    tokens = results["emodraw"]["tokens_per_epoch"]
    peak = peak_flops(s["device"])
    print(f"\ndevice: {device_name(s['device'])}; torch {torch.__version__}, transformers {transformers.__version__}")
    print(
        f"model: {s['model']}{' (random init)' if s['random_init'] else ''}, {prep['architecture']}, "
        f"{prep['parameters'] / 1e6:.1f}M parameters; {prep['train_sentences']} training sentences "
        f"({tokens} tokens), 2000 validation; batch {s['batch_size']}, lr {s['lr']:g}, {s['epochs']} epochs; "
        f"{prep['flops_per_token'] / 1e6:.0f} MFLOP per token (forward+backward)"
    )
    print("\n| | s/epoch | total s | sentences/s | tokens/s | % of bf16 peak | peak memory | val accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for phase, label in (("hf", "HF Trainer (pad to 128)"), ("emodraw", "emodraw")):
        if phase not in results:
            continue
        r = results[phase]
        per_epoch = r["total_s"] / s["epochs"]
        rate_tokens = tokens / per_epoch
        util = f"{100 * rate_tokens * prep['flops_per_token'] / peak:.1f}" if peak else "n/a"
        memory = f"{r['peak_mem_bytes'] / 2**30:.2f} GiB{' (RSS)' if s['device'] == 'cpu' else ''}"
        print(
            f"| {label} | {per_epoch:.2f} | {r['total_s']:.1f} | {prep['train_sentences'] / per_epoch:.0f} | "
            f"{rate_tokens:.0f} | {util} | {memory} | {r['val_acc']:.4f} |"
        )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"settings": s, "prep": prep, "results": results, "device": device_name(s["device"])}, indent=1)
        )
    e = results["emodraw"]
    e_epoch = e["total_s"] / s["epochs"]
    if e.get("capture_s"):
        later = e["epoch_s"][1:] or [0]
        print(
            f"emodraw recorded {e['graphs']} CUDA graphs in {e['capture_s']:.2f} s "
            f"(first epoch {e['epoch_s'][0]:.2f} s, later epochs {min(later):.2f}-{max(later):.2f} s)"
        )
    if "hf" in results:
        h = results["hf"]
        h_epoch = h["total_s"] / s["epochs"]
        print(
            f"speedup_vs_hf_trainer={h['total_s'] / e['total_s']:.2f} emodraw_s_per_epoch={e_epoch:.2f} "
            f"hf_s_per_epoch={h_epoch:.2f} val_acc_emodraw={e['val_acc']:.4f} val_acc_hf={h['val_acc']:.4f}"
        )
    else:
        print(
            f"emodraw_s_per_epoch={e_epoch:.2f} emodraw_total_s={e['total_s']:.1f} val_acc_emodraw={e['val_acc']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
