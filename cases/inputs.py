"""Reading files people hand to RiskGate: bounded, typed, and strict about JSON.

Every file a command reads (a signal, a case file, a rulebook, a roster) comes through here, so
`/dev/zero` is refused before a byte is read (it is not a regular file), a FIFO does not block
the command forever, a 3 GB file costs one `stat`, and a JSON document with a repeated key, a
`NaN`, 100,000 nested brackets or a 5,000-digit number is one clear error instead of a crash or
a silently changed value (`{"hazards": ["choking"], "hazards": []}` would keep the last).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from cases.errors import InvalidInput

MAX_JSON_DEPTH = 64


def read_bounded(path: Path, max_bytes: int, *, what: str = "file") -> bytes:
    """The file's bytes, if it is a regular file of at most `max_bytes`; InvalidInput with the
    path and the reason otherwise. Nothing is read from what is not a regular file."""
    shown = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidInput(f"{shown}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{shown}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"{shown}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{shown}: not a regular file (a device, a FIFO or a socket); give "
                           f"a {what} on disk")
    if info.st_size > max_bytes:
        raise InvalidInput(f"{shown}: {info.st_size} bytes is too large for a {what} "
                           f"(max {max_bytes})")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"{shown}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:  # it grew after the stat
        raise InvalidInput(f"{shown}: more than {max_bytes} bytes is too large for a {what}")
    return data


def read_text(path: Path, max_bytes: int, *, what: str = "file") -> str:
    data = read_bounded(path, max_bytes, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _refuse_duplicates(source: str):  # type: ignore[no-untyped-def]
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in pairs:
            if key in found:
                raise InvalidInput(f"{source}: key {key!r} appears twice in one object; give "
                                   "each field once")
            found[key] = value
        return found
    return build


def _refuse_constant(source: str):  # type: ignore[no-untyped-def]
    def refuse(name: str) -> Any:
        raise InvalidInput(f"{source}: {name} is not a number JSON allows")
    return refuse


def _depth(text: str) -> int:
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def parse_json(text: str, *, source: str) -> Any:
    """Strict JSON: no repeated keys, no NaN or Infinity, bounded nesting and numbers."""
    if not text.strip():
        raise InvalidInput(f"{source}: the file is empty")
    nesting = _depth(text)
    if nesting > MAX_JSON_DEPTH:
        raise InvalidInput(f"{source}: JSON nested {nesting} deep; at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates(source),
                          parse_constant=_refuse_constant(source))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: not valid JSON at line {exc.lineno} column {exc.colno}: "
                           f"{exc.msg}") from None
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit conversion limit
        raise InvalidInput(f"{source}: {str(exc).split(';')[0][:120]}") from None
    except RecursionError:
        raise InvalidInput(f"{source}: JSON nested too deep") from None


def read_json(path: Path, max_bytes: int, *, what: str = "file") -> Any:
    return parse_json(read_text(path, max_bytes, what=what), source=str(path))
