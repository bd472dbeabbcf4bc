"""Data files: the one record reader (records, over the formats of emodraw.data.formats), which columns hold
the text and label (columns), names for integer labels (label_names), a run's splits and its training
portion (splits), a `datasets` dataset as a run's splits (hub_datasets, --dataset), and the check of repeated
sentences across splits (audit, imported as emodraw.data.audit).

The bottom layer: it imports only emodraw.errors, emodraw.files, emodraw.console, numpy, pyarrow (for
.parquet files, when installed), datasets (for --dataset, when a dataset is opened) and the standard library,
never the modeling, training or inference code.
"""

from emodraw.data.columns import Columns
from emodraw.data.label_names import read_label_names
from emodraw.data.records import (
    FORMATS,
    MAX_RECORD_BYTES,
    Record,
    data_format,
    open_data_file,
    read_records,
    text_problem,
    text_records,
)
from emodraw.data.splits import (
    EMOTIONS,
    Examples,
    Splits,
    bundled_data_dir,
    find_split_file,
    label_names_for,
    load_splits,
    read_examples,
    resolve_data_files,
    stratified_portion,
)

__all__ = [
    "Columns",
    "EMOTIONS",
    "FORMATS",
    "MAX_RECORD_BYTES",
    "Examples",
    "Record",
    "Splits",
    "bundled_data_dir",
    "data_format",
    "find_split_file",
    "label_names_for",
    "load_splits",
    "open_data_file",
    "read_examples",
    "read_label_names",
    "read_records",
    "resolve_data_files",
    "stratified_portion",
    "text_problem",
    "text_records",
]
