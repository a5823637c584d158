"""Reading a feed file record by record: CSV, JSON array or JSON lines, streamed.

Memory stays flat in the file's size (a risk centre's yearly export runs to hundreds of
thousands of rows), and each record keeps the line it starts on and its source text, so a
refused row can be shown and put aside exactly as it came. What makes the whole file unusable
(unreadable, wrong encoding, a header without the columns the mapping needs, not a JSON array)
raises InvalidInput naming the file and line; a bad record is yielded with its problem.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cases.errors import InvalidInput

MAX_RECORD_CHARS = 100_000  # a record's source text (kept for the quarantine file)
MAX_CSV_FIELD = 1_000_000  # the csv module's own bound; past it a file cannot be resynchronised
JSON_LOOKAHEAD = 1_000_000  # a JSON array element must fit in this window
READ_CHUNK = 1 << 16
EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Record:
    line: int  # 1-based line the record starts on
    raw: str  # its source text, at most MAX_RECORD_CHARS
    values: dict[str, Any] | None  # None when it could not be read as a record
    problem: str = ""


def file_format(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise InvalidInput(f"{path}: cannot tell the format from the extension "
                           f"{path.suffix or '(none)'!r}; give the mapping a `format:` (csv, "
                           "json or jsonl)")
    return found


def _too_long(line: int, raw: str, length: int) -> Record:
    return Record(line, raw[:MAX_RECORD_CHARS], None,
                  f"the record is {length} characters long; at most {MAX_RECORD_CHARS}")


def require_feed_file(path: Path) -> os.stat_result:
    """A feed is a regular file: a device, a FIFO or a directory is refused before a byte is
    read (the import's file check and the reader both ask here)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{path}: not a regular file; give a feed file on disk")
    return info


def _open(path: Path, encoding: str, *, newline: str | None) -> IO[str]:
    require_feed_file(path)
    # A byte-order mark is harmless in a file declared UTF-8: utf-8-sig reads both.
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        return open(path, encoding=codec, errors="strict", newline=newline)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None


def read_records(path: Path, fmt: str, *, encoding: str, delimiter: str = ",",
                 required_columns: Iterable[str] = ()) -> Iterator[Record]:
    """The file's records in order. `required_columns` must all be in a CSV header."""
    handle = _open(path, encoding, newline="" if fmt == "csv" else None)
    line = [0]  # where the reader is, for a decoding error's message
    try:
        with handle:
            if fmt == "csv":
                yield from _csv(handle, path, delimiter, list(required_columns), line)
            elif fmt == "jsonl":
                yield from _jsonl(handle, line)
            else:
                yield from _JsonArray(handle, path, line).records()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}:{line[0] + 1}: not {encoding} text (byte "
                           f"{exc.object[exc.start:exc.start + 1]!r}); set the mapping's "
                           "`encoding:` (utf-8, utf-8-sig or gb18030)") from None


# ---------------------------------------------------------------------------------------------
# CSV


def _csv(handle: IO[str], path: Path, delimiter: str, required: list[str],
         line: list[int]) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD))
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = [cell.strip().lstrip("\ufeff") for cell in next(reader)]
    except StopIteration:
        raise InvalidInput(f"{path}: the file is empty (a CSV feed starts with its header)"
                           ) from None
    except csv.Error as exc:
        raise InvalidInput(f"{path}:1: not a valid CSV header ({exc})") from None
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InvalidInput(f"{path}:1: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in dict.fromkeys(required) if c not in seen]
    if missing:
        raise InvalidInput(f"{path}:1: the header lacks columns the mapping requires: "
                           f"{', '.join(missing)} (it has: {', '.join(header)})")
    buffer = io.StringIO()
    # The line terminator is what makes the writer quote a cell holding a line break.
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    previous = line[0] = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"{path}:{previous + 1}: not valid CSV ({exc})") from None
        start, previous = previous + 1, reader.line_num
        line[0] = previous
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or a row of empty cells a spreadsheet left behind
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        raw = buffer.getvalue()[:-2]
        if len(raw) > MAX_RECORD_CHARS and previous > start:
            # Many lines in one over-long record: a quote opened and never closed swallowed
            # the rows after it. Refused as a row it would hide them; the file stops here.
            raise InvalidInput(f"{path}:{start}: a quoted cell opened on this line runs to line "
                               f"{previous} ({len(raw)} characters) — an unclosed quote? The "
                               "file is not taken in from this line on")
        if len(raw) > MAX_RECORD_CHARS:
            yield _too_long(start, raw, len(raw))
        elif len(cells) != len(header):
            yield Record(start, raw, None, f"the record has {len(cells)} cells; the header "
                                           f"has {len(header)}")
        else:
            yield Record(start, raw, dict(zip(header, cells, strict=True)))


# ---------------------------------------------------------------------------------------------
# JSON


