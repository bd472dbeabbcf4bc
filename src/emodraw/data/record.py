"""One record of a data file, what a format reader is asked for (Reading), and the check of every text.

The format readers (emodraw.data.formats) and the one reader over them (emodraw.data.records) share these;
nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emodraw.data.columns import Columns

EMPTY_TEXT = "missing or empty text"
# The most bytes one record may have (its line without the line end; a CSV row's lines together): 1 MiB,
# thousands of times what a 512-token model reads, yet a BERT tokenizer takes it in about 150 MB (a 50 MB
# line peaked at 6.6 GB). Longer is the record's problem, `record longer than N bytes`.
MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a data file: its text and label (None when read text-only), or what is wrong with it."""

    line: int  # the line it ends on (a quoted CSV field can span lines; a Parquet file's row number)
    text: str = ""
    # A string as read; a tuple where the field was a list (JSON, Parquet) or, once checked, a multi-label
    # record's names
    label: str | tuple[str, ...] | None = None
    problem: str = ""
    offset: int = 0  # bytes of the file read up to the end of that line (for a progress bar)
    # The row's other columns, name -> value, when the reader was asked to keep them (predict's output)
    others: dict[str, Any] | None = None


@dataclass(frozen=True)
class Reading:
    """What a format reader is asked for: the text alone or with its label, from which columns, whether to
    keep the other columns, and the record limit in bytes."""

    labelled: bool = True
    columns: Columns = field(default_factory=Columns)
    keep_others: bool = False
    limit: int = MAX_RECORD_BYTES
    known: frozenset[str] = frozenset()  # the label set, which tells a .txt `text;label` line when text-only


def text_problem(text: str) -> str | None:
    """Why a text cannot be classified, or None if it can: the one check of every text, whether it comes
    from a data file (the reader applies it), a command-line argument or an HTTP request.

    A lone surrogate (U+D800-U+DFFF: a JSON escape such as "\\ud800", or an undecodable byte in sys.argv)
    cannot be encoded as UTF-8 and makes the tokenizer raise TypeError. A NUL is silently deleted by BERT's
    tokenizer ("a\\x00b" reads as "ab") and in a text file means binary data or UTF-16 text.
    """
    return value_problem(text, "text")


def value_problem(value: str, what: str) -> str | None:
    """text_problem for any value read (`what` names it in the message: "text", "label")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # strict UTF-8 fails on surrogates and nothing else
        code = ord(value[exc.start])
        return f"{what} has a lone surrogate U+{code:04X} at character {exc.start + 1} (not valid Unicode)"
    at = value.find("\x00")
    if at >= 0:
        return f"{what} has a NUL character at character {at + 1} (binary data, or UTF-16 text?)"
    return None
