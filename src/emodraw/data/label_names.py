"""Names for integer labels: `--label-names FILE` (one name per line; the id is the line number from 0) or
`--label-names a,b,c`. With names, a label that is a whole number -- a JSON 3 or a CSV "3" alike -- is an id
and reads as its name; one out of range is its line's problem. Labels that are names stay names. Without
names, integer labels are their own names, in numeric order, and a run says how to name them (hint).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from emodraw.data.record import value_problem
from emodraw.errors import ConfigError, DataError

FLAG = "--label-names"
_INTEGER = re.compile(r"[+-]?[0-9]+")


def is_integer(label: str) -> bool:
    return _INTEGER.fullmatch(label) is not None


def read_label_names(spec: str | os.PathLike | Sequence[str] | None) -> list[str] | None:
    """The names, in id order, from a file, a comma-separated list or a list; None for none.
    ConfigError (or DataError for a line of the file) for blank, repeated or numeric names, or fewer than 2."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        names = [str(name).strip() for name in spec]
        error = lambda i, problem: ConfigError(f"{FLAG}: name {i + 1} {problem}")  # noqa: E731
    elif Path(spec).is_file():
        path = Path(spec)
        names = _file_names(path)
        error = lambda i, problem: DataError(path, i + 1, f"label name {problem}")  # noqa: E731
    elif "," in str(spec):
        names = [name.strip() for name in str(spec).split(",")]
        error = lambda i, problem: ConfigError(f"{FLAG} {str(spec)!r}: name {i + 1} {problem}")  # noqa: E731
    else:
        raise ConfigError(
            f"{FLAG} {str(spec)!r}: no such file; give a file with one name per line, or the names separated "
            "by commas (sadness,joy,...)"
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        problem = value_problem(name, repr(name))
        if not name:
            problem = "is empty"
        elif is_integer(name):
            problem = f"{name!r} is a number, which would read as an id; names are words"
        elif name in seen:
            problem = f"{name!r} is given twice (ids {seen[name]} and {i})"
        if problem:
            raise error(i, problem)
        seen[name] = i
    if len(names) < 2:
        raise ConfigError(f"{FLAG}: needs at least 2 names, got {len(names)}")
    return names


def _file_names(path: Path) -> list[str]:
    try:
        text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(path, None, "not UTF-8 text") from None
    except OSError as exc:
        raise DataError(path, None, f"cannot read ({exc.strerror})") from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:  # a final blank line is the file's end, not a name
        names.pop()
    return names


def name_of(label: str, names: Sequence[str]) -> tuple[str, str]:
    """(the label as a name, "") or ("", its problem): an integer label is an id into `names`."""
    if not is_integer(label):
        return label, ""
    index = int(label)
    if 0 <= index < len(names):
        return names[index], ""
    return "", f"label id {label} out of range: {FLAG} gives ids 0-{len(names) - 1}"


def numeric_order(labels) -> list[str] | None:
    """Integer labels sorted by value (so that 10 comes after 9 and each id is its number), or None when any
    label is not an integer."""
    present = set(labels)
    if not present or not all(is_integer(label) for label in present):
        return None
    return sorted(present, key=lambda label: (int(label), label))


def hint(label_names: Sequence[str], given: bool) -> str | None:
    """One line saying how to name integer labels, for a run that trains on them unnamed; else None."""
    if given or not label_names or not all(is_integer(label) for label in label_names):
        return None
    shown = ", ".join(label_names[:6]) + (", ..." if len(label_names) > 6 else "")
    return (
        f"the labels are numbers ({shown}) and are named so; to name them, give {FLAG} NAME,NAME,... "
        "or a file with one name per line (the id is the line number from 0)"
    )
