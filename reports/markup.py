"""The line-based report markup that gate templates render, parsed into blocks.

A deliberately tiny language (headings, paragraphs, bullets, notes, tables, **bold**) so that a
template's structure is obvious from its text, and so that escaping user values (see
reports/templating.py) is complete: every character that can change structure has an escape.

    # / ## / ### text    heading level 1-3          - text      bullet
    > text               note (italic)              | a | b |   table row
    | --- | :---: |      separator: rows above it are header rows (not output)
    blank line           ignored                    other       one paragraph per line
    **bold**             inline, in any text        \\x          x literally; \\n line break

The block type is decided on the escaped text, then escapes are resolved, so `\\#` at the start
of a line is a paragraph beginning with "#" and `\\|` in a cell is a literal pipe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESCAPE = "\\"
BOLD = "**"

_HEADING = re.compile(r"^(#{1,3})(?:\s+(.*))?$", re.DOTALL)
_BULLET = re.compile(r"^-(?:\s+(.*))?$", re.DOTALL)
_NOTE = re.compile(r"^>(?:\s+(.*))?$", re.DOTALL)
_SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")


@dataclass(frozen=True)
class Span:
    """A run of text with one formatting; `text` may contain "\\n" (a line break)."""

    text: str
    bold: bool = False


Inline = tuple[Span, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    content: Inline


@dataclass(frozen=True)
class Paragraph:
    content: Inline


@dataclass(frozen=True)
class Bullet:
    content: Inline


@dataclass(frozen=True)
class Note:
    content: Inline


@dataclass(frozen=True)
class Table:
    """Rows of cells; the first `header_rows` rows are the header (bold, repeated per page)."""

    rows: tuple[tuple[Inline, ...], ...]
    header_rows: int = 0

    @property
    def columns(self) -> int:
        return max((len(row) for row in self.rows), default=0)


Block = Heading | Paragraph | Bullet | Note | Table


def plain(content: Inline) -> str:
    """The text of inline content without formatting."""
    return "".join(span.text for span in content)


def _escaped_at(text: str, index: int) -> bool:
    """Whether text[index] is preceded by an odd run of backslashes (i.e. is escaped)."""
    run = 0
    while index - 1 - run >= 0 and text[index - 1 - run] == ESCAPE:
        run += 1
    return run % 2 == 1


def strip(text: str) -> str:
    """Strip surrounding whitespace, but keep an escaped whitespace character at the end.

    Leading whitespace cannot be escaped (the backslash would come first), so lstrip is safe;
    trailing `\\ ` must survive, or a value ending in a space would lose it.
    """
    text = text.lstrip()
    end = len(text)
    while end and text[end - 1].isspace():
        end -= 1
    if end < len(text) and _escaped_at(text, end):
        end += 1
    return text[:end]


def split_cells(row: str) -> list[str]:
    """Split a `| a | b |` row on unescaped pipes; the outer pipes open and close the row."""
    cells: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(row):
        char = row[index]
        if char == ESCAPE and index + 1 < len(row):
            current.append(row[index:index + 2])
            index += 2
            continue
        if char == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    cells.append("".join(current))
    return [strip(cell) for cell in cells[1:-1]]


def _is_row(line: str) -> bool:
    return (len(line) >= 2 and line[0] == "|" and line[-1] == "|"
            and not _escaped_at(line, len(line) - 1))


def parse_inline(text: str) -> Inline:
    """Resolve escapes and `**bold**` markers into spans. An unpaired `**` is literal text."""
    tokens: list[str | None] = []  # None marks a bold toggle
    index = 0
    while index < len(text):
        char = text[index]
        if char == ESCAPE and index + 1 < len(text):
            following = text[index + 1]
            tokens.append("\n" if following == "n" else following)
            index += 2
        elif text.startswith(BOLD, index):
            tokens.append(None)
            index += 2
        else:
            tokens.append(char)
            index += 1
    toggles = [i for i, token in enumerate(tokens) if token is None]
    if len(toggles) % 2:
        tokens[toggles[-1]] = BOLD
    spans: list[Span] = []
    bold = False
    buffer: list[str] = []
    for token in tokens:
        if token is None:
            if buffer:
                spans.append(Span("".join(buffer), bold))
                buffer = []
            bold = not bold
        else:
            buffer.append(token)
    if buffer:
        spans.append(Span("".join(buffer), bold))
    return tuple(spans)


def _table(rows: list[list[str]]) -> Table:
    header_rows = 0
    kept: list[tuple[Inline, ...]] = []
    for cells in rows:
        if cells and all(_SEPARATOR_CELL.match(cell) for cell in cells):
            header_rows = len(kept)
        else:
            kept.append(tuple(parse_inline(cell) for cell in cells))
    return Table(rows=tuple(kept), header_rows=header_rows)


def _line_block(line: str) -> Block:
    if match := _HEADING.match(line):
        return Heading(len(match.group(1)), parse_inline(match.group(2) or ""))
    if match := _BULLET.match(line):
        return Bullet(parse_inline(match.group(1) or ""))
    if match := _NOTE.match(line):
        return Note(parse_inline(match.group(1) or ""))
    return Paragraph(parse_inline(line))


def parse(text: str) -> list[Block]:
    """Parse rendered template output into blocks, in document order."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = strip(raw_line)
        if _is_row(line):
            rows.append(split_cells(line))
            continue
        if rows:
            blocks.append(_table(rows))
            rows = []
        if line:
            blocks.append(_line_block(line))
    if rows:
        blocks.append(_table(rows))
    return blocks
