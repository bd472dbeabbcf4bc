"""The `emodraw` command: a thin dispatcher over the Python API.

Training options are generated from the TrainConfig dataclass, so `emodraw train --help` lists every
option with its type and default, and a misspelt one is answered with the closest valid name.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from emodraw.config import EMBEDDED_MODEL, OPTION_NAMES, TrainConfig, available_presets, suggest
from emodraw.errors import EmodrawError


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option gets one line with a suggestion, and abbreviations are refused."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            options = [s for action in self._actions for s in action.option_strings]
            for sub in self._subparsers._group_actions if self._subparsers else []:
                for parser in getattr(sub, "choices", {}).values():
                    options += [s for action in parser._actions for s in action.option_strings]
            words = message.split(":", 1)[1].split()
            flag = next((w for w in words if w.startswith("--")), words[0] if words else "")
            message = f"unknown option {flag}{suggest(flag.split('=')[0], options)}"
        self.exit(2, f"{self.prog}: error: {message}\n")


def _base_type(annotation: str):
    kind = annotation.replace("| None", "").strip()
    return {"int": int, "float": float, "str": str, "bool": bool}[kind]


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field; defaults are SUPPRESSed so only flags the user typed override."""
    group = parser.add_argument_group("training options (defaults: the offline default job)")
    for f in dataclasses.fields(TrainConfig):
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", ())]
        kind = _base_type(str(f.type))
        help_text = f"{f.metadata.get('help', '')} [{kind.__name__}, default: {f.default}]"
        if kind is bool:
            group.add_argument(
                *flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        else:
            group.add_argument(
                *flags,
                dest=f.name,
                type=kind,
                default=argparse.SUPPRESS,
                metavar=kind.__name__.upper(),
                help=help_text,
            )
    parser.add_argument(
        "--config", dest="config_file", metavar="FILE.yaml", help="YAML file of options (flags override it)"
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last finished epoch")
    parser.add_argument(
        "--num-processes",
        type=int,
        default=1,
        metavar="N",
        help="train with N processes on this machine (launched through Hugging Face Accelerate)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )


def build_parser() -> Parser:
    from emodraw import __version__

    parser = Parser(
        prog="emodraw",
        description="Fine-tune, evaluate and serve emotion classifiers "
        "(sadness, joy, love, anger, fear, surprise). Every command works offline.",
    )
    parser.add_argument("--version", action="version", version=f"emodraw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser(
        "train",
        help="fine-tune a model (default: the embedded MiniLM, offline, ~10 min on a laptop CPU)",
        description="Fine-tune an encoder; keep the last and the lowest-validation-loss checkpoints; "
        f"evaluate both on test. Presets (--experiment): {', '.join(available_presets())}.",
    )
    add_train_options(p)

    p = sub.add_parser(
        "adapt",
        help="continue a backbone's masked-LM pretraining on in-domain sentences; then train --model OUT",
        description="Domain-adaptive pretraining: masked-language-model training of the backbone's encoder on "
        "unlabelled sentences (by default the training split's, labels ignored; validation and test stay "
        "unseen). Writes a model folder (safetensors + tokenizer + adapt.json) for `emodraw train --model DIR`.",
    )
    p.add_argument(
        "--model", default=EMBEDDED_MODEL, help="backbone to adapt: Hub id, local folder or the embedded default"
    )
    p.add_argument("--output-dir", required=True, metavar="DIR", help="new folder for the adapted backbone")
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data folder whose training split is read (default: the bundled emotion data)",
    )
    p.add_argument("--train-file", default=None, metavar="FILE", help="training file to read instead of --data-dir's")
    p.add_argument(
        "--text-file",
        dest="text_files",
        action="append",
        default=[],
        metavar="FILE",
        help="unlabelled sentences, one per line, instead of the training split (repeatable)",
    )
    p.add_argument("--epochs", type=int, default=3, help="epochs of masked-LM training of the whole model")
    p.add_argument(
        "--head-warmup-epochs",
        type=int,
        default=1,
        help="first train a freshly initialised masked-LM head alone for this many epochs (encoder frozen, "
        "10x the rate); skipped when the backbone has its pretraining head",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--learning-rate", "--lr", type=float, default=1e-4, help="peak AdamW rate (6 %% warm-up, linear decay)"
    )
    p.add_argument("--mask-probability", type=float, default=0.15, help="fraction of tokens masked (BERT: 0.15)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    _add_runtime_options(p)

    p = sub.add_parser("evaluate", help="score a checkpoint on the val/test split or a labelled file")
    p.add_argument("checkpoint", help="checkpoint folder, export folder, or run folder (its best checkpoint)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--split", choices=("val", "test"), default="test", help="split of the data the model was trained on"
    )
    where.add_argument("--data", metavar="FILE", help="a labelled .txt/.csv/.jsonl file instead")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--skip-invalid", action="store_true", help="skip malformed lines instead of stopping")
    _add_runtime_options(p)

    p = sub.add_parser("predict", help="label texts given as arguments, in a file, or on stdin")
    p.add_argument("checkpoint", help="checkpoint folder, export folder, or run folder (its best checkpoint)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label (default: read stdin)")
    p.add_argument(
        "--file",
        metavar="FILE",
        help="input: .txt (one text per line, or text;label), .csv or .jsonl with a 'text' field",
    )
    p.add_argument("--output", metavar="OUT", help="write results to OUT.jsonl or OUT.csv instead of stdout")
    p.add_argument("--json", action="store_true", help='one JSON object per line: {"text", "label", "scores"}')
    p.add_argument("--batch-size", type=int, default=64)
    _add_runtime_options(p)

    p = sub.add_parser("export", help="export a checkpoint to ONNX (and int8) with a parity check")
    p.add_argument("checkpoint", help="checkpoint folder or run folder (its best checkpoint)")
    p.add_argument("--output", required=True, metavar="DIR", help="new folder for the export")
    p.add_argument(
        "--int8", action="store_true", help="also write a dynamically quantised int8 model (used by default)"
    )
    p.add_argument("--force", action="store_true", help="keep the export even if the parity check fails")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 14)")
    p.add_argument("--data", metavar="FILE", help="labelled file for the parity check (default: the validation split)")

    p = sub.add_parser("serve", help="HTTP API + the Emotion Draw web page")
    p.add_argument("checkpoint", help="checkpoint folder, export folder, or run folder (its best checkpoint)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for the model (0 = default)")
    p.add_argument("--max-in-flight", type=int, default=64, help="requests in flight before new ones get 429")
    p.add_argument(
        "--batch-window-ms",
        type=float,
        default=None,
        help="wait this long to batch requests that arrive together; 0 = off; default: 2 for "
        "PyTorch checkpoints, 0 for ONNX exports (measured, docs/PERFORMANCE.md)",
    )

    p = sub.add_parser("compare", help="train several models the same way and compare them (table + chart)")
    p.add_argument("--models", default="", help="comma-separated: Hub ids, folders, the embedded model, tfidf-svm")
    p.add_argument("--runs", nargs="*", default=[], metavar="RUN_DIR", help="finished runs to include as they are")
    p.add_argument("--epochs", type=int, default=None, help="epochs for every encoder (default: the default job's)")
    p.add_argument("--portion", type=float, default=1.0, help="fraction of the training data (stratified)")
    p.add_argument("--seeds", type=int, default=1, help="train each model with seeds 1..K; report mean ± std")
    p.add_argument("--output-dir", default="compare", metavar="DIR")
    p.add_argument("--data-dir", default=None, metavar="DIR")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)

    p = sub.add_parser(
        "check-data",
        help="count repeated sentences within and across train/val/test, and ones with two labels",
        description="Audit a data folder before trusting its scores: sentences per split and label, repeats, "
        "validation/test sentences that also occur in training (and with another label there), and sentences "
        "written down with two labels. Sentences are compared lower-cased with white space collapsed.",
    )
    p.add_argument("--data-dir", default=None, metavar="DIR", help="data folder (default: the bundled emotion data)")
    for split in ("train", "val", "test"):
        p.add_argument(
            f"--{split}-file", default=None, metavar="FILE", help=f"{split} file to read instead of --data-dir's"
        )
    p.add_argument("--skip-invalid", action="store_true", help="skip malformed lines instead of stopping")
    p.add_argument(
        "--examples", type=int, default=10, metavar="N", help="list up to N sentences that carry two labels"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when validation/test sentences occur in training or a sentence has two labels",
    )

    p = sub.add_parser(
        "average",
        help="average the weights of several checkpoints (e.g. a run's last epochs) into one",
        description="Write one checkpoint whose weights are the uniform mean of the given checkpoints': the "
        "epochs of one run kept with `train --keep-every-epoch`, or runs of one recipe. Same architecture and "
        "labels required. Score the result with `emodraw evaluate OUT --split val`.",
    )
    p.add_argument("checkpoints", nargs="*", metavar="CHECKPOINT", help="checkpoint folders to average")
    p.add_argument("--run", metavar="RUN_DIR", help="take the checkpoints of --epochs from this run folder")
    p.add_argument("--epochs", metavar="LIST", help="with --run: epochs to average, e.g. 4-6 or 2,4,6")
    p.add_argument("--output", required=True, metavar="DIR", help="new folder for the averaged checkpoint")

    p = sub.add_parser("report", help="merge the results tables of runs into one markdown table")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--output", metavar="FILE.md", help="also write the table to this file")
    return parser


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")


# -- commands --------------------------------------------------------------------------------------
def train_config_from_args(args) -> TrainConfig:
    """Defaults, then --experiment's preset, then --config FILE, then the flags the user typed."""
    from emodraw.config import resolve_config

    overrides = {name: getattr(args, name) for name in OPTION_NAMES if hasattr(args, name)}
    return resolve_config(args.config_file, **overrides)


def cmd_train(args) -> int:
    from emodraw.training.trainer import train

    typed = [name for name in OPTION_NAMES if hasattr(args, name)]
    if args.resume and (typed or args.config_file):
        raise EmodrawError("--resume continues a run with its own saved config; drop the other training options")
    if args.num_processes < 1:
        raise EmodrawError(f"--num-processes {args.num_processes}: needs at least 1")
    if args.num_processes > 1:
        return launch_processes(args)
    if args.resume:
        result = train(resume=args.resume, progress=args.progress)
    else:
        result = train(train_config_from_args(args), progress=args.progress)
    if result.rows:  # only the main process has them; the others stay quiet
        from emodraw.results import markdown_table

        print(markdown_table(result.rows), end="")
        print(f"run folder: {result.run_dir}")
    return 0


def launch_processes(args) -> int:
    """Re-run this very command under `accelerate launch` with N processes on this machine
    (torch.distributed: NCCL on GPUs, gloo on CPUs)."""
    import torch

    from emodraw.training.trainer import choose_run_dir

    child = list(args.argv)
    for i, arg in enumerate(child):
        if arg == "--num-processes":
            del child[i : i + 2]
            break
    child = [a for a in child if not a.startswith("--num-processes=")]
    if not args.resume and "--output-dir" not in child:
        # Chosen once here, so that every process writes into the same, new folder.
        child += ["--output-dir", str(choose_run_dir(train_config_from_args(args)))]
    n = args.num_processes
    if torch.cuda.is_available() and torch.cuda.device_count() < n:
        raise EmodrawError(f"--num-processes {n}: only {torch.cuda.device_count()} GPU(s) visible")
    # `--multi_gpu` is Accelerate's torchrun-based launcher; without GPUs each process trains on CPU (gloo).
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(n),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "emodraw.cli",
        *child,
    ]
    env = dict(os.environ)
    if not torch.cuda.is_available():  # share the cores instead of oversubscribing them
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    return subprocess.call(command, env=env)


