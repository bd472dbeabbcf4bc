"""The format readers behind emodraw.data.records' one seam, by file suffix. Each takes a binary stream,
the name it is reported under and a Reading, and yields Records in file order, leaving the checks common
to every format (empty text, label set, ids) to records."""

from __future__ import annotations

from emodraw.data.formats.delimited import csv_records, tsv_records
from emodraw.data.formats.jsonl import jsonl_records
from emodraw.data.formats.parquet import parquet_records
from emodraw.data.formats.text_lines import txt_records

READERS = {
    ".txt": txt_records,
    ".csv": csv_records,
    ".tsv": tsv_records,
    ".jsonl": jsonl_records,
    ".parquet": parquet_records,
}
