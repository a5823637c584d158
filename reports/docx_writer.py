"""Markup blocks → a Word (.docx) file with python-docx.

The layout is fixed here rather than in templates so every gate report looks the same: A4,
2.5 cm margins, Chinese fonts named explicitly (theme fonts would resolve to Latin-only faces on
many machines), a footer identifying case, gate and template version on every page.

Output is byte-for-byte reproducible (fixed zip timestamps, metadata from the gate time), so the
SHA-256 recorded in the manifest can be re-derived by rendering the same inputs again.
"""

from __future__ import annotations

import contextlib
import io
import os
import string
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph as DocxParagraph

from reports.i18n import Catalog
from reports.markup import Block, Bullet, Heading, Inline, Note, Paragraph, Span, Table, plain
from rules.domain import Lang

AUTHOR = "RiskGate"
LATIN_BODY_FONT = "Times New Roman"
LATIN_HEADING_FONT = "Arial"
EAST_ASIA_BODY_FONT = "SimSun"  # 宋体; LibreOffice substitutes Noto Serif CJK
EAST_ASIA_HEADING_FONT = "SimHei"  # 黑体; LibreOffice substitutes Noto Sans CJK
BODY_SIZE = Pt(10.5)  # 五号
HEADING_SIZES = {1: Pt(16), 2: Pt(14), 3: Pt(12)}
PAGE_WIDTH, PAGE_HEIGHT, MARGIN = Cm(21.0), Cm(29.7), Cm(2.5)
# Column sizing in display characters (CJK count two): see column_widths().
MIN_COLUMN_CHARS, MAX_COLUMN_CHARS, MAX_UNBREAKABLE = 2, 60, 16
CELL_PADDING_CHARS = 2
CHAR_EMU = int(Pt(5.5))  # about half an em of the 10.5 pt body text: one Latin character
LANGUAGE_TAGS: dict[str, str] = {"zh": "zh-CN", "en": "en-US"}
# Fixed zip entry time: python-docx stamps entries with the wall clock, which would make two
# renders of the same report differ.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
PROPERTY_KEYS = frozenset({"created", "modified", "subject", "keywords", "category", "comments",
                           "identifier", "version", "content_status"})
_THEME_FONT_ATTRIBUTES = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


