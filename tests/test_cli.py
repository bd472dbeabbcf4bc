"""The CLI through a real subprocess, as users run it."""

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "emodraw.cli"]


def run(*args, input=None, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, input=input, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, tiny_albert, small_data):
    out = tmp_path_factory.mktemp("cli") / "D"
    result = run(
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
    assert len([l for l in result.stdout.splitlines() if l.startswith("| default")]) == 4


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
