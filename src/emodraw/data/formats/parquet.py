""".parquet (what `datasets` and pandas write): the text a string column, the label a string or an integer
column (an id, with --label-names), chosen as in a .csv header, by name or position. The row number, from 1,
stands for the line in `path:line: reason`. Read a row group at a time through pyarrow (an optional
dependency: `pip install pyarrow`); its other columns are kept for predict.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from emodraw.data.lines import too_long
from emodraw.data.record import Reading, Record
from emodraw.errors import DataError

BATCH_ROWS = 1024


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _kind_problem(pa, column: str, kind, field: str) -> str | None:
    """Why a column of this Arrow type cannot be the text (or the label), or None."""
    if pa.types.is_dictionary(kind):  # a categorical column: its values' type is what counts
        kind = kind.value_type
    texts = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if texts or (field == "label" and pa.types.is_integer(kind)):
        return None
    if field == "label" and (pa.types.is_list(kind) or pa.types.is_large_list(kind)):  # --multi-label's labels
        return _kind_problem(pa, column, kind.value_type, field)
    wanted = "text" if field == "text" else "text or whole numbers"
    return f"column {column!r} holds {kind}, not {wanted}"


def _size(handle) -> int:
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return 0


def parquet_records(handle, source, reading: Reading) -> Iterator[Record]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(source, None, "reading .parquet needs pyarrow: pip install pyarrow") from None
    fields = ("text", "label") if reading.labelled else ("text",)
    try:
        file = pq.ParquetFile(handle)
    except (pa.ArrowException, OSError, ValueError) as exc:  # not seekable, not Parquet, truncated, ...
        raise DataError(source, None, f"not a readable Parquet file ({_first_line(exc)})") from None
    schema = file.schema_arrow
    used, why = reading.columns.indices(schema.names, fields, "Parquet")
    if why:
        raise DataError(source, None, why)
    for field, index in zip(fields, used):
        problem = _kind_problem(pa, schema.names[index], schema.field(index).type, field)
        if problem:
            raise DataError(source, None, problem)
    wanted = [schema.names[i] for i in used]
    others = [name for i, name in enumerate(schema.names) if i not in used] if reading.keep_others else []
    rows, size = max(file.metadata.num_rows, 1), _size(handle)
    number = 0
    try:
        for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=wanted + others, use_pandas_metadata=False):
            values = [batch.column(name).to_pylist() for name in wanted]
            kept = {name: batch.column(name).to_pylist() for name in others}
            for i in range(batch.num_rows):
                number += 1
                offset = size * number // rows
                text = values[0][i]
                label = values[1][i] if reading.labelled else None
                if text is not None and len(text.encode("utf-8")) > reading.limit:
                    yield Record(number, problem=too_long(reading.limit), offset=offset)
                elif reading.labelled and label is None:
                    yield Record(number, problem="missing label", offset=offset)
                else:
                    row_others = {name: column[i] for name, column in kept.items()} if reading.keep_others else None
                    if isinstance(label, list):  # a list column: a multi-label row's labels
                        label = tuple(str(v) for v in label)
                    elif label is not None:
                        label = str(label)
                    yield Record(number, text or "", label, offset=offset, others=row_others)
    except (pa.ArrowException, OSError) as exc:  # a corrupt page: the rows before it were read
        raise DataError(source, number + 1, f"unreadable Parquet data ({_first_line(exc)})") from None
