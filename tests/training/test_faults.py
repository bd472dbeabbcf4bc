"""Faults around a run (issue "Hostile input and faults"): a second process on the same run folder (#7), a
--max-length beyond the model's positions (#10), a full disk while saving (#15). Each ends in one line
and exit status 2 on the command line, an EmodrawError naming the path from the Python API."""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import yaml
from helpers.tiny_data import TINY_OPTIONS

from emodraw import train
from emodraw.checkpoints import find_checkpoints, verify_checkpoint
from emodraw.errors import EmodrawError

CLI = [sys.executable, "-m", "emodraw.cli"]


def run_cli(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600)


def one_line_error(result):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[-1]


@pytest.fixture
def finished_copy(tiny_run, tmp_path):
    """A copy of a finished run: `--resume` on it re-does only the final evaluation (cheap)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    return run


def write_lock(run, pid, host=None):
    (run / ".lock").write_text(json.dumps({"pid": pid, "host": host or socket.gethostname()}))


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# -- #7: one process per run folder ---------------------------------------------------------------
def test_resume_is_refused_while_another_process_trains_there(finished_copy):
    before = (finished_copy / "metrics.csv").read_text()
    write_lock(finished_copy, os.getpid())  # this test process is alive: as if it were training there
    result = run_cli("train", "--resume", finished_copy)
    line = one_line_error(result)
    assert line.startswith(
        f"emodraw train: error: {finished_copy}: another emodraw process (pid {os.getpid()}) is training in this "
        "run folder"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert (finished_copy / "metrics.csv").read_text() == before
    assert json.loads((finished_copy / ".lock").read_text())["pid"] == os.getpid()  # not taken from its owner


def test_a_lock_from_another_host_is_respected(finished_copy):
    write_lock(finished_copy, 1, host="elsewhere.example")
    line = one_line_error(run_cli("train", "--resume", finished_copy))
    assert "another emodraw process (pid 1 on elsewhere.example)" in line


def test_a_lock_left_by_a_dead_process_is_taken_over(finished_copy):
    pid = dead_pid()
    write_lock(finished_copy, pid)
    result = run_cli("train", "--resume", finished_copy)
    assert result.returncode == 0, result.stderr
    assert f"process {pid}" in result.stderr and "no longer running" in result.stderr
    assert not (finished_copy / ".lock").exists()  # released at the end


def test_the_lock_is_held_while_training_and_released_on_error(tiny_albert, small_data, tmp_path, monkeypatch):
    import emodraw.training.callbacks as callbacks

    seen = []

    def failing_metrics_row(trainer, *args):
        seen.append(json.loads((trainer.run_dir / ".lock").read_text()))
        raise RuntimeError("boom")

    monkeypatch.setattr(callbacks, "write_metrics_row", failing_metrics_row)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        train(model=str(tiny_albert), data_dir=str(small_data), output_dir=str(out), progress=False, **TINY_OPTIONS)
    assert seen == [{"pid": os.getpid(), "host": socket.gethostname()}]
    assert not (out / ".lock").exists()


def test_a_second_trainer_in_the_same_process_is_refused(tiny_albert, small_data, tmp_path):
    from emodraw.config import TrainConfig
    from emodraw.training.trainer import Trainer

    config = TrainConfig(model=str(tiny_albert), data_dir=str(small_data), output_dir=str(tmp_path / "r"))
    first = Trainer(config, progress=False)
    try:
        with pytest.raises(EmodrawError, match="another emodraw process"):
            train(resume=first.run_dir, progress=False)
    finally:
        first.close()
    assert not (first.run_dir / ".lock").exists()


# -- #10: --max-length beyond the model's positions -------------------------------------------------
@pytest.mark.parametrize(
    "kind, positions, pad, tokenizer_limit, expected",
    [
        ("bert", 128, 0, int(1e30), 128),  # the tokenizer's "no limit" sentinel is ignored
        ("bert", 512, 0, 256, 256),  # the tokenizer's real limit is lower
        ("roberta", 130, 1, int(1e30), 128),  # positions start after padding_idx: 130 - 1 - 1
        ("mpnet", 514, 1, int(1e30), 512),
    ],
)
def test_usable_length_of_a_model(kind, positions, pad, tokenizer_limit, expected):
    from types import SimpleNamespace

    from transformers import AutoConfig, AutoModel

    from emodraw.training.limits import usable_length

    config = AutoConfig.for_model(
        kind,
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        max_position_embeddings=positions,
        pad_token_id=pad,
    )
    model = AutoModel.from_config(config)
    assert usable_length(model, SimpleNamespace(model_max_length=tokenizer_limit)) == expected


def test_max_length_beyond_the_positions_is_clamped_and_recorded(tiny_albert, small_data, tmp_path):
    from emodraw import Classifier

    out = tmp_path / "r"
    result = run_cli(
        "train", "--model", tiny_albert, "--data-dir", small_data, "--epochs", 1, "--max-length", 100000,
        "--no-plots", "--output-dir", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--max-length 100000: the model has 128 positions; using 128" in result.stderr.splitlines()
    # What the run records is what it used, so that its checkpoints load and run on any text.
    assert yaml.safe_load((out / "config.yaml").read_text())["max_length"] == 128
    assert json.loads((out / "run.json").read_text())["config"]["max_length"] == 128
    best = find_checkpoints(out)["best"]
    assert json.loads((best / "emodraw.json").read_text())["config"]["max_length"] == 128
    assert len(Classifier.load(best).predict(["i feel " * 400])) == 1  # longer than the positions: cut


# -- #15: a full disk while saving ------------------------------------------------------------------
def full_disk_on_call(monkeypatch, module, name, call, exc):
    """Make `module.name` raise `exc` on its `call`-th call (the earlier ones work)."""
    real, count = getattr(module, name), {"n": 0}

    def failing(*args, **kwargs):
        count["n"] += 1
        if count["n"] == call:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize(
    "exc",
    [ENOSPC, "safetensors"],
    ids=["oserror", "safetensors-error"],
)
def test_a_full_disk_while_saving_the_state_names_it_and_keeps_the_previous(
    exc, tiny_albert, small_data, tmp_path, monkeypatch
):
    import emodraw.training.state as state

    if exc == "safetensors":  # what safetensors raises for a full disk: no OSError, the errno in the text
        from safetensors import SafetensorError

        exc = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    full_disk_on_call(monkeypatch, state, "save_file", 2, exc)  # the second epoch's state
    out = tmp_path / "run"
    with pytest.raises(EmodrawError) as raised:
        train(model=str(tiny_albert), data_dir=str(small_data), output_dir=str(out), progress=False, **TINY_OPTIONS)
    message = str(raised.value)
    assert message == f"{out / 'state'}: no space left on device (the previous checkpoint and state are intact)"
    verify_checkpoint(out / "state")  # epoch 1's, complete
    assert json.loads((out / "state" / "training_state.json").read_text())["epoch"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written folder, no lock
    assert not (out / "results.json").exists()


def test_a_full_disk_while_saving_a_checkpoint_names_it(tiny_albert, small_data, tmp_path, monkeypatch):
    import emodraw.files as files

    # atomic_folder fsyncs each folder it writes: epoch 1's checkpoint, best, state; then epoch 2's checkpoint.
    full_disk_on_call(monkeypatch, files, "_fsync_tree", 4, OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)))
    out = tmp_path / "run"
    with pytest.raises(EmodrawError) as raised:
        train(model=str(tiny_albert), data_dir=str(small_data), output_dir=str(out), progress=False, **TINY_OPTIONS)
    checkpoints = out / "checkpoints"
    assert str(raised.value).startswith(f"{checkpoints}{os.sep}multiclass_default_tiny-albert_epoch2_checkpoint: ")
    assert "disk quota exceeded (the previous checkpoint and state are intact)" in str(raised.value)
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "multiclass_default_tiny-albert_best_checkpoint",
        "multiclass_default_tiny-albert_epoch1_checkpoint",
    ]
    for path in checkpoints.iterdir():
        verify_checkpoint(path)


def test_a_full_disk_is_one_line_on_the_command_line(tiny_albert, small_data, tmp_path):
    out = tmp_path / "run"
    code = (
        "import errno, os, sys\n"
        "import emodraw.training.state as state\n"
        "def full(*a, **k): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
        "state.save_file = full\n"
        "from emodraw.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "train", "--model", str(tiny_albert), "--data-dir", str(small_data)]
        + ["--epochs", "1", "--no-plots", "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # The first epoch's state: there is no previous one to keep.
    assert one_line_error(result) == f"emodraw train: error: {out / 'state'}: no space left on device (nothing " + (
        "half-written was left)"
    )
    assert not (out / ".lock").exists()


def test_any_file_error_is_one_line_naming_the_file(tiny_run, tmp_path):
    """Not only training: an OSError with a file name (here `report --output` into a missing folder)."""
    target = tmp_path / "missing" / "table.md"
    line = one_line_error(run_cli("report", tiny_run.run_dir, "--output", target))
    assert line == f"emodraw report: error: {target}: No such file or directory"
