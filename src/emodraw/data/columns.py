"""Which columns of a data file hold the text and the label: `--text-column` and `--label-column` take a
column's name or its position (0, 1, ...), and `--no-header` says the first row of a .csv/.tsv file is data.

The defaults are the `text` and `label` columns of a header row. Without a header the defaults read as
positions 0 and 1, and a column can only be named by its position. A .jsonl line names its fields, so
there a column is a name; a .parquet file's columns take either. Names are matched as a .csv header
always was: case and surrounding spaces aside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULTS = {"text": "text", "label": "label"}
_POSITIONS = {"text": "0", "label": "1"}  # what the default names mean in a file without a header


def flag(field: str) -> str:
    return f"--{field}-column"


def is_position(value: str) -> bool:
    return value.isascii() and value.isdigit()


@dataclass(frozen=True)
class Columns:
    """The text and label columns (a name or a position, as text) and whether the first row is a header."""

    text: str = "text"
    label: str = "label"
    header: bool = True

    @classmethod
    def of(cls, text_column: str | int = "text", label_column: str | int = "label", no_header: bool = False):
        """From the options as given; a YAML `text_column: 0` is the position 0."""
        text, label = str(text_column).strip(), str(label_column).strip()
        if no_header:
            text = _POSITIONS["text"] if text == DEFAULTS["text"] else text
            label = _POSITIONS["label"] if label == DEFAULTS["label"] else label
        return cls(text, label, not no_header)

    @classmethod
    def from_config(cls, config: Any) -> Columns:
        """From an options dataclass, or its recorded dict (a checkpoint's config), with text_column,
        label_column and no_header: the defaults where absent (a checkpoint from before these options)."""
        get = config.get if isinstance(config, Mapping) else lambda name, default: getattr(config, name, default)
        return cls.of(get("text_column", "text"), get("label_column", "label"), get("no_header", False))

    @property
    def is_default(self) -> bool:
        return self == Columns()

    def indices(self, header: Sequence[str] | None, fields: Sequence[str], kind: str) -> tuple[list[int], str]:
        """(the index of each of `fields` in a row, "") or ([], why not). `header` is the header row's names
        (a Parquet file's column names), None for a file without one; `kind` names the format in a message
        ("CSV", "TSV", "Parquet")."""
        if header is None:
            named = [f for f in fields if not is_position(getattr(self, f))]
            if named:
                field = named[0]
                why = "without a header (--no-header), name columns by position (0, 1, ...)"
                return [], f"{flag(field)} {getattr(self, field)!r}: {why}"
            found = [int(getattr(self, f)) for f in fields]
        else:
            names = [name.strip().lower() for name in header]
            found, missing = [], []
            for field in fields:
                wanted = getattr(self, field)
                if is_position(wanted):
                    if int(wanted) >= len(header):
                        return [], f"{flag(field)} {wanted}: the file has only {len(header)} column(s)"
                    found.append(int(wanted))
                elif wanted.lower() in names:
                    found.append(names.index(wanted.lower()))
                else:
                    missing.append(field)
            if missing:
                return [], self._missing(missing, fields, header, kind)
        if len(set(found)) < len(found):
            return [], f"{flag('text')} and {flag('label')} name the same column"
        return found, ""

    def _missing(self, missing: list[str], fields: Sequence[str], header: Sequence[str], kind: str) -> str:
        wanted = " and ".join(f"a {getattr(self, f)!r}" for f in fields)
        shown = ", ".join(repr(name) for name in header[:8]) + (", ..." if len(header) > 8 else "") or "no columns"
        choose = " and ".join(flag(f) for f in missing)
        where = {"Parquet": "file must have", "dataset": "must have"}.get(kind, "header must name")
        return f"the {kind} {where} {wanted} column (it has {shown}: choose with {choose})"

    def field_names(self, fields: Sequence[str]) -> tuple[list[str], str]:
        """(the key of each of `fields` in a JSON object, "") or ([], why not): a JSON line has no positions."""
        for field in fields:
            if is_position(getattr(self, field)):
                return [], f"{flag(field)} {getattr(self, field)}: a .jsonl line names its fields; give the name"
        return [getattr(self, f) for f in fields], ""


def other_columns(header: Sequence[str] | None, used: Sequence[int], width: int) -> list[tuple[int, str]]:
    """(index, name) of the columns besides `used`: by the header's names, or by position without a header."""
    if header is None:
        return [(i, str(i)) for i in range(width) if i not in used]
    return [(i, name.strip()) for i, name in enumerate(header) if i not in used]
