""".jsonl: one JSON object per line; the text a string field (`text` unless --text-column names another),
the label a string or a whole number (an id, with --label-names), or a list of them (--multi-label). Its
other fields are kept for predict."""

from __future__ import annotations

import json
from collections.abc import Iterator

from emodraw.data.lines import decoded_lines
from emodraw.data.record import Reading, Record
from emodraw.errors import DataError


def _label_problem(obj: dict, key: str) -> str:
    if key not in obj:
        return f"missing or non-string {key!r}"
    value = obj[key]
    if _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value)):
        return ""
    kind = "null" if value is None else type(value).__name__
    return (
        f"{key!r} is {kind}: a label is a string, or a whole number with --label-names (a list of them with "
        "--multi-label)"
    )


def _scalar(value) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def jsonl_records(handle, source, reading: Reading) -> Iterator[Record]:
    keys, why = reading.columns.field_names(("text", "label") if reading.labelled else ("text",))
    if why:
        raise DataError(source, None, why)
    text_key = keys[0]
    for number, line, offset, problem in decoded_lines(handle, source, reading.limit):
        if problem:
            yield Record(number, problem=problem, offset=offset)
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            yield Record(number, problem="not valid JSON", offset=offset)
            continue
        if not isinstance(obj, dict):
            named = " and ".join(repr(name) for name in keys)
            yield Record(number, problem=f"expected a JSON object with {named}", offset=offset)
            continue
        if not isinstance(obj.get(text_key), str):
            yield Record(number, problem=f"missing or non-string {text_key!r}", offset=offset)
            continue
        label = None
        if reading.labelled:
            problem = _label_problem(obj, keys[1])
            if problem:
                yield Record(number, problem=problem, offset=offset)
                continue
            value = obj[keys[1]]  # a list: a multi-label record's labels (records.read_records checks which)
            label = tuple(str(v) for v in value) if isinstance(value, list) else str(value)
        others = {k: v for k, v in obj.items() if k not in keys} if reading.keep_others else None
        yield Record(number, obj[text_key], label, offset=offset, others=others)
