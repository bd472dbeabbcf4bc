"""How an option is declared once, as a dataclass field, and checked: the CLI builds its flags from
these fields (emodraw.cli.flags), the YAML loader its types, and each __post_init__ its messages."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from emodraw.errors import ConfigError

EMBEDDED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def option(default: Any = dataclasses.MISSING, help: str = "", **cli: Any) -> Any:
    """A dataclass field with its --help text and how the CLI shows it. Keys the CLI reads from `cli`:
    aliases (extra flag names), flag (the flag's name when it is not --field-name), metavar, choices
    (the allowed values; also checked by check_choices), positional (True, "*" or "+"), nargs ("*" for an
    option taking several values), required (the CLI insists although the Python API has a default),
    negatable=False (a plain --x switch instead of --x/--no-x), exclusive (a group name: at most one
    flag of the group), default_text (what a None default means), advanced (hidden from --help:
    engine knobs kept for benchmarks, listed by --help-all)."""
    return dataclasses.field(default=default, metadata={"help": help, **cli})


def field_kind(f: dataclasses.Field) -> tuple[type, bool]:
    """(the value's type, whether the field holds several of them) from annotations such as
    `int`, `str | None` or `tuple[str, ...]`, which `from __future__ import annotations` leaves as text."""
    text = str(f.type).replace("| None", "").strip()
    if text.startswith("tuple["):
        return _TYPES[text[len("tuple[") :].split(",")[0].strip()], True
    return _TYPES[text], False


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def reject(name: str, value: Any, why: str):
    """One line naming the flag and quoting the value, the same for a flag, a YAML key or an argument."""
    raise ConfigError(f"{flag(name)} {value!r}: {why}")


def check_choices(config: Any) -> None:
    for f in dataclasses.fields(config):
        allowed = f.metadata.get("choices")
        if allowed is not None and getattr(config, f.name) not in allowed:
            reject(f.name, getattr(config, f.name), f"must be one of {', '.join(allowed)}")


def check_whole(config: Any, name: str, minimum: int, why: str | None = None) -> None:
    value = getattr(config, name)
    if not isinstance(value, int) or value < minimum:
        reject(name, value, why or f"must be a whole number >= {minimum}")


# The runtime options every command that runs a model shares, declared once.
def device_option() -> Any:
    return option("auto", "where to run: auto (a GPU when there is one), cpu or cuda", choices=DEVICES)


def precision_option() -> Any:
    return option("auto", "auto (bf16 where the hardware has it), fp32 or bf16", choices=PRECISIONS)


def threads_option() -> Any:
    return option(0, "CPU threads for torch (0 = torch's default)")


def suggest(name: str, choices) -> str:
    """' (did you mean "x"?)' for the closest valid name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