def _set_fonts(rpr: Any, latin: str, east_asia: str) -> None:
    """Name the Latin and East Asian faces of a w:rPr explicitly, dropping theme fonts (which
    take precedence over named ones)."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in _THEME_FONT_ATTRIBUTES:
        fonts.attrib.pop(qn(attribute), None)
    for attribute, face in (("w:ascii", latin), ("w:hAnsi", latin), ("w:cs", latin),
                            ("w:eastAsia", east_asia)):
        fonts.set(qn(attribute), face)


def _set_language(rpr: Any, lang: Lang) -> None:
    """Latin text is checked as English; CJK text as Simplified Chinese in both report
    languages (product and company names stay Chinese in English reports)."""
    tag = rpr.find(qn("w:lang"))
    if tag is None:
        tag = OxmlElement("w:lang")
        rpr.append(tag)
    tag.set(qn("w:val"), "en-US")
    tag.set(qn("w:eastAsia"), "zh-CN")
    tag.attrib.pop(qn("w:bidi"), None)


def _setup_styles(document: DocxDocument, lang: Lang) -> None:
    defaults = document.styles.element.find(qn("w:docDefaults"))
    default_rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(default_rpr, LATIN_BODY_FONT, EAST_ASIA_BODY_FONT)
    _set_language(default_rpr, lang)

    normal = document.styles["Normal"]
    normal.font.size = BODY_SIZE
    normal_rpr = normal.element.get_or_add_rPr()
    _set_fonts(normal_rpr, LATIN_BODY_FONT, EAST_ASIA_BODY_FONT)
    _set_language(normal_rpr, lang)

    for level, size in HEADING_SIZES.items():
        heading = document.styles[f"Heading {level}"]
        heading.font.size = size
        heading.font.bold = True
        heading.font.color.rgb = RGBColor(0, 0, 0)
        _set_fonts(heading.element.get_or_add_rPr(), LATIN_HEADING_FONT, EAST_ASIA_HEADING_FONT)


def _setup_page(document: DocxDocument) -> None:
    for section in document.sections:
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        section.top_margin = section.bottom_margin = MARGIN
        section.left_margin = section.right_margin = MARGIN


def _add_runs(paragraph: DocxParagraph, content: Inline, *, east_asia: str,
              latin: str = LATIN_BODY_FONT, bold: bool = False, italic: bool = False) -> None:
    for span in content:
        run = paragraph.add_run(span.text)  # "\n" becomes a line break, "\t" a tab
        run.bold = True if (bold or span.bold) else None
        if italic:
            run.italic = True
        _set_fonts(run._r.get_or_add_rPr(), latin, east_asia)


def _add_field(paragraph: DocxParagraph, instruction: str) -> None:
    """A simple field (PAGE, NUMPAGES) that Word and LibreOffice compute when laying out."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _setup_footer(document: DocxDocument, footer: str, page_pattern: str) -> None:
    """The footer text, then "page X of Y" laid out by the catalog's pattern."""
    for section in document.sections:
        first = section.footer.paragraphs[0]
        first.style = document.styles["Footer"]
        first.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _add_runs(first, (Span(footer),), east_asia=EAST_ASIA_BODY_FONT)
        pages = section.footer.add_paragraph(style="Footer")
        pages.alignment = WD_ALIGN_PARAGRAPH.CENTER
        fields = {"page": "PAGE", "pages": "NUMPAGES"}
        for literal, name, _, _ in string.Formatter().parse(page_pattern):
            if literal:
                _add_runs(pages, (Span(literal),), east_asia=EAST_ASIA_BODY_FONT)
            if name is not None:
                if name not in fields:
                    raise ValueError(f"page pattern field {{{name}}}: use {{page}} or {{pages}}")
                _add_field(pages, fields[name])


def _mark_header_row(row: Any) -> None:
    """Repeat the row at the top of every page the table spans (w:tblHeader)."""
    tr_pr = row._tr.get_or_add_trPr()
    if tr_pr.find(qn("w:tblHeader")) is None:
        tr_pr.append(OxmlElement("w:tblHeader"))


def _display_width(text: str) -> int:
    """Columns a text needs: CJK (wide) characters count two, line breaks split the text."""
    return max((sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
                for line in text.split("\n")), default=0)


def _unbreakable(text: str, header: bool) -> int:
    """The widest piece a line break should not split: a header label, or the longest word."""
    if header:
        return _display_width(text)
    return max((_display_width(word) for word in text.split()), default=0)