class _Decoder:
    """json with the strictness of cases/inputs.py, for one record at a time: a repeated key
    or a NaN is the record's problem."""

    def __init__(self) -> None:
        self.issues: list[str] = []
        self.decoder = json.JSONDecoder(object_pairs_hook=self._object,
                                        parse_constant=self._constant)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                self.issues.append(f"key {key!r} appears twice in one object")
            found[key] = value
        return found

    def _constant(self, name: str) -> None:
        self.issues.append(f"{name} is not a number JSON allows")

    def record(self, line: int, raw: str, value: object) -> Record:
        issues, self.issues = self.issues, []
        if len(raw) > MAX_RECORD_CHARS:
            return _too_long(line, raw, len(raw))
        if issues:
            return Record(line, raw, None, issues[0])
        if not isinstance(value, dict):
            return Record(line, raw, None, f"a record is a JSON object, not "
                                           f"{_json_kind(value)}")
        return Record(line, raw, value)


def _json_kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number")


def _jsonl(handle: IO[str], line: list[int]) -> Iterator[Record]:
    decoder = _Decoder()
    number = 0
    while True:
        text = handle.readline(MAX_RECORD_CHARS + 1)
        if not text:
            return
        number += 1
        line[0] = number
        if len(text) > MAX_RECORD_CHARS and not text.endswith("\n"):
            head, length = text, len(text)
            while text and not text.endswith("\n"):  # the rest of the line, a chunk at a time
                text = handle.readline(READ_CHUNK)
                length += len(text)
            yield _too_long(number, head, length - (1 if text.endswith("\n") else 0))
            continue
        raw = text.rstrip("\r\n")
        if not raw.strip():
            continue
        try:
            value = decoder.decoder.decode(raw)
        except json.JSONDecodeError as exc:
            decoder.issues = []
            yield Record(number, raw, None, f"not valid JSON at column {exc.colno}: {exc.msg}")
            continue
        except (ValueError, RecursionError) as exc:
            decoder.issues = []
            yield Record(number, raw, None, f"not valid JSON: {str(exc)[:120]}")
            continue
        yield decoder.record(number, raw, value)


class _JsonArray:
    """One top-level array, element by element through a sliding window (json.raw_decode
    on the window: each element is parsed by the standard library, never the whole file)."""

    def __init__(self, handle: IO[str], path: Path, line: list[int]) -> None:
        self.handle, self.path, self.line = handle, path, line
        self.buf, self.pos, self.counted, self.lines_before = "", 0, 0, 1
        self.eof = False

    def _fill(self) -> None:
        while not self.eof and len(self.buf) - self.pos < JSON_LOOKAHEAD:
            if self.pos > JSON_LOOKAHEAD:  # drop what is behind, counting its lines
                self.lines_before += self.buf.count("\n", self.counted, self.pos)
                self.buf, self.pos, self.counted = self.buf[self.pos:], 0, 0
            chunk = self.handle.read(READ_CHUNK)
            self.eof = not chunk
            self.buf += chunk

    def _line_at(self, index: int) -> int:
        self.lines_before += self.buf.count("\n", self.counted, index)
        self.counted = index
        self.line[0] = self.lines_before - 1
        return self.lines_before

    def _next_char(self) -> str:
        while True:
            self._fill()
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if self.eof:
                return ""

    def _refuse(self, what: str) -> InvalidInput:
        return InvalidInput(f"{self.path}:{self._line_at(min(self.pos, len(self.buf)))}: {what}")

    def records(self) -> Iterator[Record]:
        decoder = _Decoder()
        first = self._next_char()
        if first != "[":
            raise self._refuse("not a JSON array of records"
                               + (f" (starts with {first!r}; for one object per line use "
                                  ".jsonl)" if first else " (the file is empty)"))
        self.pos += 1
        expect_value = False
        while True:
            char = self._next_char()
            if char == "]" and not expect_value:
                self.pos += 1
                if self._next_char():
                    raise self._refuse("text after the end of the JSON array")
                return
            if not char:
                raise self._refuse("the JSON array is not closed (the file ends early)")
            start = self.pos
            try:
                value, end = decoder.decoder.raw_decode(self.buf, start)
            except json.JSONDecodeError as exc:
                if not self.eof and exc.pos >= len(self.buf) - 1:
                    raise self._refuse(f"a record longer than {JSON_LOOKAHEAD} characters"
                                       ) from None
                self.pos = exc.pos
                raise self._refuse(f"not valid JSON ({exc.msg})") from None
            except (ValueError, RecursionError) as exc:
                raise self._refuse(f"not valid JSON ({str(exc)[:120]})") from None
            line = self._line_at(start)
            self.pos = end
            yield decoder.record(line, self.buf[start:end], value)
            separator = self._next_char()
            if separator == ",":
                self.pos += 1
                expect_value = True
            elif separator == "]":
                expect_value = False
            else:
                raise self._refuse("expected , or ] after a record")
