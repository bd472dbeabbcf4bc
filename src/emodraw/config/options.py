"""How an option is declared once, as a dataclass field, and checked: the CLI builds its flags from
these fields (emodraw.cli.flags), the YAML loader its types, and each __post_init__ its messages."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from typing import Any

from emodraw.errors import ConfigError

EMBEDDED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The large offline backbone (emodraw.modeling.offline_packages) and the names --model accepts for it; it is
# also the teacher of the soft labels the package ships.
LARGE_MODEL = "sentence-transformers/all-mpnet-base-v2"
LARGE_MODEL_NAMES = frozenset({LARGE_MODEL, "all-mpnet-base-v2", "mpnet"})
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
KIND_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
# numpy's generators refuse negative seeds; its legacy seeding (np.random.seed, which Accelerate's set_seed
# calls) stops at 2**32 - 1.
MAX_SEED = 2**32 - 1
# Threads beyond this are a typo, not a machine: torch accepts 10**6 and then crashes at exit.
MAX_THREADS = 1024


def option(default: Any = dataclasses.MISSING, help: str = "", **cli: Any) -> Any:
    """A dataclass field with its --help text and how the CLI shows it. Keys the CLI reads from `cli`:
    aliases (extra flag names), flag (the flag's name when it is not --field-name), metavar, choices
    (the allowed values; also checked by check_choices), positional (True, "*" or "+"), nargs ("*" for an
    option taking several values), required (the CLI insists although the Python API has a default),
    negatable=False (a plain --x switch instead of --x/--no-x), exclusive (a group name: at most one
    flag of the group), default_text (what a None default means), advanced (hidden from --help:
    engine knobs kept for benchmarks, listed by --help-all), secret=True (a value such as an API key:
    left out of the dataclass's repr, so no log line or traceback shows it)."""
    return dataclasses.field(default=default, metadata={"help": help, **cli}, repr=not cli.get("secret"))


def field_kind(f: dataclasses.Field) -> tuple[type, bool]:
    """(the value's type, whether the field holds several of them) from annotations such as
    `int`, `str | None` or `tuple[str, ...]`, which `from __future__ import annotations` leaves as text."""
    text = str(f.type).replace("| None", "").strip()
    if text.startswith("tuple["):
        return _TYPES[text[len("tuple[") :].split(",")[0].strip()], True
    return _TYPES[text], False


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def reject(name: str, value: Any, why: str, config: Any = None):
    """One line naming the flag and quoting the value, the same for a flag, a YAML key or an argument.
    With `config`, a field whose flag is not --field-name (serve's --body-timeout) is named by its flag."""
    label = flag(name)
    for f in dataclasses.fields(config) if config is not None else ():
        if f.name == name:
            label = f.metadata.get("flag", label)
    raise ConfigError(f"{label} {value!r}: {why}")


def check_choices(config: Any) -> None:
    for f in dataclasses.fields(config):
        allowed = f.metadata.get("choices")
        if allowed is not None and getattr(config, f.name) not in allowed:
            reject(f.name, getattr(config, f.name), f"must be one of {', '.join(allowed)}", config)


def check_whole(config: Any, name: str, minimum: int, why: str | None = None, maximum: int | None = None) -> None:
    value = getattr(config, name)
    # bool is an int to Python, but `epochs: yes` in a YAML file is a mistake, not 1 epoch
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        reject(name, value, why or f"must be a whole number >= {minimum}", config)
    if maximum is not None and value > maximum:
        reject(name, value, why or f"must be a whole number <= {maximum}", config)


def check_number(config: Any, name: str, minimum: float, maximum: float | None = None, *, above: bool = False) -> None:
    """A finite number >= minimum (> minimum with above=True), and <= maximum when one is given: NaN and
    infinities are refused here, before a sleep, a socket timeout or a learning-rate schedule meets them."""
    value = getattr(config, name)
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (number and (value > minimum if above else value >= minimum)):
        reject(name, value, f"must be a number {'>' if above else '>='} {minimum:g}", config)
    if maximum is not None and value > maximum:
        reject(name, value, f"must be a number <= {maximum:g}", config)


def check_types(config: Any) -> None:
    """Each field holds what it declares (an int where `int`, a str where `str | None`, ...): values from a
    YAML file or the Python API are not typed by argparse, and a list where a folder name is expected would
    otherwise fail later, deep inside, with a traceback."""
    for f in dataclasses.fields(config):
        kind, many = field_kind(f)
        value = getattr(config, f.name)
        if value is None and "None" in str(f.type):
            continue
        values = value if many and isinstance(value, (tuple, list)) else [value]
        for item in values:
            if kind is float:
                fits = isinstance(item, (int, float)) and not isinstance(item, bool)
            elif kind is int:
                fits = isinstance(item, int) and not isinstance(item, bool)
            elif kind is str:
                fits = isinstance(item, (str, os.PathLike))  # folder and file options take paths too
            else:
                fits = isinstance(item, kind)
            if not fits:
                reject(f.name, value, f"must be {KIND_WORDS[kind]}", config)


# The runtime options every command that runs a model shares, declared once.
def device_option() -> Any:
    return option("auto", "where to run: auto (a GPU when there is one), cpu or cuda", choices=DEVICES)


def precision_option() -> Any:
    return option("auto", "auto (bf16 where the hardware has it), fp32 or bf16", choices=PRECISIONS)


def threads_option() -> Any:
    return option(0, "CPU threads for torch (0 = torch's default)")


def progress_option() -> Any:
    return option(None, "show a progress bar", default_text="when stderr is a terminal")


def check_threads(config: Any) -> None:
    check_whole(config, "threads", 0, maximum=MAX_THREADS)


def suggest(name: str, choices) -> str:
    """' (did you mean "x"?)' for the closest valid name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
