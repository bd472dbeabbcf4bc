"""The CLI as users run it: the training run and the entry points (`python -m emodraw`, `python -m emodraw.cli`)
through a real subprocess; every other call in this process (helpers.cli: the same exit status and output,
without an interpreter start and a torch import per call)."""

import json
import subprocess
import sys

import pytest
from helpers.cli import run_cli

CLI = [sys.executable, "-m", "emodraw.cli"]


def run_subprocess(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600)


run = run_cli


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, tiny_albert, small_data):
    out = tmp_path_factory.mktemp("cli") / "D"
    result = run_subprocess(
        "train",
        "--model",
        tiny_albert,
        "--data-dir",
        small_data,
        "--epochs",
        2,
        "--portion",
        0.5,
        "--learning-rate",
        3e-3,
        "--no-freeze-embeddings",
        "--batch-size",
        16,
        "--output-dir",
        out,
    )
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_the_run_folder_and_prints_the_table(cli_run):
    out, result = cli_run
    assert (out / "config.yaml").is_file() and (out / "results.md").is_file()
    assert "| Experiment No. |" in result.stdout and f"run folder: {out}" in result.stdout
    assert "epoch 2/2" in result.stderr
    rows = json.loads((out / "results.json").read_text())
    assert rows[0]["data_portion"] == 0.5


def test_evaluate_json(cli_run):
    out, _ = cli_run
    best = next((out / "checkpoints").glob("*_best_checkpoint"))
    result = run("evaluate", best, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"accuracy", "f1_macro", "f1_weighted", "avg_loss", "per_class", "n"} <= set(metrics)
    assert metrics["n"] == 100 and set(metrics["per_class"]) >= {"joy", "surprise"}
    val = json.loads(run("evaluate", best, "--split", "val", "--json").stdout)
    assert val["data"].endswith("val.txt")


def test_evaluate_progress_counts_every_text_and_scores_as_without_it(cli_run, monkeypatch):
    from emodraw.inference import evaluation

    out, _ = cli_run
    best = next((out / "checkpoints").glob("*_best_checkpoint"))
    monkeypatch.setattr(evaluation, "PROGRESS_SLICE", 30)  # batches of 16: 100 test sentences in 7 slices
    shown = run("evaluate", best, "--json", "--batch-size", "16", "--progress")
    hidden = run("evaluate", best, "--json", "--batch-size", "16", "--no-progress")
    assert shown.returncode == hidden.returncode == 0, shown.stderr
    assert "evaluate: 100%" in shown.stderr and "100/100" in shown.stderr and "evaluate" not in hidden.stderr
    with_bar, without = json.loads(shown.stdout), json.loads(hidden.stdout)
    assert with_bar["n"] == 100 and with_bar == without  # the same batches: the same bits


def test_predict_json_from_arguments_and_stdin(cli_run):
    out, _ = cli_run
    best = next((out / "checkpoints").glob("*_best_checkpoint"))
    result = run("predict", best, "--json", "i feel wonderful today", "i am scared")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in lines] == ["i feel wonderful today", "i am scared"]
    for row in lines:
        assert row["label"] == max(row["scores"], key=row["scores"].get)
        assert abs(sum(row["scores"].values()) - 1) < 1e-4
    piped = run("predict", best, input="i feel wonderful today\n")
    assert piped.returncode == 0
    assert piped.stdout.split("\t")[0] == lines[0]["label"]


def test_report_merges_runs(cli_run):
    out, _ = cli_run
    result = run("report", out, out)
    assert result.returncode == 0
    assert len([row for row in result.stdout.splitlines() if row.startswith("| default")]) == 4


def test_train_file_without_label_on_line_51(tmp_path, small_data):
    lines = (small_data / "train.txt").read_text().splitlines()
    lines[50] = "this line has no label"
    bad = tmp_path / "train.txt"
    bad.write_text("\n".join(lines) + "\n")
    result = run("train", "--train-file", bad, "--val-file", small_data / "val.txt", "--output-dir", tmp_path / "o")
    assert result.returncode == 2
    assert "train.txt:51" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_option_gets_a_suggestion():
    result = run("train", "--learnig-rate", "1e-3")
    assert result.returncode == 2
    assert 'did you mean "--learning-rate"' in result.stderr and "Traceback" not in result.stderr


