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

from helpers.keyword_data import KEYWORD_OPTIONS, LONG_TEXT_OPTIONS, write_keyword_data, write_multi_label_keyword_data  # noqa: E402
from helpers.tiny_data import TINY_OPTIONS, write_split_files  # noqa: E402
from helpers.tiny_models import make_tiny_albert, make_tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def tiny_albert(tmp_path_factory) -> Path:
    return make_tiny_albert(tmp_path_factory.mktemp("models") / "tiny-albert")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    return write_split_files(tmp_path_factory.mktemp("data") / "emotion-small")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_albert, small_data):
    """One finished training run of the tiny ALBERT, shared by the tests that only read it."""
    from emodraw import train

    out = tmp_path_factory.mktemp("runs") / "tiny-run"
    return train(model=str(tiny_albert), data_dir=str(small_data), output_dir=str(out), progress=False, **TINY_OPTIONS)


@pytest.fixture(scope="module")
def teacher_run(tiny_run, tmp_path_factory):
    """The shared tiny run, copied once per module: as a teacher it gets a soft_labels/ cache, which must not
    reach the shared run (its folder layout is tested) nor carry over between modules."""
    from types import SimpleNamespace

    from helpers.runs import teacher_copy

    return SimpleNamespace(run_dir=teacher_copy(tiny_run.run_dir, tmp_path_factory.mktemp("teacher") / "tiny-run"))


@pytest.fixture(scope="session")
def keyword_run(tmp_path_factory, tiny_albert):
    """A tiny ALBERT run that has learned emotion keywords (helpers.keyword_data), maximum length 32 tokens."""
    from emodraw import train

    data = write_keyword_data(tmp_path_factory.mktemp("data") / "keywords")
    out = tmp_path_factory.mktemp("runs") / "keyword-run"
    result = train(model=str(tiny_albert), data_dir=str(data), output_dir=str(out), progress=False, **KEYWORD_OPTIONS)
    return result.run_dir


@pytest.fixture(scope="session")
def long_text_run(tmp_path_factory, tiny_albert):
    """A tiny ALBERT run for the long-text tests: keywords in sentences as long as its 46-token windows, and
    filler alone as sadness (helpers.keyword_data, long=True)."""
    from emodraw import train

    data = write_keyword_data(tmp_path_factory.mktemp("data") / "long-keywords", long=True)
    out = tmp_path_factory.mktemp("runs") / "long-text-run"
    return train(
        model=str(tiny_albert), data_dir=str(data), output_dir=str(out), progress=False, **LONG_TEXT_OPTIONS
    ).run_dir


@pytest.fixture(scope="session")
def multi_label_data(tmp_path_factory) -> Path:
    """Keyword sentences with one or two emotions each, in GoEmotions' layout (helpers.keyword_data)."""
    return write_multi_label_keyword_data(tmp_path_factory.mktemp("data") / "multi-label", n_train=900)


@pytest.fixture(scope="session")
def multi_label_run(tmp_path_factory, tiny_albert, multi_label_data):
    """A tiny ALBERT trained multi-label through the CLI on multi_label_data, as its documented command does."""
    from emodraw.cli import main

    out = tmp_path_factory.mktemp("runs") / "multi-label-run"
    # --prior-bias, as the goemotions preset: from probability 0.5 per label it took 40 epochs to learn these
    options = {**KEYWORD_OPTIONS, "epochs": 12, "prior_bias": True}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items() if not isinstance(v, bool)]
    flags += [f"--{'' if v else 'no-'}{k.replace('_', '-')}" for k, v in options.items() if isinstance(v, bool)]
    args = ["train", "--model", str(tiny_albert), "--data-dir", str(multi_label_data), "--multi-label"]
    assert main([*args, "--no-header", "--output-dir", str(out), "--no-progress", *flags]) == 0
    return out
