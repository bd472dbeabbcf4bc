"""What each command does: given its options dataclass (built from the flags its parser was generated
from), call the Python API and print.

Heavy modules (torch, transformers, ...) are imported inside the functions, so that `emodraw --help`
and option errors stay fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emodraw.cli.flags import env_description, from_args, read_environment
from emodraw.config import (
    OPTION_NAMES,
    AdaptConfig,
    AverageConfig,
    CheckDataConfig,
    CompareConfig,
    EvaluateConfig,
    ExportConfig,
    PredictConfig,
    ReportConfig,
    ServeConfig,
    TrainCommand,
    TrainConfig,
    available_presets,
    resolve_config,
)
from emodraw.errors import EmodrawError


@dataclass(frozen=True)
class Command:
    name: str
    options: type  # the dataclass the parser is generated from and the function receives
    function: Callable[..., int]
    help: str
    description: str | None = None
    config: type | None = None  # train: TrainConfig, whose flags form a group of their own
    takes_args: bool = False  # train also reads the namespace: which training options were typed, argv

    def run(self, args) -> int:
        cfg = from_args(args, self.options)
        return self.function(cfg, args) if self.takes_args else self.function(cfg)


COMMANDS: dict[str, Command] = {}


def command(name: str, options: type, help: str, description: str | None = None, env_prefix: str | None = None, **kw):
    """Register the function as `emodraw NAME`; its parser is generated from `options` (and `config`).
    With `env_prefix`, every option may also be given as the environment variable ENV_PREFIX<NAME> (a flag
    wins), and --help says so: for a command run as a service, where the environment is the configuration."""
    if env_prefix is not None:
        read_environment(options, env_prefix)
        description = f"{description or help[0].upper() + help[1:] + '.'} {env_description(env_prefix)}"

    def register(function):
        COMMANDS[name] = Command(name, options, function, help, description, **kw)
        return function

    return register


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_config_from_args(args) -> TrainConfig:
    """Defaults, then --experiment's preset, then --config FILE, then the flags the user typed."""
    overrides = {name: getattr(args, name) for name in OPTION_NAMES if hasattr(args, name)}
    return resolve_config(getattr(args, "config_file", None), **overrides)


@command(
    "train",
    TrainCommand,
    help="fine-tune a model (default: the embedded MiniLM, offline, ~10 min on a laptop CPU)",
    description="Fine-tune an encoder; keep the last and the lowest-validation-loss checkpoints; evaluate both "
    f"on test. Presets (--experiment): {', '.join(available_presets())}.",
    config=TrainConfig,
    takes_args=True,
)
def cmd_train(run: TrainCommand, args) -> int:
    from emodraw.training.trainer import train

    typed = [name for name in OPTION_NAMES if hasattr(args, name)]
    if run.resume and (typed or run.config_file):
        raise EmodrawError("--resume continues a run with its own saved config; drop the other training options")
    if run.num_processes > 1:
        return launch_processes(args, run)
    if run.resume:
        result = train(resume=run.resume, progress=run.progress)
    else:
        result = train(train_config_from_args(args), progress=run.progress)
    if result.rows:  # only the main process has them; the others stay quiet
        from emodraw.results import markdown_table

        print(markdown_table(result.rows), end="")
        print(f"run folder: {result.run_dir}")
    return 0


def launch_processes(args, run: TrainCommand) -> int:
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
    if not run.resume and "--output-dir" not in child:
        # Chosen once here, so that every process writes into the same, new folder.
        child += ["--output-dir", str(choose_run_dir(train_config_from_args(args)))]
    n = run.num_processes
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


@command(
    "adapt",
    AdaptConfig,
    help="continue a backbone's masked-LM pretraining on in-domain sentences; then train --model OUT",
    description="Domain-adaptive pretraining: masked-language-model training of the backbone's encoder on "
    "unlabelled sentences (by default the training split's, labels ignored; validation and test stay unseen). "
    "Writes a model folder (safetensors + tokenizer + adapt.json) for `emodraw train --model DIR`.",
)
def cmd_adapt(cfg: AdaptConfig) -> int:
    from emodraw.training.adaptation import adapt

    out = adapt(cfg)
    print(f"adapted backbone: {out}  (next: emodraw train --model {out} ...)")
    return 0


@command(
    "evaluate",
    EvaluateConfig,
    help="score a checkpoint on the val/test split or a labelled file",
)
def cmd_evaluate(cfg: EvaluateConfig) -> int:
    from emodraw.inference.evaluation import evaluate
    from emodraw.metrics import format_metrics

    metrics = evaluate(
        cfg.checkpoint,
        revision=cfg.revision,
        split=cfg.split,
        data=cfg.data,
        batch_size=cfg.batch_size,
        skip_invalid=cfg.skip_invalid,
        long_text=cfg.long_text,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        no_header=cfg.no_header,
        label_names=cfg.label_names,
        label_separator=cfg.label_separator,
        device=cfg.device,
        precision=cfg.precision,
        threads=cfg.threads,
        progress=cfg.progress,
    )
    if cfg.json:
        print(json.dumps(metrics))
    else:
        print(f"{metrics['checkpoint']} on {metrics['data']}")
        print(format_metrics(metrics))
    return 0