def test_unreachable_hub_model_says_how_to_use_a_folder(tmp_path):
    result = run("train", "--model", "albert-base-v2", "--output-dir", tmp_path / "o")
    assert result.returncode == 2
    assert "--model DIR" in result.stderr and "Traceback" not in result.stderr


def test_missing_checkpoint_is_one_line(tmp_path):
    result = run("evaluate", tmp_path / "nope")
    assert result.returncode == 2 and "no such checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_options_with_defaults():
    result = run("train", "--help")
    assert "--learning-rate FLOAT" in result.stdout and "default: 0.0001" in result.stdout


# -- the parsers are generated from the options dataclasses ---------------------------------------
def command_parsers():
    from emodraw.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if a.dest == "command"]
    return sub.choices


def option_classes(name):
    from emodraw.cli import COMMANDS

    command = COMMANDS[name]
    return [cls for cls in (command.config, command.options) if cls is not None]


def test_every_command_has_a_parser_of_its_dataclass_fields_and_nothing_else():
    """A field without a flag, or a flag without a field (typed by hand), is drift."""
    import dataclasses

    from emodraw.cli import COMMANDS

    parsers = command_parsers()
    assert (
        set(parsers)
        == set(COMMANDS)
        == {
            "train",
            "adapt",
            "evaluate",
            "predict",
            "export",
            "serve",
            "compare",
            "check-data",
            "average",
            "report",
            "push",
        }
    )
    for name, parser in parsers.items():
        dests = {a.dest for a in parser._actions if a.dest not in ("help", "help_all")}
        fields = {f.name for cls in option_classes(name) for f in dataclasses.fields(cls)}
        assert dests == fields, name


@pytest.mark.parametrize(
    "name",
    ["train", "adapt", "evaluate", "predict", "export", "serve", "compare", "check-data", "average", "report", "push"],
)
def test_help_lists_every_field_with_its_type_and_default(name, monkeypatch):
    import dataclasses

    monkeypatch.setenv("COLUMNS", "2000")  # no help text wrapped (argparse breaks lines at hyphens too)
    text = " ".join(command_parsers()[name].format_help().split())
    for cls in option_classes(name):
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if meta.get("advanced"):
                continue
            label = (meta.get("metavar") or f.name) if meta.get("positional") else meta.get("flag", flag_of(f.name))
            type_name = str(f.type).replace("| None", "").replace("tuple[", "").split(",")[0].strip(" ]")
            if meta.get("positional") in (True, "+"):
                tail = f"[{type_name}"
            elif meta.get("required") or f.default is dataclasses.MISSING:
                tail = f"[{type_name}, required]"
            else:
                shown = meta.get("default_text") or (", ".join(f.default) or "none" if f.default == () else f.default)
                tail = f"default: {shown}]"
            entry = f"{meta['help']} [{type_name}"
            assert entry in text, (name, f.name)
            at = text.index(entry)
            assert tail in text[at : at + len(entry) + len(tail) + 20], (name, f.name)
            assert f" {label} " in text[max(0, at - 120) : at] or f" {label}, " in text[max(0, at - 120) : at]
            if meta.get("choices"):
                assert "{" + ",".join(meta["choices"]) + "} " + meta["help"] in text, (name, f.name)


def flag_of(name):
    return "--" + name.replace("_", "-")


def test_help_shows_types_and_choices_in_the_flag_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")
    parsers = command_parsers()
    train = " ".join(parsers["train"].format_help().split())
    assert "--epochs INT " in train and "--learning-rate FLOAT, --lr FLOAT " in train
    assert "--device {auto,cpu,cuda} " in train and "--select-by {val_loss,val_score} " in train
    assert "--no-freeze-embeddings" in train and "--config FILE.yaml " in train
    evaluate = " ".join(parsers["evaluate"].format_help().split())
    assert "--split {val,test} " in evaluate and "[--split {val,test} | --data FILE]" in evaluate
    assert "--json " in evaluate and "--no-json" not in evaluate  # a plain switch, as before
    assert "TEXT " in parsers["predict"].format_help() and "[TEXT ...]" in parsers["predict"].format_help()


ADVANCED = ("--compile", "--fused-residual", "--attention-backend", "--fused-layernorm-grads", "--fused-bias-grads")