def cmd_adapt(args) -> int:
    from emodraw.training.adaptation import AdaptConfig, adapt

    cfg = AdaptConfig(
        model=args.model,
        output_dir=args.output_dir,
        data_dir=args.data_dir,
        train_file=args.train_file,
        text_files=tuple(args.text_files),
        epochs=args.epochs,
        head_warmup_epochs=args.head_warmup_epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        mask_probability=args.mask_probability,
        max_length=args.max_length,
        seed=args.seed,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        progress=args.progress,
    )
    out = adapt(cfg)
    print(f"adapted backbone: {out}  (next: emodraw train --model {out} ...)")
    return 0


def cmd_evaluate(args) -> int:
    from emodraw.inference.evaluation import evaluate
    from emodraw.metrics import format_report

    metrics = evaluate(
        args.checkpoint,
        split=args.split,
        data=args.data,
        batch_size=args.batch_size,
        skip_invalid=args.skip_invalid,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
    )
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{metrics['checkpoint']} on {metrics['data']}")
        print(format_report(metrics))
    return 0


def cmd_predict(args) -> int:
    from emodraw.inference.classifier import Classifier
    from emodraw.inference.streaming import predict_stream

    if args.texts and args.file:
        raise EmodrawError("give texts as arguments or --file, not both")
    clf = Classifier.load(args.checkpoint, device=args.device, precision=args.precision, threads=args.threads)
    return predict_stream(
        clf, texts=args.texts, file=args.file, output=args.output, as_json=args.json, batch_size=args.batch_size
    )