@command(
    "predict",
    PredictConfig,
    help="label texts given as arguments, in a file, or on stdin",
)
def cmd_predict(cfg: PredictConfig) -> int:
    from emodraw.inference.classifier import Classifier
    from emodraw.inference.streaming import predict_stream

    clf = Classifier.load(
        cfg.checkpoint, revision=cfg.revision, device=cfg.device, precision=cfg.precision, threads=cfg.threads
    )
    return predict_stream(
        clf,
        texts=list(cfg.texts),
        file=cfg.file,
        output=cfg.output,
        as_json=cfg.json,
        batch_size=cfg.batch_size,
        force=cfg.force,
        explain=cfg.explain,
        long_text=cfg.long_text,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        no_header=cfg.no_header,
    )


@command(
    "export",
    ExportConfig,
    help="export a checkpoint to ONNX (and int8) with a parity check",
)
def cmd_export(cfg: ExportConfig) -> int:
    from emodraw.export import export

    options = {"int8": cfg.int8, "force": cfg.force, "opset": cfg.opset, "data": cfg.data}
    report = export(cfg.checkpoint, cfg.output, revision=cfg.revision, **options, log=_stderr)
    print(f"exported to {cfg.output} (default model: {report['default']})")
    return 0


@command("serve", ServeConfig, help="HTTP API + the Emotion Draw web page", env_prefix="EMODRAW_")
def cmd_serve(cfg: ServeConfig) -> int:
    from emodraw.serve.app import ServeOptions
    from emodraw.serve.runner import serve

    options = ServeOptions(
        max_in_flight=cfg.max_in_flight,
        batch_window_ms=cfg.batch_window_ms,
        api_key=cfg.api_key,
        body_timeout_s=cfg.body_timeout_s,
        long_text=cfg.long_text,
        cors_origin=cfg.cors_origin,
        access_log=cfg.access_log,
    )
    serve(cfg.checkpoint, cfg.host, cfg.port, threads=cfg.threads, options=options, revision=cfg.revision, log=_stderr)
    return 0


@command(
    "compare",
    CompareConfig,
    help="train several models the same way and compare them (table + chart)",
)
def cmd_compare(cfg: CompareConfig) -> int:
    from emodraw.compare import compare

    compare(
        cfg.model_list,
        cfg.output_dir,
        epochs=cfg.epochs,
        portion=cfg.portion,
        seeds=cfg.seeds,
        runs=list(cfg.runs),
        revision=cfg.revision,
        data_dir=cfg.data_dir,
        experiment=cfg.experiment,
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        int8=cfg.int8,
        published=cfg.published,
        log=_stderr,
    )
    out = Path(cfg.output_dir)
    print((out / "compare.md").read_text(), end="")
    print(f"table: {out / 'compare.md'}  chart: {out / 'compare.png'}")
    return 0


@command(
    "check-data",
    CheckDataConfig,
    help="count repeated sentences within and across train/val/test, and ones with two labels",
    description="Audit a data folder before trusting its scores: sentences per split and label, repeats, "
    "validation/test sentences that also occur in training (and with another label there), and sentences "
    "written down with two labels. Sentences are compared lower-cased with white space collapsed.",
)
def cmd_check_data(cfg: CheckDataConfig) -> int:
    from emodraw.data.audit import audit_splits, format_report, problems
    from emodraw.data.columns import Columns
    from emodraw.data.splits import load_splits

    files = (cfg.data_dir, cfg.train_file, cfg.val_file, cfg.test_file)
    reading = {
        "columns": Columns.from_config(cfg),
        "label_names": cfg.label_names,
        "multi_label": cfg.multi_label,
        "label_separator": cfg.label_separator,
    }
    splits = load_splits(*files, skip_invalid=cfg.skip_invalid, **reading)
    if splits.hint:
        _stderr(splits.hint)
    report = audit_splits(splits, max_examples=cfg.examples)
    print(json.dumps(report) if cfg.json else format_report(report, examples=cfg.examples))
    return 1 if cfg.strict and problems(report) else 0


@command(
    "average",
    AverageConfig,
    help="average the weights of several checkpoints (e.g. a run's last epochs) into one",
    description="Write one checkpoint whose weights are the uniform mean of the given checkpoints': the epochs "
    "of one run kept with `train --keep-every-epoch`, or runs of one recipe. Same architecture and labels "
    "required. Score the result with `emodraw evaluate OUT --split val`.",
)
def cmd_average(cfg: AverageConfig) -> int:
    from emodraw.average import average_checkpoints, parse_epochs, run_epochs

    sources = [*cfg.checkpoints, *(run_epochs(cfg.run, parse_epochs(cfg.epochs)) if cfg.run else [])]
    out = average_checkpoints(sources, cfg.output, log=_stderr)
    print(f"averaged {len(sources)} checkpoints into {out}  (next: emodraw evaluate {out} --split val)")
    return 0


@command(
    "report",
    ReportConfig,
    help="merge the results tables of runs into one markdown table",
)
def cmd_report(cfg: ReportConfig) -> int:
    from emodraw.results import report

    table = report(list(cfg.runs))
    if cfg.output:
        Path(cfg.output).write_text(table)
    print(table, end="")
    return 0