def test_engine_knobs_leave_train_help_but_stay_accepted(capsys):
    from emodraw.cli import build_parser, main, train_config_from_args

    result = run("train", "--help")
    assert result.returncode == 0 and "--help-all" in result.stdout
    assert not [knob for knob in ADVANCED if knob in result.stdout]
    assert "--fused-encoder" in result.stdout and "--cuda-graphs" in result.stdout  # measured wins stay
    every = run("train", "--help-all")
    assert every.returncode == 0 and all(knob in every.stdout for knob in ADVANCED)
    flat = " ".join(every.stdout.split())
    assert "[str, default: reduce]" in flat and "--attention-backend {efficient,pytorch,cudnn,math}" in flat
    args = build_parser().parse_args(
        ["train", "--compile", "--fused-residual", "bf16", "--attention-backend", "math"]
        + ["--fused-layernorm-grads", "deferred", "--fused-bias-grads", "gemv"]
    )
    config = train_config_from_args(args)
    assert (config.compile, config.fused_residual, config.attention_backend) == (True, "bf16", "math")
    assert (config.fused_layernorm_grads, config.fused_bias_grads) == ("deferred", "gemv")
    assert main(["train", "--fused-residual", "fp16"]) == 2
    assert "emodraw train: error: --fused-residual 'fp16': must be one of float32, bf16" in capsys.readouterr().err


def test_python_m_emodraw_prints_the_version():
    from emodraw.version import __version__

    for module in ("emodraw", "emodraw.cli"):
        result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.strip() == f"emodraw {__version__}", module


def test_help_and_option_errors_import_no_torch():
    code = (
        "import sys, contextlib, io\n"
        "from emodraw.cli import main\n"
        "argvs = ['train', '--help-all'], ['evaluate', '--help'], ['export', 'c', '--output', 'o', '--opset', '9']\n"
        "for argv in argvs:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try: main(argv)\n"
        "        except SystemExit: pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_adapt_has_the_flags_its_checks_name(tmp_path, capsys):
    """AdaptConfig checked --warmup-ratio, which `emodraw adapt` did not have."""
    from emodraw.cli import build_parser, main
    from emodraw.cli.flags import from_args
    from emodraw.config import AdaptConfig

    args = build_parser().parse_args(
        ["adapt", "--output-dir", "o", "--warmup-ratio", "0.2", "--weight-decay", "0", "--text-file", "a"]
        + ["--text-file", "b", "--lr", "3e-4"]
    )
    cfg = from_args(args, AdaptConfig)
    assert (cfg.warmup_ratio, cfg.weight_decay, cfg.learning_rate) == (0.2, 0.0, 3e-4)
    assert cfg.text_files == ("a", "b") and cfg.epochs == 3 and cfg.output_dir == "o"
    assert main(["adapt", "--output-dir", str(tmp_path / "new"), "--warmup-ratio", "1"]) == 2
    assert capsys.readouterr().err.strip() == "emodraw adapt: error: --warmup-ratio: must be in [0, 1)"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "c", "--output", "o", "--opset", "13"], "emodraw export: error: --opset 13: needs 14 or newer"),
        (["serve", "c", "--max-in-flight", "0"], "emodraw serve: error: --max-in-flight 0: needs at least 1"),
        (["compare"], "emodraw compare: error: nothing to compare: give --models A,B,... and/or --runs RUN_DIR ..."),
        (["compare", "--models", "a", "--portion", "2"], "emodraw compare: error: --portion 2.0: must be in (0, 1]"),
        (["check-data", "--examples", "-1"], "emodraw check-data: error: --examples -1: must be 0 or more"),
        (["average", "--output", "o", "--run", "r"], "emodraw average: error: --run and --epochs go together"),
        (["predict", "c", "a", "--file", "f"], "emodraw predict: error: give texts as arguments or --file, not both"),
        (["train", "--num-processes", "0"], "emodraw train: error: --num-processes 0: needs at least 1"),
        (["train", "--resume", "r", "--epochs", "2"], "emodraw train: error: --resume continues a run with its own"),
        (
            ["evaluate", "c", "--batch-size", "0"],
            "emodraw evaluate: error: --batch-size 0: must be a whole number >= 1",
        ),
    ],
)
def test_option_errors_are_one_line_naming_the_flag(argv, message, capsys):
    from emodraw.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["evaluate", "c", "--split", "train"], "argument --split: invalid choice: 'train'"),
        (["evaluate", "c", "--split", "val", "--data", "f"], "argument --data: not allowed with argument --split"),
        (["train", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (["export", "c"], "the following arguments are required: --output"),
        (["report"], "the following arguments are required: RUN_DIR"),
        (["evaluate", "c", "--batchsize", "3"], 'unknown option --batchsize (did you mean "--batch-size"?)'),
    ],
)
def test_parser_errors_exit_2_with_one_line(argv, fragment, capsys):
    from emodraw.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_suggestions_come_from_the_command_typed():
    """`predict --bogus` once suggested compare's --runs."""
    result = run("predict", "c", "--bogus", "x")
    assert result.returncode == 2 and result.stderr.strip() == "emodraw: error: unknown option --bogus"


