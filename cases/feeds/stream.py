"""A feed file through a mapping: records read, mapped and checked one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from cases.errors import InvalidInput
from cases.feeds.apply import Mapped, Plan, Row, map_record
from cases.feeds.mapping import Mapping, mapping_columns
from cases.feeds.readers import file_format, read_records


def mapped_rows(path: Path, mapping: Mapping, *,
                received_at: datetime | None = None) -> Iterator[Mapped]:
    """`read_rows` with what `check` also needs (the source words no value map covered)."""
    fmt = file_format(path, mapping.format)
    if mapping.spec.signals and fmt == "csv":
        raise InvalidInput(f"{path}: signal records are JSON or JSON lines, not CSV")
    plan = Plan(mapping, fmt)
    when = received_at or datetime.now(UTC)
    records = read_records(path, fmt, encoding=mapping.spec.encoding,
                           delimiter=mapping.spec.delimiter,
                           required_columns=mapping_columns(mapping.spec))
    for record in records:
        yield map_record(plan, record, when)


def read_rows(path: Path, mapping: Mapping, *,
              received_at: datetime | None = None) -> Iterator[Row]:
    """The file's rows in order, streamed. `received_at` is every signal's time of receipt
    unless the mapping reads it from a column (default: now, the same for the whole file).
    A file-level problem raises InvalidInput; a bad row is yielded with its problems."""
    for mapped in mapped_rows(path, mapping, received_at=received_at):
        yield mapped.row