def cmd_export(args) -> int:
    from emodraw.export import export

    if args.opset < 14:
        raise EmodrawError(f"--opset {args.opset}: needs 14 or newer")
    report = export(
        args.checkpoint,
        args.output,
        int8=args.int8,
        force=args.force,
        opset=args.opset,
        data=args.data,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(f"exported to {args.output} (default model: {report['default']})")
    return 0


def cmd_serve(args) -> int:
    from emodraw.serve.app import ServeOptions, serve

    if args.max_in_flight < 1:
        raise EmodrawError(f"--max-in-flight {args.max_in_flight}: needs at least 1")
    serve(
        args.checkpoint,
        args.host,
        args.port,
        threads=args.threads,
        options=ServeOptions(max_in_flight=args.max_in_flight, batch_window_ms=args.batch_window_ms),
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    return 0


def cmd_compare(args) -> int:
    from emodraw.compare import compare

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models and not args.runs:
        raise EmodrawError("nothing to compare: give --models A,B,... and/or --runs RUN_DIR ...")
    if not 0 < args.portion <= 1:
        raise EmodrawError(f"--portion {args.portion}: must be in (0, 1]")
    compare(
        models,
        args.output_dir,
        epochs=args.epochs,
        portion=args.portion,
        seeds=args.seeds,
        runs=args.runs,
        data_dir=args.data_dir,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        log=lambda m: print(m, file=sys.stderr),
    )
    print((Path(args.output_dir) / "compare.md").read_text(), end="")
    print(f"table: {Path(args.output_dir) / 'compare.md'}  chart: {Path(args.output_dir) / 'compare.png'}")
    return 0


def cmd_check_data(args) -> int:
    from emodraw.data.audit import audit_splits, format_report, problems
    from emodraw.data.splits import load_splits

    if args.examples < 0:
        raise EmodrawError(f"--examples {args.examples}: must be 0 or more")
    splits = load_splits(args.data_dir, args.train_file, args.val_file, args.test_file, skip_invalid=args.skip_invalid)
    report = audit_splits(splits, max_examples=args.examples)
    print(json.dumps(report) if args.json else format_report(report, examples=args.examples))
    return 1 if args.strict and problems(report) else 0


def cmd_average(args) -> int:
    from emodraw.average import average_checkpoints, parse_epochs, run_epochs

    if bool(args.run) != bool(args.epochs):
        raise EmodrawError("--run and --epochs go together")
    sources = [*args.checkpoints, *(run_epochs(args.run, parse_epochs(args.epochs)) if args.run else [])]
    out = average_checkpoints(sources, args.output, log=lambda m: print(m, file=sys.stderr))
    print(f"averaged {len(sources)} checkpoints into {out}  (next: emodraw evaluate {out} --split val)")
    return 0


def cmd_report(args) -> int:
    from emodraw.results import report

    table = report(args.runs)
    if args.output:
        Path(args.output).write_text(table)
    print(table, end="")
    return 0


COMMANDS = {
    "train": cmd_train,
    "adapt": cmd_adapt,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "export": cmd_export,
    "serve": cmd_serve,
    "compare": cmd_compare,
    "check-data": cmd_check_data,
    "average": cmd_average,
    "report": cmd_report,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    args.argv = argv
    if extra:
        # argparse stops filling `predict`'s TEXT... after an option; take texts given after one.
        if args.command == "predict" and not any(e.startswith("-") for e in extra):
            args.texts = [*args.texts, *extra]
        else:
            parser.parse_args(argv)  # reports the unknown option (with a suggestion) and exits 2
    try:
        return COMMANDS[args.command](args)
    except EmodrawError as exc:
        print(f"emodraw {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"emodraw {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
