"""Build the default Word templates from the outlines: `python -m reports.authoring`.

For every outline and language this writes `reports/templates/<lang>/<name>.docx`, a document
a centre can open in Word or LibreOffice and restyle (styles, letterhead, margins, section
order) while keeping its tags. The build is reproducible (same outline, catalog and layout → the
same bytes), so a test holds the committed templates equal to a fresh build.

Every template carries: a page header with the case id and the report's title, a footer with
the report's identity and "page x of y", the issuing body and date at the end, and the
template's name and declared version in its document properties (category, version).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph as DocxParagraph
from lxml import etree

from reports.authoring.layout import HEADER_FILL, LAYOUTS, RED, Layout, Style
from reports.authoring.outline import (
    Block,
    Control,
    Heading,
    Image,
    Inline,
    Outline,
    Paragraph,
    RowControl,
    Span,
    Table,
    parse,
)
from reports.docx_package import reproducible_zip, set_language
from reports.i18n import Catalog
from rules.domain import LANGS, Lang

OUTLINES_DIR = Path(__file__).resolve().parent.parent / "outlines"
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_AUTHOR = "RiskGate"
_THEME_FONT_ATTRIBUTES = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


def outline_names(outlines_dir: Path = OUTLINES_DIR) -> list[str]:
    """Every report outline (partials, named `_*.md.j2`, are not reports)."""
    return sorted(p.name.removesuffix(".md.j2") for p in outlines_dir.glob("*.md.j2")
                  if not p.name.startswith("_"))


def _fonts(rpr: Any, style: Style) -> None:
    """Name the Latin and East Asian faces explicitly; theme fonts would win over them."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in _THEME_FONT_ATTRIBUTES:
        fonts.attrib.pop(qn(attribute), None)
    for attribute, face in (("w:ascii", style.latin.face), ("w:hAnsi", style.latin.face),
                            ("w:cs", style.latin.face), ("w:eastAsia", style.east_asia.face)):
        fonts.set(qn(attribute), face)


def _run(paragraph: DocxParagraph, text: str, style: Style, *, bold: bool = False,
         italic: bool = False, colour: str | None = None) -> None:
    run = paragraph.add_run(text)
    run.font.size = Pt(style.size_pt)
    if bold or style.bold:
        run.bold = True
    if italic:
        run.italic = True
    if colour:
        run.font.color.rgb = RGBColor.from_string(colour)
    _fonts(run._r.get_or_add_rPr(), style)


def _spans(paragraph: DocxParagraph, content: Inline, style: Style, *, italic: bool = False,
           bold: bool = False) -> None:
    for span in content:
        _run(paragraph, span.text, style, bold=bold or span.bold, italic=italic)


