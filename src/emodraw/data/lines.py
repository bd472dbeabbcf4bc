"""The lines of a data file's bytes, decoded: the first stage of every line-based format (.txt, .csv, .tsv,
.jsonl). A UTF-8 BOM is dropped and CRLF is a line end; a line longer than the record limit is a problem
read past in pieces, so memory stays bounded whatever the file; a file that starts with a UTF-16 or
UTF-32 byte-order mark is refused whole, with one DataError.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from emodraw.errors import DataError

BOM = b"\xef\xbb\xbf"
_DISCARD = 1 << 16  # bytes read at a time from the rest of an over-long line, which is thrown away
# Refused, not decoded: one decoding for training and prediction alike, and re-saving as UTF-8 is the whole
# fix. UTF-32 LE's mark starts with UTF-16 LE's, so it is tried first.
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def too_long(limit: int) -> str:
    return f"record longer than {limit} bytes"


def _raw_lines(handle: IO[bytes] | Iterable[bytes], limit: int) -> Iterator[tuple[bytes, int, bool]]:
    """(a line's bytes, its size in the file, whether it is whole): a line longer than `limit` comes as its
    first bytes only, the rest read in pieces and dropped, so it is never held in memory. The first line
    may also hold a BOM, which is not the text's: its bytes do not count against the limit."""
    limit += 2  # room for the text and a CRLF
    readline = getattr(handle, "readline", None)
    if readline is None:  # lines already in memory (a list): only the limit to apply
        for number, raw in enumerate(handle):
            room = limit + (len(BOM) if number == 0 else 0)
            yield raw[:room], len(raw), len(raw) <= room
        return
    room = limit + len(BOM)
    while raw := readline(room):
        size = len(raw)
        if size < room or raw.endswith(b"\n"):  # the whole line (a short one ends the file)
            yield raw, size, True
        else:
            piece = raw
            while piece and not piece.endswith(b"\n"):
                piece = readline(_DISCARD)
                size += len(piece)
            yield raw, size, False
        room = limit


def decoded_lines(handle: IO[bytes] | Iterable[bytes], source, limit: int) -> Iterator[tuple[int, str, int, str]]:
    """(line number, its text without the line end, bytes read so far, its problem): the text is "" when
    the line is not UTF-8 or too long. DataError for a file that starts with a UTF-16/UTF-32 BOM.

    Only `\n` ends a line, and only one `\r` before it is dropped: a `\r` inside a text is the text's."""
    offset = 0
    for number, (raw, size, whole) in enumerate(_raw_lines(handle, limit), start=1):
        offset += size
        if number == 1:
            for mark, encoding in _OTHER_BOMS:
                if raw.startswith(mark):
                    spelt = " ".join(f"{byte:02X}" for byte in mark)
                    reason = f"{encoding} text (a byte-order mark {spelt}): save the file as UTF-8"
                    raise DataError(source, 1, reason)
            if raw.startswith(BOM):
                raw = raw[len(BOM) :]
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not whole or len(raw) > limit:
            yield number, "", offset, too_long(limit)
            continue
        try:
            yield number, raw.decode("utf-8"), offset, ""
        except UnicodeDecodeError:
            yield number, "", offset, "invalid UTF-8"
