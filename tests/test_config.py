import pytest

from emodraw.config import TrainConfig, available_presets, load_preset, resolve_config
from emodraw.errors import ConfigError


def test_defaults_are_the_offline_default_job():
    config = resolve_config()
    assert config.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert config.experiment == "default" and config.experiment_tag == "default"


@pytest.mark.parametrize(
    "number, portion, lr, batch", [("1", 0.1, 1e-5, 32), ("2", 1.0, 1e-5, 32), ("3", 1.0, 2e-5, 64)]
)
def test_published_experiments(number, portion, lr, batch):
    config = resolve_config(experiment=number)
    assert (config.model, config.epochs, config.portion, config.learning_rate, config.batch_size) == (
        "albert-base-v2",
        20,
        portion,
        lr,
        batch,
    )
    assert config.experiment_tag == f"experiment{number}"
    assert config.freeze_embeddings is False


def test_precedence_preset_then_file_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("experiment: 3\nepochs: 5\nlearning_rate: 3e-5\n")
    config = resolve_config(path, epochs=7)
    assert config.batch_size == 64  # from preset 3
    assert config.learning_rate == 3e-5  # the file beats the preset (and "3e-5" is read as a number)
    assert config.epochs == 7  # the flag beats the file


def test_unknown_option_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match='unknown option .learnig_rate. \\(did you mean "learning_rate"\\?\\)'):
        resolve_config(learnig_rate=1e-3)
    path = tmp_path / "c.yaml"
    path.write_text("batchsize: 8\n")
    with pytest.raises(ConfigError, match=r'c\.yaml: unknown option .batchsize. \(did you mean "batch_size"\?\)'):
        resolve_config(path)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="no such preset"):
        load_preset("4")
    assert {"1", "2", "3", "default"} <= set(available_presets())


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("portion", 1.5),
        ("portion", 0),
        ("learning_rate", -1.0),
        ("precision", "fp8"),
        ("warmup_ratio", 1.0),
        ("batch_size", 2.5),
        ("eval_batch_size", -1),
        ("fused_residual", "fp16"),
        ("attention_backend", "flash"),
    ],
)
def test_bad_values_are_rejected_quoting_them(field, value):
    with pytest.raises(ConfigError, match=f"--{field.replace('_', '-')} {value!r}"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    "value, text", [(1e-5, "1e-5"), (2e-5, "2e-5"), (1.5e-4, "1.5e-4"), (2e-4, "2e-4"), (3e-3, "3e-3")]
)
def test_learning_rates_are_written_as_in_the_published_table(value, text):
    from emodraw.results import _lr

    assert _lr(value) == text
