"""Where a TrainConfig's values come from, lowest precedence first: the dataclass defaults (the offline
default job) -> the preset named by `experiment` -> a YAML config file -> keyword arguments / CLI flags."""

from __future__ import annotations

from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from emodraw.config.options import LARGE_MODEL_NAMES, field_kind, suggest
from emodraw.config.train import OPTION_NAMES, TrainConfig
from emodraw.errors import ConfigError

BUNDLED = "bundled"  # distill_from's name for the shipped soft labels (emodraw.training.soft_labels.BUNDLED)


def check_keys(values: dict, source: str) -> None:
    for key in values:
        if key not in OPTION_NAMES:
            raise ConfigError(f"{source}: unknown option {key!r}{suggest(str(key), OPTION_NAMES)}")


def available_presets() -> list[str]:
    folder = resources.files("emodraw") / "resources" / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    path = resources.files("emodraw") / "resources" / "presets" / f"{name}.yaml"
    if not path.is_file():
        names = available_presets()
        raise ConfigError(
            f"--experiment {name!r}: no such preset{suggest(str(name), names)}; choose from {', '.join(names)}"
        )
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    check_keys(values, f"preset {name}")
    return values


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a config file (give --config FILE.yaml)")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:  # unreadable: permissions, a device, ...
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value")
    check_keys(values, str(path))
    return values


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """YAML reads 1e-5 as a string and 3 as an int where we want str; fix the types the dataclass declares."""
    out = dict(values)
    kinds = {f.name: field_kind(f)[0] for f in fields(TrainConfig)}
    for key, value in values.items():
        if value is None or isinstance(value, bool):
            continue
        try:
            if kinds[key] is float and isinstance(value, (str, int)):
                out[key] = float(value)
            elif kinds[key] is str and isinstance(value, (int, float)):
                out[key] = str(value)
        except ValueError:
            raise ConfigError(f"option {key}: {value!r} is not a number") from None
    return out


def resolve_config(config_file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Build a TrainConfig: defaults, then the preset, then `config_file`, then `overrides`."""
    check_keys(overrides, "option")
    from_file = load_yaml(config_file) if config_file else {}
    experiment = overrides.get("experiment", from_file.get("experiment", "default"))
    preset = load_preset(str(experiment))
    values = {**preset, **from_file, **overrides}
    values["experiment"] = str(experiment)
    chosen = {**from_file, **overrides}
    if preset.get("distill_from") == BUNDLED and "distill_from" not in chosen:
        # a preset's shipped soft labels are the bundled training sentences' (other data trains without them),
        # made by the large backbone (which would only learn from an earlier run of itself)
        if _own_data(chosen) or chosen.get("model") in LARGE_MODEL_NAMES:
            values["distill_from"] = None
    return TrainConfig(**_coerce(values))


def _own_data(chosen: dict[str, Any]) -> bool:
    """Options that train on something other than the bundled single-label data."""
    sources = ("data_dir", "train_file", "val_file", "dataset")
    return any(chosen.get(name) for name in sources) or bool(chosen.get("multi_label"))