def _field(paragraph: DocxParagraph, instruction: str, style: Style) -> None:
    """PAGE / NUMPAGES, computed by Word and LibreOffice when they lay the document out."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    rpr = OxmlElement("w:rPr")
    size = OxmlElement("w:sz")
    size.set(qn("w:val"), str(int(style.size_pt * 2)))
    rpr.append(size)
    _fonts(rpr, style)
    run.append(rpr)
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def _pattern(paragraph: DocxParagraph, pattern: str, style: Style) -> None:
    """Text with {page} and {pages} replaced by fields."""
    rest = pattern
    while rest:
        head, brace, tail = rest.partition("{")
        if head:
            _run(paragraph, head, style)
        if not brace:
            break
        name, _, rest = tail.partition("}")
        _field(paragraph, {"page": "PAGE", "pages": "NUMPAGES"}[name], style)


def _rule_below(paragraph: DocxParagraph, colour: str) -> None:
    """A rule under the paragraph (the red line under the letterhead)."""
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "4"),
                       ("w:color", colour)):
        bottom.set(qn(key), value)
    borders.append(bottom)
    ppr.append(borders)


def _font_table(document: DocxDocument, layout: Layout) -> None:
    """Declare each face with its fallback as w:altName, so the template names both."""
    font_part = next(rel.target_part for rel in document.part.rels.values()
                     if rel.reltype.endswith("/fontTable"))
    root = parse_xml(font_part.blob)
    styles = (layout.letterhead, layout.title, layout.heading2, layout.heading3, layout.body,
              layout.table, layout.footer)
    faces = {s.east_asia for s in styles} | {s.latin for s in styles}
    for face in sorted(faces, key=lambda f: f.face):
        font = OxmlElement("w:font")
        font.set(qn("w:name"), face.face)
        alt = OxmlElement("w:altName")
        alt.set(qn("w:val"), face.fallback)
        font.append(alt)
        root.append(font)
    font_part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                     standalone=True)


def _styles(document: DocxDocument, layout: Layout, lang: Lang) -> None:
    defaults = document.styles.element.find(qn("w:docDefaults"))
    default_rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _fonts(default_rpr, layout.body)
    set_language(default_rpr)
    normal = document.styles["Normal"]
    normal.font.size = Pt(layout.body.size_pt)
    _fonts(normal.element.get_or_add_rPr(), layout.body)
    set_language(normal.element.get_or_add_rPr())
    if layout.body_line_pt:
        normal.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        normal.paragraph_format.line_spacing = Pt(layout.body_line_pt)
    normal.paragraph_format.space_after = Pt(0 if lang == "zh" else 4)
    for level, style in ((1, layout.title), (2, layout.heading2), (3, layout.heading3)):
        heading = document.styles[f"Heading {level}"]
        heading.font.size = Pt(style.size_pt)
        heading.font.bold = style.bold
        heading.font.italic = False
        heading.font.color.rgb = RGBColor(0, 0, 0)
        _fonts(heading.element.get_or_add_rPr(), style)
        heading.paragraph_format.space_before = Pt(12 if level > 1 else 6)
        heading.paragraph_format.space_after = Pt(6)
        heading.paragraph_format.keep_with_next = True
        if layout.body_line_pt:
            heading.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            heading.paragraph_format.line_spacing = Pt(max(layout.body_line_pt,
                                                           style.size_pt * 1.5))
        if level == 1:
            heading.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _page(document: DocxDocument, layout: Layout) -> None:
    top, bottom, left, right = layout.margins_mm
    for section in document.sections:
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.top_margin, section.bottom_margin = Mm(top), Mm(bottom)
        section.left_margin, section.right_margin = Mm(left), Mm(right)
        section.header_distance = section.footer_distance = Mm(15)


def _header_footer(document: DocxDocument, layout: Layout) -> None:
    for section in document.sections:
        header = section.header.paragraphs[0]
        header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _run(header, "{{ case_id }} · {{ report_title }}", layout.footer)
        _rule_below(header, "808080")
        footer = section.footer.paragraphs[0]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        page = Style(layout.footer.east_asia, layout.footer.latin, 14 if layout.body_line_pt
                     else layout.footer.size_pt + 1)
        _pattern(footer, layout.page_number, page)
        identity = section.footer.add_paragraph()
        identity.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _run(identity, "{{ report_identity }} · ", layout.footer)
        _pattern(identity, layout.page_of, layout.footer)


def _letterhead(document: DocxDocument, layout: Layout) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    _run(paragraph, "{{ issuer }}", layout.letterhead, colour=RED)
    _rule_below(paragraph, RED)


def _signature(document: DocxDocument, layout: Layout) -> None:
    """The issuing body and the date, right-aligned at the end (发文机关署名, 成文日期)."""
    document.add_paragraph()
    for text in ("{{ issuer }}", "{{ issued_on }}"):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _run(paragraph, text, layout.body)


def _cell_margins(table: Any) -> None:
    properties = table._tbl.tblPr
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        element = OxmlElement(f"w:{side}")
        element.set(qn("w:w"), "80")
        element.set(qn("w:type"), "dxa")
        margins.append(element)
    properties.append(margins)


def _shade(cell: Any, fill: str) -> None:
    tcpr = cell._tc.get_or_add_tcPr()
    shading = OxmlElement("w:shd")
    for key, value in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", fill)):
        shading.set(qn(key), value)
    tcpr.append(shading)


def _repeat_header(row: Any) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:tblHeader"))


def _table(document: DocxDocument, table: Table, layout: Layout, usable: int) -> None:
    columns = len(table.weights)
    rows = (*table.header, *table.body)
    grid = document.add_table(rows=len(rows), cols=columns)
    grid.style = document.styles["Table Grid"]
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    _cell_margins(grid)
    total = sum(table.weights)
    widths = [usable * weight // total for weight in table.weights]
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for index, (docx_row, row) in enumerate(zip(grid.rows, rows, strict=True)):
        header = index < len(table.header)
        if header:
            _repeat_header(docx_row)
        cells: tuple[Inline, ...]
        if isinstance(row, RowControl):
            cells = ((Span("{%tr " + row.statement.strip()[2:].lstrip("-").lstrip()),),)
            cells = (*cells, *(((),) * (columns - 1)))
        else:
            cells = row.cells
        for cell, content, width in zip(docx_row.cells, cells, widths, strict=True):
            cell.width = width
            paragraph = cell.paragraphs[0]
            paragraph.paragraph_format.space_after = Pt(0)
            paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
            _spans(paragraph, content, layout.table, bold=header)
            if header:
                _shade(cell, HEADER_FILL)


def _block(document: DocxDocument, block: Block, layout: Layout, usable: int) -> None:
    if isinstance(block, Heading):
        style = {1: layout.title, 2: layout.heading2, 3: layout.heading3}[block.level]
        paragraph = document.add_paragraph(style=f"Heading {block.level}")
        _spans(paragraph, block.content, style)
    elif isinstance(block, Paragraph):
        paragraph = document.add_paragraph(style="List Bullet" if block.style == "bullet"
                                           else None)
        _spans(paragraph, block.content, layout.body, italic=block.style == "note")
    elif isinstance(block, Control):
        paragraph = document.add_paragraph()
        _run(paragraph, "{%p " + block.statement.strip()[2:].lstrip("-").lstrip(), layout.body)
    elif isinstance(block, Image):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        # An exact line pitch (the zh body's) would show only a strip of the picture.
        paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
        _run(paragraph, "{{ " + block.expression + " }}", layout.body)
    elif isinstance(block, Table):
        _table(document, block, layout, usable)
    else:  # pragma: no cover - the outline parser makes no other blocks
        raise TypeError(f"not an outline block: {block!r}")


def template_bytes(outline: Outline, lang: Lang) -> bytes:
    """The .docx template of one outline in one language."""
    layout = LAYOUTS[lang]
    document = Document()
    _page(document, layout)
    _styles(document, layout, lang)
    _font_table(document, layout)
    _header_footer(document, layout)
    _letterhead(document, layout)
    section = document.sections[0]
    usable = section.page_width - section.left_margin - section.right_margin
    for block in outline.blocks:
        _block(document, block, layout, usable)
    _signature(document, layout)
    core = document.core_properties
    core.author = core.last_modified_by = TEMPLATE_AUTHOR
    core.title = "{{ report_title }}"
    core.category = outline.name
    core.version = f"v{outline.version}"
    core.comments = ""
    core.revision = 1
    core.language = {"zh": "zh-CN", "en": "en-US"}[lang]
    core.created = core.modified = datetime(2026, 1, 1, tzinfo=UTC)
    buffer = io.BytesIO()
    document.save(buffer)
    return reproducible_zip(buffer.getvalue())


def build(name: str, lang: Lang, outlines_dir: Path = OUTLINES_DIR) -> bytes:
    catalog = Catalog.load(lang)
    outline = parse(outlines_dir / f"{name}.md.j2", catalog.pattern)
    if outline.name != name:
        raise ValueError(f"{name}.md.j2: header names template {outline.name!r}")
    return template_bytes(outline, lang)


def build_all(out_dir: Path = DEFAULT_TEMPLATES_DIR, outlines_dir: Path = OUTLINES_DIR,
              names: list[str] | None = None) -> list[Path]:
    """Write every template (or those `names`) in every language; returns the files."""
    written = []
    for lang in LANGS:
        (out_dir / lang).mkdir(parents=True, exist_ok=True)
        for name in names or outline_names(outlines_dir):
            path = out_dir / lang / f"{name}.docx"
            path.write_bytes(build(name, lang, outlines_dir))
            written.append(path)
    return written
