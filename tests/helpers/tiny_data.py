"""Small data for tests: a few hundred bundled sentences per split, and options that make a tiny model learn fast."""

from __future__ import annotations

from pathlib import Path

# Options that make the tiny model learn visibly in a couple of epochs, fast, on CPU.
TINY_OPTIONS = dict(
    epochs=2,
    batch_size=16,
    learning_rate=3e-3,
    freeze_embeddings=False,
    warmup_ratio=0.0,
    precision="fp32",
    plots=True,
    eval_batch_size=64,
)


def write_split_files(folder: Path, n_train: int = 300, n_val: int = 100, n_test: int = 100) -> Path:
    """A small copy of the bundled data: the first sentences of each split, same format."""
    from emodraw.data.splits import bundled_data_dir

    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        lines = (bundled_data_dir() / f"{name}.txt").read_text(encoding="utf-8").splitlines()[:n]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