def column_widths(table: Table, usable: int) -> list[int]:
    """Column widths (EMU) from the content: each column first gets room for its unbreakable
    pieces (header labels, codes such as T101 or E013), then the rest of the page width is
    shared in proportion to how much more each column could use (capped, so one long rationale
    cannot starve the others)."""
    columns = max(table.columns, 1)
    floor = [MIN_COLUMN_CHARS] * columns
    want = [MIN_COLUMN_CHARS] * columns
    for row_index, cells in enumerate(table.rows):
        header = row_index < table.header_rows
        for index, content in enumerate(cells[:columns]):
            text = plain(content)
            floor[index] = max(floor[index], min(_unbreakable(text, header), MAX_UNBREAKABLE))
            want[index] = max(want[index], min(_display_width(text), MAX_COLUMN_CHARS))
    floor = [f + CELL_PADDING_CHARS for f in floor]
    want = [max(w + CELL_PADDING_CHARS, f) for w, f in zip(want, floor, strict=True)]
    available = usable // CHAR_EMU
    if sum(floor) >= available or sum(want) == sum(floor):
        return [usable * f // sum(floor) for f in floor]
    spare = available - sum(floor)
    extra = [w - f for w, f in zip(want, floor, strict=True)]
    chars = [f + spare * e / sum(extra) for f, e in zip(floor, extra, strict=True)]
    return [int(usable * c / sum(chars)) for c in chars]


def _add_table(document: DocxDocument, table: Table) -> None:
    columns = max(table.columns, 1)
    grid = document.add_table(rows=len(table.rows), cols=columns)
    grid.style = document.styles["Table Grid"]
    grid.autofit = False
    widths = column_widths(table, PAGE_WIDTH - 2 * MARGIN)
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for row_index, (row, cells) in enumerate(zip(grid.rows, table.rows, strict=True)):
        header = row_index < table.header_rows
        if header:
            _mark_header_row(row)
        for cell, content, width in zip(row.cells, cells, widths, strict=False):
            cell.width = width
            paragraph = cell.paragraphs[0]
            paragraph.paragraph_format.space_after = Pt(0)
            _add_runs(paragraph, content, east_asia=EAST_ASIA_BODY_FONT, bold=header)


def _add_block(document: DocxDocument, block: Block) -> None:
    match block:
        case Heading(level=level, content=content):
            paragraph = document.add_paragraph(style=f"Heading {level}")
            _add_runs(paragraph, content, east_asia=EAST_ASIA_HEADING_FONT,
                      latin=LATIN_HEADING_FONT)
        case Bullet(content=content):
            paragraph = document.add_paragraph(style="List Bullet")
            _add_runs(paragraph, content, east_asia=EAST_ASIA_BODY_FONT)
        case Note(content=content):
            paragraph = document.add_paragraph()
            _add_runs(paragraph, content, east_asia=EAST_ASIA_BODY_FONT, italic=True)
        case Paragraph(content=content):
            paragraph = document.add_paragraph()
            _add_runs(paragraph, content, east_asia=EAST_ASIA_BODY_FONT)
        case Table():
            _add_table(document, block)
        case _:
            raise TypeError(f"not a markup block: {block!r}")


def _utc(value: Any, key: str) -> datetime:
    # python-docx writes the wall-clock digits with a "Z" suffix, so convert to UTC first.
    if not isinstance(value, datetime):
        raise TypeError(f"property {key} must be a datetime, got {value!r}")
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _set_properties(document: DocxDocument, *, lang: Lang, title: str,
                    properties: Mapping[str, Any]) -> None:
    unknown = set(properties) - PROPERTY_KEYS
    if unknown:
        raise ValueError(f"unknown document properties {sorted(unknown)}; "
                         f"expected some of {sorted(PROPERTY_KEYS)}")
    core = document.core_properties
    core.title = title
    core.author = core.last_modified_by = AUTHOR
    core.language = LANGUAGE_TAGS[lang]
    core.revision = 1
    core.comments = ""  # python-docx's template says "generated by python-docx"
    for key, value in properties.items():
        if key in ("created", "modified"):
            setattr(core, key, _utc(value, key))
        else:
            setattr(core, key, str(value))


def _reproducible_zip(data: bytes) -> bytes:
    """Re-pack the package with fixed entry timestamps and permissions, same order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(entry))
    return out.getvalue()


def docx_bytes(blocks: Iterable[Block], *, lang: Lang, title: str, footer: str,
               properties: Mapping[str, Any]) -> bytes:
    """The .docx package for `blocks` as bytes."""
    document = Document()
    _setup_page(document)
    _setup_styles(document, lang)
    _setup_footer(document, footer, Catalog.load(lang).pattern("report.page"))
    for block in blocks:
        _add_block(document, block)
    _set_properties(document, lang=lang, title=title, properties=properties)
    buffer = io.BytesIO()
    document.save(buffer)
    return _reproducible_zip(buffer.getvalue())


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + fsync + os.replace: readers see the old
    file or the complete new one, never a torn report, even if the process dies midway."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp creates 0600; auditors read reports
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def write_docx(blocks: Iterable[Block], path: Path, *, lang: Lang, title: str, footer: str,
               properties: Mapping[str, Any]) -> None:
    """Write `blocks` as a .docx at `path` (atomically; parent directories are created)."""
    write_atomically(path, docx_bytes(blocks, lang=lang, title=title, footer=footer,
                                      properties=properties))
