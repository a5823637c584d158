"""Outlines: the line-based sources the default Word templates are built from.

An outline (`reports/outlines/<name>.md.j2`) is a report's structure in a form an engineer can
read and diff: headings, paragraphs, bullets, notes, tables and Jinja2 tags. The builder
(reports/authoring/build.py) turns it into a real .docx template per language; docxtpl renders
that template at run time. The centre restyles the .docx; engineers change the outline.

    # / ## / ### text    heading 1-3 (# is the report title)      - text     bullet
    > text               note (italic)                             | a | b |  table row
    | --- | ------ |     separator: rows above it are header rows, repeated on every page;
                         the dashes of each column give its share of the page width
    {% … %} alone        a control line: inside a table it becomes a `{%tr … %}` row, else a
                         `{%p … %}` paragraph (docxtpl removes the row or paragraph itself)
    {{ x | image }}      alone on a line: a picture paragraph (the value is a reports.charts.Chart)
    **bold**             inline;  \\x  the character x literally
    {% include "_x.md.j2" %} alone on a line: the partial's lines, in place
    {# template: name v1.0 #} first line: the template's name and declared version

`{{ t("key") }}` with one literal key is replaced by the catalog's text in the template's
language, so a centre sees and edits real words in Word; calls with parameters stay tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HEADER = re.compile(r"^\{#\s*template:\s*(?P<name>[A-Za-z0-9_]+)\s+v(?P<version>\d+\.\d+)\s*#\}$")
_INCLUDE = re.compile(r"^\{%-?\s*include\s+\"(?P<name>[^\"]+)\"\s*-?%\}$")
_CONTROL = re.compile(r"^(\{%-?.*?-?%\}\s*)+$")
_COMMENT = re.compile(r"^\{#.*#\}$")
_IMAGE = re.compile(r"^\{\{\s*(?P<expr>[^{}]+?\|\s*image(?:\([^)]*\))?)\s*\}\}$")
_CONSTANT_T = re.compile(r"\{\{\s*t\(\"(?P<key>[A-Za-z0-9_.]+)\"\)\s*\}\}")
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")
_HEADING = re.compile(r"^(#{1,3})\s+(.*)$")
_SEPARATOR_CELL = re.compile(r"^:?(-{3,}):?$")
_OPENERS = ("for", "if", "macro", "call", "filter", "with", "block")
_CLOSERS = ("endfor", "endif", "endmacro", "endcall", "endfilter", "endwith", "endblock")


class OutlineError(ValueError):
    """An outline the builder cannot turn into a template; the message names file and line."""


@dataclass(frozen=True)
class Span:
    """Inline text; `text` may hold Jinja2 tags, which docxtpl renders in place."""

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
    style: str = "body"  # body | bullet | note


@dataclass(frozen=True)
class Control:
    """A `{% … %}` statement line outside tables (a docxtpl `{%p … %}` paragraph)."""

    statement: str


@dataclass(frozen=True)
class Image:
    expression: str  # the Jinja2 expression ending in `| image`


@dataclass(frozen=True)
class Row:
    cells: tuple[Inline, ...]


@dataclass(frozen=True)
class RowControl:
    """A control line between table rows (a docxtpl `{%tr … %}` row)."""

    statement: str


@dataclass(frozen=True)
class Table:
    header: tuple[Row, ...]
    body: tuple[Row | RowControl, ...]
    weights: tuple[int, ...]  # relative column widths (dashes in the separator)


Block = Heading | Paragraph | Control | Image | Table


@dataclass(frozen=True)
class Outline:
    name: str
    version: str  # the declared MAJOR.MINOR
    blocks: tuple[Block, ...]


def _expand(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, int, str]]:
    """The outline's lines with includes expanded, each as (file name, line number, text)."""
    if path in seen:
        raise OutlineError(f"{path.name}: includes itself ({' → '.join(p.name for p in seen)})")
    lines: list[tuple[str, int, str]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        include = _INCLUDE.match(text)
        if include:
            partial = path.with_name(include["name"])
            if not partial.is_file():
                raise OutlineError(f"{path.name}:{number}: no partial {include['name']!r}")
            lines.extend(_expand(partial, (*seen, path)))
        else:
            lines.append((path.name, number, text))
    return lines


def _escape_text(text: str) -> str:
    r"""Resolve `\x` escapes in literal text (tags are left as they are)."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            out.append(text[index + 1])
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _outside_tags(text: str, marker: str) -> list[str]:
    """Split `text` on `marker` where it is not inside a Jinja2 tag or escaped."""
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        tag = _TAG.match(text, index)
        if tag:
            current.append(tag.group())
            index = tag.end()
        elif text[index] == "\\" and index + 1 < len(text):
            current.append(text[index:index + 2])
            index += 2
        elif text.startswith(marker, index):
            pieces.append("".join(current))
            current = []
            index += len(marker)
        else:
            current.append(text[index])
            index += 1
    pieces.append("".join(current))
    return pieces


def inline(text: str, translate: Callable[[str], str]) -> Inline:
    """Literal `t("key")` calls replaced by words, `**bold**` split into spans, escapes
    resolved. A catalog text that looks like a tag stays a call (never baked in raw)."""

    def bake(match: re.Match[str]) -> str:
        try:
            words = translate(match["key"])
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if any(mark in words for mark in ("{{", "}}", "{%", "%}", "{#", "#}")):
            return match.group()
        return words.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")

    baked = _CONSTANT_T.sub(bake, text)
    pieces = _outside_tags(baked, "**")
    if len(pieces) % 2 == 0:
        raise ValueError(f"unbalanced ** in {text!r}")
    return tuple(Span(_escape_text(piece), bold=index % 2 == 1)
                 for index, piece in enumerate(pieces) if piece)


def _depth_change(statement: str) -> int:
    change = 0
    for tag in re.findall(r"\{%-?\s*(\w+)", statement):
        if tag in _OPENERS:
            change += 1
        elif tag in _CLOSERS:
            change -= 1
        elif tag == "set" and "=" not in statement:
            change += 1  # a block set: {% set x %}…{% endset %}
        elif tag == "endset":
            change -= 1
    return change


def _row(text: str, translate: Callable[[str], str]) -> tuple[str, ...]:
    cells = _outside_tags(text, "|")
    if cells[0].strip() or cells[-1].strip():
        raise ValueError("a table row starts and ends with |")
    return tuple(cell.strip() for cell in cells[1:-1])


def parse(path: Path, translate: Callable[[str], str]) -> Outline:
    """The outline at `path`, constant texts in the language `translate` speaks."""
    lines = _expand(path)
    if not lines or not (header := HEADER.match(lines[0][2])):
        raise OutlineError(f"{path.name}:1: first line must be "
                           f"{{# template: {path.stem.removesuffix('.md')} v<MAJOR.MINOR> #}}")
    blocks: list[Block] = []
    index = 1
    while index < len(lines):
        where, number, text = lines[index]
        try:
            if text.startswith("|"):
                table, index = _table(lines, index, translate)
                blocks.append(table)
                continue
            blocks.extend(_line(text, translate))
        except ValueError as exc:
            raise OutlineError(f"{where}:{number}: {exc}") from None
        index += 1
    return Outline(name=header["name"], version=header["version"], blocks=tuple(blocks))


def _line(text: str, translate: Callable[[str], str]) -> list[Block]:
    if not text or _COMMENT.match(text):
        return []
    if _CONTROL.match(text):
        return [Control(text)]
    if image := _IMAGE.match(text):
        return [Image(image["expr"].strip())]
    if heading := _HEADING.match(text):
        return [Heading(len(heading[1]), inline(heading[2], translate))]
    if text.startswith("- "):
        return [Paragraph(inline(text[2:], translate), "bullet")]
    if text.startswith("> "):
        return [Paragraph(inline(text[2:], translate), "note")]
    return [Paragraph(inline(text, translate))]


def _table(lines: list[tuple[str, int, str]], start: int,
           translate: Callable[[str], str]) -> tuple[Table, int]:
    """Rows and control lines from `start` to the first line that is neither; control lines
    after the last row stay in the table only while they close a block opened in it."""
    header: list[Row] = []
    body: list[Row | RowControl] = []
    weights: tuple[int, ...] | None = None
    depth = 0
    index = start
    while index < len(lines):
        where, number, text = lines[index]
        try:
            if text.startswith("|"):
                cells = _row(text, translate)
                if weights is None and cells and all(_SEPARATOR_CELL.match(c) for c in cells):
                    weights = tuple(len(c.strip(":")) for c in cells)
                    header, body = [r for r in body if isinstance(r, Row)], []
                else:
                    body.append(Row(tuple(inline(c, translate) for c in cells)))
            elif _CONTROL.match(text):
                change = _depth_change(text)
                following = next((t for _, _, t in lines[index + 1:] if not _CONTROL.match(t)),
                                 "")
                if not following.startswith("|") and not (depth > 0 and change < 0):
                    break  # not closing a block of the table's own: a paragraph control
                depth += change
                body.append(RowControl(text))
            else:
                break
        except ValueError as exc:
            raise OutlineError(f"{where}:{number}: {exc}") from None
        index += 1
    if weights is None:
        where, number, _ = lines[start]
        raise OutlineError(f"{where}:{number}: a table needs a | --- | separator under its "
                           "header row")
    columns = {len(r.cells) for r in (*header, *body) if isinstance(r, Row)}
    if columns != {len(weights)}:
        where, number, _ = lines[start]
        raise OutlineError(f"{where}:{number}: rows of {sorted(columns)} cells in a table of "
                           f"{len(weights)} columns")
    return Table(tuple(header), tuple(body), weights), index
