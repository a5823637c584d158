"""Feed mapping: signal files from any channel (CSV, JSON, JSON lines) read as signals.

A mapping file (YAML, docs/intake-mappings.md) says which source column fills which signal
field; `read_rows` streams a file through it, one `Row` per record, a refused row carrying its
problems instead of raising. The importer (cases/importer.py) stores, de-duplicates and groups
what this yields; `check` is the dry run behind `riskgate intake check`.
"""

from __future__ import annotations

from cases.feeds.apply import Row
from cases.feeds.check import CheckReport, CheckRow, check, render
from cases.feeds.mapping import (
    Mapping,
    channel_mapping,
    channel_names,
    load_mapping,
    parse_mapping,
    signal_mapping,
)
from cases.feeds.readers import MAX_RECORD_CHARS
from cases.feeds.stream import read_rows

__all__ = [
    "MAX_RECORD_CHARS",
    "CheckReport",
    "CheckRow",
    "Mapping",
    "Row",
    "channel_mapping",
    "channel_names",
    "check",
    "load_mapping",
    "parse_mapping",
    "read_rows",
    "render",
    "signal_mapping",
]

