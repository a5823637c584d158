"""The page layout of the default templates, one per language: faces, sizes, margins, colours.

Chinese reports follow the layout of Chinese official documents where it fits (GB/T 9704-2012):
A4 with 37/35/28/26 mm margins, the issuing body's name in red above a red rule (版头), the title
in a song-style display face at 2号 (22 pt), first-level headings in a hei (黑体) and second-level
in a kai (楷体) face at 3号, body text in a fangsong (仿宋) face at 3号 (16 pt), the page number
as "— 1 —" at 4号, and the issuing body and date (成文日期) at the end. Tables use 五号 (10.5 pt)
so that eight columns fit the type area.

Each face is named as offices have it (`face`) with the face this machine has as the
fallback (`fallback`, Debian's fonts-noto-cjk), written as the font table's alternative name
(w:altName), which LibreOffice uses when the first is missing. `riskgate report fonts` and
docs/reports.md name both.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.domain import Lang

RED = "C00000"
HEADER_FILL = "E7E6E6"


@dataclass(frozen=True)
class Face:
    face: str  # the name written in the template
    fallback: str  # what LibreOffice uses here when `face` is not installed


@dataclass(frozen=True)
class Style:
    east_asia: Face
    latin: Face
    size_pt: float
    bold: bool = False


@dataclass(frozen=True)
class Layout:
    margins_mm: tuple[float, float, float, float]  # top, bottom, left, right
    letterhead: Style
    title: Style
    heading2: Style
    heading3: Style
    body: Style
    table: Style
    footer: Style
    body_line_pt: float | None  # exact line pitch (GB/T 9704: 22 lines on a page), or auto
    page_number: str  # the page field's surroundings: "— {page} —"
    page_of: str  # "第 {page} 页 共 {pages} 页"


SONG_DISPLAY = Face("方正小标宋简体", "Noto Serif CJK SC")
SONG = Face("宋体", "Noto Serif CJK SC")
FANGSONG = Face("仿宋", "Noto Serif CJK SC")
HEI = Face("黑体", "Noto Sans CJK SC")
KAI = Face("楷体", "Noto Serif CJK SC")
TIMES = Face("Times New Roman", "Liberation Serif")
ARIAL = Face("Arial", "Liberation Sans")

LAYOUTS: dict[Lang, Layout] = {
    "zh": Layout(
        margins_mm=(37, 35, 28, 26),
        letterhead=Style(SONG_DISPLAY, TIMES, 26, bold=True),
        title=Style(SONG_DISPLAY, TIMES, 22),
        heading2=Style(HEI, ARIAL, 16),
        heading3=Style(KAI, TIMES, 16, bold=True),
        body=Style(FANGSONG, TIMES, 16),
        table=Style(FANGSONG, TIMES, 10.5),
        footer=Style(SONG, TIMES, 9),
        body_line_pt=28.95,
        page_number="— {page} —",
        page_of="第 {page} 页 共 {pages} 页",
    ),
    "en": Layout(
        margins_mm=(25, 25, 25, 25),
        letterhead=Style(HEI, ARIAL, 16, bold=True),
        title=Style(HEI, ARIAL, 18, bold=True),
        heading2=Style(HEI, ARIAL, 13, bold=True),
        heading3=Style(HEI, ARIAL, 11.5, bold=True),
        body=Style(SONG, TIMES, 11),
        table=Style(SONG, TIMES, 9.5),
        footer=Style(SONG, ARIAL, 8),
        body_line_pt=None,
        page_number="{page}",
        page_of="Page {page} of {pages}",
    ),
}
