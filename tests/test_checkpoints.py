"""Exact resume after real SIGKILLs, crash-safe checkpoints, no code from files, multi-process training."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.cli import run_cli
from safetensors.torch import load_file

from emodraw import Classifier
from emodraw.checkpoints import find_checkpoints
from emodraw.errors import CheckpointError

HELPER = Path(__file__).parent / "helpers" / "kill_during_train.py"
CLI = [sys.executable, "-m", "emodraw.cli"]


def train_args(tiny_albert, small_data, out, epochs=4, seed=7):
    return [
        "--model",
        str(tiny_albert),
        "--data-dir",
        str(small_data),
        "--epochs",
        str(epochs),
        "--seed",
        str(seed),
        "--batch-size",
        "16",
        "--learning-rate",
        "3e-3",
        "--no-freeze-embeddings",
        "--precision",
        "fp32",
        "--no-plots",
        "--output-dir",
        str(out),
    ]


def metrics(run_dir):
    with open(run_dir / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def last_weights(run_dir):
    return load_file(str(find_checkpoints(run_dir)["last"] / "model.safetensors"))


def weight_difference(run_a, run_b):
    a, b = last_weights(run_a), last_weights(run_b)
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def resume_inside_epoch_3(out, after_step):
    """`train --resume out`, which must go on from inside epoch 3, after `after_step` steps of the run."""
    resumed = subprocess.run([*CLI, "train", "--resume", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    steps = int(re.search(r"(\d+) steps per epoch", resumed.stderr).group(1))
    assert f"inside epoch 3, after step {after_step - 2 * steps} of {steps}" in resumed.stderr


@pytest.fixture(scope="module")
def straight(tiny_albert, small_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "straight"
    done = subprocess.run([*CLI, "train", *train_args(tiny_albert, small_data, out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize(
    "point", ["after-state:2", "step:45", "save:4"], ids=["after-epoch-2", "mid-epoch-3", "during-a-checkpoint-save"]
)
def test_killed_then_resumed_equals_straight(point, straight, tiny_albert, small_data, tmp_path):
    out = tmp_path / "killed"
    killed = subprocess.run(
        [sys.executable, str(HELPER), point, *train_args(tiny_albert, small_data, out)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # Whatever survived the kill is complete and loadable; nothing half-written is picked.
    for path in find_checkpoints(out).values():
        Classifier.load(path)
    assert len(metrics(out)) < 4

    resumed = subprocess.run([*CLI, "train", "--resume", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]  # leftovers cleaned

    assert weight_difference(straight, out) < 1e-5
    rows_a, rows_b = metrics(straight), metrics(out)
    assert [r["epoch"] for r in rows_b] == ["1", "2", "3", "4"]
    for ra, rb in zip(rows_a, rows_b):
        assert abs(float(ra["val_loss"]) - float(rb["val_loss"])) < 1e-5
        assert abs(float(ra["train_loss"]) - float(rb["train_loss"])) < 1e-5
    assert json.loads((out / "results.json").read_text())[0]["checkpoint_saved_from"] == "Epoch 4"
    assert len(json.loads((out / "run.json").read_text())["resumed"]) == 1


def test_killed_inside_an_epoch_resumes_from_its_last_save_there(straight, tiny_albert, small_data, tmp_path):
    """--save-every-minutes: with a save due after every step, a kill at step 45 (inside epoch 3) loses one
    step, and the resumed run goes on from step 44 to the weights of the uninterrupted run."""
    out = tmp_path / "killed"
    args = [*train_args(tiny_albert, small_data, out), "--save-every-minutes", "1e-9"]
    killed = subprocess.run([sys.executable, str(HELPER), "step:45", *args], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(metrics(out)) == 2
    resume_inside_epoch_3(out, after_step=44)
    assert weight_difference(straight, out) < 1e-6
    for ra, rb in zip(metrics(straight), metrics(out), strict=True):
        assert abs(float(ra["train_loss"]) - float(rb["train_loss"])) < 1e-6
        assert abs(float(ra["val_loss"]) - float(rb["val_loss"])) < 1e-6


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_saves_the_state_then_stops(name, straight, tiny_albert, small_data, tmp_path):
    """The signal comes at step 45, inside epoch 3: that step finishes, the state is saved after it, the run
    stops with 130, and the resumed run loses nothing (save timer off: only the signal saves)."""
    out = tmp_path / "stopped"
    args = [*train_args(tiny_albert, small_data, out), "--save-every-minutes", "0"]
    stopped = subprocess.run(
        [sys.executable, str(HELPER), f"{name.lower()}:45", *args], capture_output=True, text=True
    )
    assert stopped.returncode == 130, stopped.stderr
    assert f"{name}: stopping once the resumable state is saved" in stopped.stderr
    assert stopped.stderr.rstrip().endswith("emodraw train: interrupted")
    resume_inside_epoch_3(out, after_step=45)
    assert weight_difference(straight, out) < 1e-6


def test_resume_refuses_new_options(straight):
    result = run_cli("train", "--resume", straight, "--epochs", "9")
    assert result.returncode == 2 and "own saved config" in result.stderr


def test_run_manifest_has_what_a_rerun_needs(straight, small_data):
    manifest = json.loads((straight / "run.json").read_text())
    assert manifest["seed"] == 7 and manifest["config"]["epochs"] == 4
    assert {"python", "torch", "transformers", "accelerate", "emodraw"} <= set(manifest["versions"])
    assert manifest["data"]["train"]["lines"] == 300 and len(manifest["data"]["train"]["sha256"]) == 64
    assert manifest["device"]["type"] == "cpu" and manifest["device"]["processes"] == 1
    assert "git_commit" in manifest


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, tiny_run):
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    folder = tmp_path / "model"
    shutil.copytree(tiny_run.checkpoints["best"], folder)
    torch.save({"weight": Evil()}, folder / "evil.pth")
    result = run_cli("evaluate", folder / "evil.pth")
    assert result.returncode == 2
    assert "refused" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not canary.exists()


def test_plain_state_dict_pth_loads_with_weights_only(tmp_path, tiny_run):
    folder = tmp_path / "model"
    shutil.copytree(tiny_run.checkpoints["best"], folder)
    reference = Classifier.load(folder, precision="fp32")
    torch.save(reference.model.state_dict(), folder / "weights.pth")
    from_pth = Classifier.load(folder / "weights.pth", precision="fp32")
    texts = ["i feel wonderful today", "i am scared"]
    assert torch.allclose(torch.from_numpy(from_pth.logits(texts)), torch.from_numpy(reference.logits(texts)))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "model.safetensors"),
        ("flip-a-byte", "model.safetensors"),
        ("truncate-without-manifest", "no manifest.json"),  # an emodraw checkpoint is never loaded unchecked
        ("truncate-a-plain-transformers-folder", "cannot load"),  # no emodraw.json, no manifest: the loader says
    ],
)
def test_damaged_checkpoint_gives_one_clear_line(tmp_path, tiny_run, damage, message):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_run.checkpoints["best"], folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if damage == "flip-a-byte":
        weights.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        weights.write_bytes(data[: len(data) // 2])
    if damage.startswith("truncate-"):
        (folder / "manifest.json").unlink()
    if damage == "truncate-a-plain-transformers-folder":
        (folder / "emodraw.json").unlink()
    with pytest.raises(CheckpointError, match=message):
        Classifier.load(folder)
    result = run_cli("evaluate", folder)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_half_written_checkpoint_is_never_picked(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    partial = run / "checkpoints" / ".tmp-multiclass_default_tiny-albert_best_checkpoint-999"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert find_checkpoints(run)["best"].name == "multiclass_default_tiny-albert_best_checkpoint"
    assert Classifier.load(run).path.name == "multiclass_default_tiny-albert_best_checkpoint"


@pytest.mark.slow
def test_two_processes_on_cpu_match_one(tiny_albert, small_data, tmp_path):
    def args(out):  # batch 8: 300 sentences make more than 20 steps, so the processes agree on a save at step 20
        return [*train_args(tiny_albert, small_data, out, epochs=1, seed=3), "--batch-size", "8"]

    two = subprocess.run(
        [*CLI, "train", *args(tmp_path / "two"), "--num-processes", "2", "--save-every-minutes", "1e-9"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr
    assert "cpu x2" in two.stderr
    # Saving inside the epoch (each process asks its own clock; they agree every 20 steps) changes nothing.
    assert "saved the resumable state inside epoch 1, after step 20 of" in two.stderr
    assert two.stdout.count("| Experiment No.") == 1  # only the main process reports
    found = sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir())
    assert found == [
        "multiclass_default_tiny-albert_best_checkpoint",
        "multiclass_default_tiny-albert_epoch1_checkpoint",
    ]
    one = subprocess.run([*CLI, "train", *args(tmp_path / "one")], capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    m1, m2 = metrics(tmp_path / "one")[0], metrics(tmp_path / "two")[0]
    # Same global batch and data order; only dropout masks and summation order differ.
    assert abs(float(m1["train_loss"]) - float(m2["train_loss"])) < 0.02
    assert abs(float(m1["val_loss"]) - float(m2["val_loss"])) < 0.02


def test_tensorboard_scalars_per_epoch(tiny_albert, small_data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from emodraw import train

    run = train(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "tb"),
        epochs=2,
        report_to="tensorboard",
        plots=False,
        progress=False,
        precision="fp32",
    )
    accumulators = [EventAccumulator(str(p)) for p in (run.run_dir / "logs").rglob("events.out.tfevents.*")]
    for accumulator in accumulators:
        accumulator.Reload()
    accumulator = next(a for a in accumulators if a.Tags()["scalars"])  # the other file holds the run's config
    assert {"train_loss", "val_loss", "val_accuracy", "val_f1_macro"} <= set(accumulator.Tags()["scalars"])
    logged = [(e.step, e.value) for e in accumulator.Scalars("val_loss")]
    assert [s for s, _ in logged] == [1, 2]
    assert logged[1][1] == pytest.approx(run.history[1]["val_loss"], rel=1e-5)


def test_resume_restores_the_weight_average(tiny_albert, small_data, tmp_path):
    """--ema-decay: checkpoints hold the average, so a resume must bring the average back too."""
    straight_dir, killed_dir = tmp_path / "straight-ema", tmp_path / "killed-ema"
    args = lambda out: [*train_args(tiny_albert, small_data, out, epochs=3), "--ema-decay", "0.9"]  # noqa: E731
    done = subprocess.run([*CLI, "train", *args(straight_dir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    killed = subprocess.run(
        [sys.executable, str(HELPER), "after-state:1", *args(killed_dir)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = subprocess.run([*CLI, "train", "--resume", str(killed_dir)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert weight_difference(straight_dir, killed_dir) < 1e-5


def test_old_model_cards_import_still_registers_the_mean_pooled_head():
    """Cards of mean-pooled checkpoints written before the package split say `import emodraw.pooling`."""
    code = (
        "import emodraw.pooling as old, emodraw.modeling.pooling as new; from transformers import AutoConfig; "
        "assert old.MeanPooledBertConfig is new.MeanPooledBertConfig; "
        "assert type(AutoConfig.for_model(old.MEAN_POOLED_TYPE)) is new.MeanPooledBertConfig"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_new_model_cards_name_the_new_module(tiny_run):
    from emodraw.model_card import model_card

    meta = json.loads((tiny_run.checkpoints["best"] / "emodraw.json").read_text())
    meta["config"] = {**meta["config"], "pooling": "mean"}
    card = model_card(meta, "emodraw.json")
    assert "import emodraw.modeling.pooling" in card and "import emodraw.pooling`" not in card
