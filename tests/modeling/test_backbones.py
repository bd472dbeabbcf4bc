"""Resolving and loading `--model`: a folder whose weights are only pickled is refused in one line."""

from helpers.cli import run_cli


def test_train_refuses_a_model_folder_with_pickled_weights_in_one_line(tmp_path, tiny_bert, small_data):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled-bert"
    shutil.copytree(tiny_bert, folder)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")  # plain tensors: even a harmless pickle is not read
    result = run_cli(
        "train",
        "--model",
        folder,
        "--data-dir",
        small_data,
        "--epochs",
        "1",
        "--output-dir",
        tmp_path / "run",
        "--no-plots",
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert (
        lines[-1].startswith("emodraw train: error: --model ")
        and "pytorch_model.bin holds pickled weights" in lines[-1]
    )
    assert not (tmp_path / "run" / "checkpoints").exists() or not any((tmp_path / "run" / "checkpoints").iterdir())
