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


def test_every_preset_is_a_valid_configuration_and_names_itself():
    for name in available_presets():
        cfg = resolve_config(None, experiment=name)
        assert cfg.experiment == name, name
    large = resolve_config(None, experiment="large-full")
    assert large.model == "sentence-transformers/all-mpnet-base-v2" and large.epochs == 3
    # large-goemotions: goemotions' multi-label data settings with large-full's optimiser, nothing else
    small_go, large_go = (resolve_config(None, experiment=n) for n in ("goemotions", "large-goemotions"))
    data = ("multi_label", "per_label_thresholds", "prior_bias", "no_header", "max_length")
    assert all(getattr(large_go, k) == getattr(small_go, k) for k in data)
    optimiser = ("model", "epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "freeze_embeddings")
    assert all(getattr(large_go, k) == getattr(large, k) for k in optimiser)
    differs = {k for k in vars(large_go) if getattr(large_go, k) != getattr(small_go, k)}
    assert differs <= {"experiment", *optimiser}, differs
    distilled = resolve_config(None, experiment="offline-distilled")
    offline_full = resolve_config(None, experiment="offline-full")
    assert distilled.distill_from == "bundled" and distilled.model == offline_full.model
    # the distilled preset is offline-full plus the teacher's term, nothing else
    differs = {k for k in vars(distilled) if getattr(distilled, k) != getattr(offline_full, k)}
    assert differs == {"experiment", "distill_from"}, differs


def test_the_shipped_soft_labels_of_a_preset_apply_to_the_bundled_data_only(tmp_path):
    assert resolve_config(None).distill_from == "bundled"  # the default job, on the bundled data
    assert resolve_config(None, portion=0.1, seed=3).distill_from == "bundled"
    for own in ({"data_dir": str(tmp_path)}, {"train_file": "t.csv"}, {"dataset": "d"}, {"multi_label": True}):
        assert resolve_config(None, **own).distill_from is None, own
        if "multi_label" not in own:  # offline-distilled's class weights are single-label anyway
            assert resolve_config(None, experiment="offline-distilled", **own).distill_from is None, own
    # the large backbone is their teacher: it does not learn from an earlier run of itself unless asked to
    for name in ("mpnet", "sentence-transformers/all-mpnet-base-v2"):
        assert resolve_config(None, model=name).distill_from is None
    assert resolve_config(None, model="mpnet", distill_from="bundled").distill_from == "bundled"
    assert resolve_config(None, model="bert-base-uncased").distill_from == "bundled"
    # asked for by name, it stays (and is checked against the data when training starts)
    assert resolve_config(None, data_dir=str(tmp_path), distill_from="bundled").distill_from == "bundled"
    assert resolve_config(None, distill_from=None).distill_from is None
    assert resolve_config(None, distill_from="none").distill_from is None  # the flag's way to say it
    path = tmp_path / "c.yaml"
    path.write_text("data_dir: mine\n")
    assert resolve_config(path).distill_from is None


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
    assert len(classes) == 12  # train's two, then one per other command (push's included)
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
        ("TrainConfig", {"save_every_minutes": -1.0}, "--save-every-minutes -1.0: must be a number >= 0"),
        ("TrainConfig", {"save_every_minutes": float("nan")}, "--save-every-minutes nan: must be a number >= 0"),
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


# -- hostile values: every numeric option of every command refuses them with one line ------------
REQUIRED = {
    "EvaluateConfig": {"checkpoint": "c"},
    "PredictConfig": {"checkpoint": "c"},
    "ExportConfig": {"checkpoint": "c", "output": "o"},
    "ServeConfig": {"checkpoint": "c"},
    "CompareConfig": {"models": "a"},
    "AverageConfig": {"output": "o"},
    "ReportConfig": {"runs": ["r"]},
}


def numeric_fields():
    import dataclasses

    from emodraw.config import field_kind

    for cls in sorted(all_option_classes(), key=lambda c: c.__name__):
        for f in dataclasses.fields(cls):
            kind, many = field_kind(f)
            if kind in (int, float) and not many:
                yield cls, f.name, kind


@pytest.mark.parametrize("cls, name, kind", list(numeric_fields()), ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_numeric_option_refuses_negative_and_non_finite_values(cls, name, kind):
    import dataclasses

    values = [-1] if kind is int else [-1.0, float("nan"), float("inf"), float("-inf")]
    if kind is int:
        values += [2.5, True]  # a float or a YAML `yes` where a whole number is expected
    for value in values:
        with pytest.raises(ConfigError) as exc:
            cls(**{**REQUIRED.get(cls.__name__, {}), name: value})
        message = str(exc.value)
        field = next(f for f in dataclasses.fields(cls) if f.name == name)
        label = field.metadata.get("flag", f"--{name.replace('_', '-')}")
        assert message.startswith((label + " ", label + ":")), message
        assert "\n" not in message


@pytest.mark.parametrize(
    "cls, values, message",
    [
        ("TrainConfig", {"seed": -1}, "--seed -1: must be a whole number >= 0"),
        ("TrainConfig", {"seed": 2**32}, "--seed 4294967296: must be a whole number <= 4294967295"),
        ("TrainConfig", {"threads": 10**6}, "--threads 1000000: must be a whole number <= 1024"),
        ("TrainConfig", {"adapt_epochs": 1.5}, "--adapt-epochs 1.5: must be a whole number"),
        ("TrainConfig", {"data_dir": ["a"]}, "--data-dir ['a']: must be a string"),
        ("TrainConfig", {"plots": "maybe"}, "--plots 'maybe': must be true or false"),
        ("AdaptConfig", {"seed": -1}, "--seed -1: must be a whole number >= 0"),
        ("ServeConfig", {"checkpoint": "c", "port": 99999}, "--port 99999: must be a whole number <= 65535"),
        ("ServeConfig", {"checkpoint": "c", "port": -1}, "--port -1: must be a whole number >= 0"),
        ("ServeConfig", {"checkpoint": "c", "body_timeout_s": 0.0}, "--body-timeout 0.0: must be a number > 0"),
        ("ServeConfig", {"checkpoint": "c", "body_timeout_s": 1e12}, "--body-timeout 1000000000000.0: must be"),
        ("ServeConfig", {"checkpoint": "c", "batch_window_ms": 1e300}, "--batch-window-ms 1e+300: must be a number"),
        ("ServeConfig", {"checkpoint": "c", "api_key": " "}, "--api-key (or $EMODRAW_API_KEY): must not be blank"),
        ("EvaluateConfig", {"checkpoint": "c", "threads": 10**9}, "--threads 1000000000: must be a whole number <="),
        ("PredictConfig", {"checkpoint": "c", "batch_size": -4}, "--batch-size -4: must be a whole number >= 1"),
        ("CompareConfig", {"models": "a", "epochs": 0}, "--epochs 0: must be a whole number >= 1"),
        ("CompareConfig", {"models": "a", "seeds": 0}, "--seeds 0: must be a whole number >= 1"),
        ("CompareConfig", {"models": "a", "learning_rate": float("nan")}, "--learning-rate nan: must be a positive"),
    ],
)
def test_hostile_values_get_one_line_naming_the_flag(cls, values, message):
    import emodraw.config

    with pytest.raises(ConfigError) as exc:
        getattr(emodraw.config, cls)(**values)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_serve_reads_the_api_key_from_the_environment_and_never_shows_it(monkeypatch):
    from emodraw.config import ServeConfig

    monkeypatch.setenv("EMODRAW_API_KEY", "s3cret")
    config = ServeConfig(checkpoint="c")
    assert config.api_key == "s3cret" and "s3cret" not in repr(config)
    assert ServeConfig(checkpoint="c", api_key="typed").api_key == "typed"  # the flag wins
    monkeypatch.delenv("EMODRAW_API_KEY")
    assert ServeConfig(checkpoint="c").api_key is None and ServeConfig(checkpoint="c").body_timeout_s == 10.0


@pytest.mark.parametrize("kind", ["folder", "missing", "list", "scalar"])
def test_config_file_that_is_not_a_mapping_file_is_one_line(tmp_path, kind):
    path = tmp_path / "c.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "list":
        path.write_text("- epochs\n- 3\n")
    elif kind == "scalar":
        path.write_text("3\n")
    expected = {
        "folder": "a folder, not a config file",
        "missing": "config file not found",
        "list": "expected a mapping of option: value",
        "scalar": "expected a mapping of option: value",
    }[kind]
    with pytest.raises(ConfigError) as exc:
        resolve_config(path)
    assert str(exc.value) == f"{path}: {expected}" or str(exc.value).startswith(f"{path}: {expected}")
