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


# -- every command's options dataclass ------------------------------------------------------------
def all_option_classes():
    from emodraw.cli import COMMANDS

    return {cls for command in COMMANDS.values() for cls in (command.options, command.config) if cls}


def test_every_option_has_help_a_supported_type_and_an_allowed_default():
    import dataclasses

    from emodraw.config import field_kind

    classes = all_option_classes()
    assert len(classes) == 11
    for cls in classes:
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name}: no help"
            kind, many = field_kind(f)
            assert kind in (int, float, str, bool)
            if f.metadata.get("choices") and f.default is not dataclasses.MISSING:
                assert f.default in f.metadata["choices"], f"{cls.__name__}.{f.name}"


def test_only_engine_knobs_are_advanced():
    import dataclasses

    advanced = {f.name for cls in all_option_classes() for f in dataclasses.fields(cls) if f.metadata.get("advanced")}
    assert advanced == {"compile", "fused_residual", "attention_backend", "fused_layernorm_grads", "fused_bias_grads"}


@pytest.mark.parametrize(
    "cls, values, message",
    [
        ("ExportConfig", {"checkpoint": "c", "output": "o", "opset": 13}, "--opset 13: needs 14 or newer"),
        ("ServeConfig", {"checkpoint": "c", "max_in_flight": 0}, "--max-in-flight 0: needs at least 1"),
        ("ServeConfig", {"checkpoint": "c", "batch_window_ms": -1.0}, "--batch-window-ms -1.0: must be a number >= 0"),
        ("CompareConfig", {"models": " , "}, "nothing to compare"),
        ("CompareConfig", {"runs": ["r"], "portion": 0}, "--portion 0: must be in (0, 1]"),
        ("CheckDataConfig", {"examples": -2}, "--examples -2: must be 0 or more"),
        ("AverageConfig", {"output": "o", "epochs": "1-3"}, "--run and --epochs go together"),
        ("PredictConfig", {"checkpoint": "c", "texts": ["a"], "file": "f"}, "give texts as arguments or --file"),
        ("EvaluateConfig", {"checkpoint": "c", "device": "gpu"}, "--device 'gpu': must be one of auto, cpu, cuda"),
        ("EvaluateConfig", {"checkpoint": "c", "threads": -1}, "--threads -1: must be a whole number >= 0"),
        ("AdaptConfig", {"warmup_ratio": 1.0}, "--warmup-ratio: must be in [0, 1)"),
        ("AdaptConfig", {"precision": "fp16"}, "--precision 'fp16': must be one of auto, fp32, bf16"),
        ("TrainCommand", {"num_processes": 0}, "--num-processes 0: needs at least 1"),
    ],
)
def test_options_are_checked_when_built(cls, values, message):
    import emodraw.config

    with pytest.raises(ConfigError) as exc:
        getattr(emodraw.config, cls)(**values)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_options_build_with_their_defaults():
    from emodraw.config import AdaptConfig, CompareConfig, PredictConfig, ReportConfig

    assert PredictConfig(checkpoint="c", texts=["a", "b"]).texts == ("a", "b")
    assert CompareConfig(models="a, ,b").model_list == ["a", "b"]
    assert ReportConfig(runs=["r"]).runs == ("r",) and ReportConfig(runs=["r"]).output is None
    adapt = AdaptConfig(text_files=["x"])
    assert (adapt.text_files, adapt.output_dir, adapt.warmup_ratio) == (("x",), "adapted", 0.06)


def test_adapt_check_refuses_a_used_output_folder(tmp_path):
    from emodraw.config import AdaptConfig

    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="not empty; pick a new folder"):
        AdaptConfig(output_dir=str(tmp_path)).check()
    AdaptConfig(output_dir=str(tmp_path / "new")).check()  # a new folder is fine