# -- hostile option values (issue "Hostile input and faults", #11): one line, exit 2, before anything runs --
@pytest.mark.parametrize(
    "argv, message",
    [
        (["serve", "c", "--port", "99999"], "emodraw serve: error: --port 99999: must be a whole number <= 65535"),
        (["serve", "c", "--port", "-1"], "emodraw serve: error: --port -1: must be a whole number >= 0"),
        (["serve", "c", "--body-timeout", "0"], "emodraw serve: error: --body-timeout 0.0: must be a number > 0"),
        (["serve", "c", "--body-timeout", "nan"], "emodraw serve: error: --body-timeout nan: must be a number > 0"),
        (["train", "--seed", "-1"], "emodraw train: error: --seed -1: must be a whole number >= 0"),
        (
            ["adapt", "--output-dir", "o", "--seed", "-1"],
            "emodraw adapt: error: --seed -1: must be a whole number >= 0",
        ),
        (["predict", "c", "--batch-size", "0"], "emodraw predict: error: --batch-size 0: must be a whole number >= 1"),
        (
            ["predict", "c", "--batch-size", "-3"],
            "emodraw predict: error: --batch-size -3: must be a whole number >= 1",
        ),
        (["evaluate", "c", "--batch-size", "-1"], "emodraw evaluate: error: --batch-size -1: must be a whole number"),
        (
            ["evaluate", "c", "--threads", "100000"],
            "emodraw evaluate: error: --threads 100000: must be a whole number",
        ),
        (["compare", "--models", "a", "--epochs", "0"], "emodraw compare: error: --epochs 0: must be a whole number"),
    ],
)
def test_hostile_option_values_are_one_line_before_anything_runs(argv, message):
    result = run(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr  # serve announced nothing


@pytest.mark.parametrize("kind", ["folder", "missing", "list"])
def test_config_file_problems_are_one_line(tmp_path, kind):
    path = tmp_path / "options.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "list":
        path.write_text("- epochs\n- 2\n")
    result = run("train", "--config", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"emodraw train: error: {path}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_passes_its_options_to_the_server(monkeypatch):
    """`serve` hands --api-key (or $EMODRAW_API_KEY), --body-timeout, --long-text, --cors-origin and --access-log to
    ServeOptions."""
    from emodraw.cli import main

    seen = {}
    # the server itself is not the point here
    monkeypatch.setattr("emodraw.serve.runner.serve", lambda *a, **k: seen.update(vars(k["options"]), served=True))
    monkeypatch.setenv("EMODRAW_API_KEY", "from-env")
    assert main(["serve", "c", "--body-timeout", "2.5"]) == 0
    assert seen["api_key"] == "from-env" and seen["body_timeout_s"] == 2.5 and seen["served"]
    assert seen["long_text"] == "truncate" and seen["cors_origin"] == () and seen["access_log"] is False
    assert main(["serve", "c", "--api-key", "typed"]) == 0 and seen["api_key"] == "typed"
    argv = ["serve", "c", "--long-text", "chunk", "--cors-origin", "https://a.example", "--access-log"]
    assert main(argv + ["--cors-origin", "http://b.example:8080"]) == 0
    assert seen["long_text"] == "chunk" and seen["access_log"] is True
    assert seen["cors_origin"] == ("https://a.example", "http://b.example:8080")


def test_predict_passes_force(monkeypatch):
    import emodraw.inference.classifier as classifier
    import emodraw.inference.streaming as streaming
    from emodraw.cli import main

    seen = {}
    monkeypatch.setattr(classifier.Classifier, "load", classmethod(lambda cls, *a, **k: object()))
    monkeypatch.setattr(streaming, "predict_stream", lambda clf, **kwargs: seen.update(kwargs) or 0)
    assert main(["predict", "c", "a text", "--output", "o.jsonl", "--force"]) == 0
    assert seen["force"] is True and seen["output"] == "o.jsonl"
    assert main(["predict", "c", "a text"]) == 0 and seen["force"] is False
