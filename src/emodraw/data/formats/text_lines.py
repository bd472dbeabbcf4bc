""".txt: `text;label` per line, split on the LAST `;` (texts may contain `;`); text-only, a line ending in
`;<known label>` is read as its text, so a training file can be predicted as is."""

from __future__ import annotations

from collections.abc import Iterator

from emodraw.data.lines import decoded_lines
from emodraw.data.record import Reading, Record


def txt_records(handle, source, reading: Reading) -> Iterator[Record]:
    for number, line, offset, problem in decoded_lines(handle, source, reading.limit):
        if problem:
            yield Record(number, problem=problem, offset=offset)
        elif not line.strip():
            continue
        elif reading.labelled:
            if ";" not in line:
                yield Record(number, problem="no label: expected 'text;label'", offset=offset)
            else:
                text, label = line.rsplit(";", 1)
                yield Record(number, text, label, offset=offset)
        else:
            text, semicolon, label = line.rpartition(";")
            known = semicolon and label.strip() in reading.known
            yield Record(number, text if known else line, offset=offset, others={} if reading.keep_others else None)
