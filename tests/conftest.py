import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Adapted backbones (`--adapt-epochs`) are cached; never in the user's own cache during tests.
os.environ.setdefault("EMODRAW_CACHE", tempfile.mkdtemp(prefix="emodraw-test-cache-"))

from tiny import make_tiny_albert, make_tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def tiny_albert(tmp_path_factory) -> Path:
    return make_tiny_albert(tmp_path_factory.mktemp("models") / "tiny-albert")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


def write_split_files(folder: Path, n_train: int = 300, n_val: int = 100, n_test: int = 100) -> Path:
    """A small copy of the bundled data: the first sentences of each split, same format."""
    from emodraw.data import bundled_data_dir

    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        lines = (bundled_data_dir() / f"{name}.txt").read_text(encoding="utf-8").splitlines()[:n]
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    return write_split_files(tmp_path_factory.mktemp("data") / "emotion-small")


# Options that make the tiny model learn visibly in a couple of epochs, fast, on CPU.
TINY_OPTIONS = dict(epochs=2, batch_size=16, learning_rate=3e-3, freeze_embeddings=False, warmup_ratio=0.0,
                    precision="fp32", plots=True, eval_batch_size=64)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_albert, small_data):
    """One finished training run of the tiny ALBERT, shared by the tests that only read it."""
    from emodraw import train

    out = tmp_path_factory.mktemp("runs") / "tiny-run"
    return train(model=str(tiny_albert), data_dir=str(small_data), output_dir=str(out), progress=False, **TINY_OPTIONS)
