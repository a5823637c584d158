"""Charts embedded in reports (matplotlib, Agg): PNG bytes that are the same for the same data.

Reports are re-rendered to prove they hold the stored data (same inputs → same SHA-256), so a
chart must not carry a timestamp or the library version: the PNG metadata is emptied and the
resolution fixed. Labels are drawn with a CJK-capable face when the machine has one
(`CJK_FONTS`, first found wins); without one, Chinese labels would print as boxes, so the face
used is named in `chart_font()` for the docs and the tests.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

# Faces that draw Chinese, in order of preference: Debian's fonts-noto-cjk, then Windows/macOS.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Microsoft YaHei",
             "SimHei", "PingFang SC")
FALLBACK_FONT = "DejaVu Sans"  # matplotlib's own; has no Chinese glyphs
DPI = 150
BAR_COLOUR = "#3b6ea5"
HIGHLIGHT_COLOUR = "#c0392b"


@dataclass(frozen=True)
class Chart:
    """A rendered chart and the width it takes on the page (the height follows the PNG)."""

    png: bytes
    width_cm: float


@cache
def _pyplot() -> Any:
    """matplotlib, imported when a chart is first drawn (a third of a second: most reports
    and every CLI command have no chart)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


@cache
def chart_font() -> str:
    """The face charts are drawn with: the first of CJK_FONTS installed, else FALLBACK_FONT."""
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((face for face in CJK_FONTS if face in installed), FALLBACK_FONT)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    # metadata=None for each key drops matplotlib's "Software" and any timestamp.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str = "",
              highlight: int | None = None, width_cm: float = 14.0,
              horizontal: bool = False) -> Chart:
    """Bars with their value written on each; `highlight` colours one bar (the deciding one).

    An empty series draws an empty frame rather than failing: a bulletin for a quiet
    fortnight still has its chart slots.
    """
    if len(labels) != len(values):
        raise ValueError(f"bar_chart: {len(labels)} labels for {len(values)} values")
    family = chart_font()
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    with plt.rc_context({"font.family": family, "font.size": 9, "svg.hashsalt": "riskgate",
                         "axes.spines.top": False, "axes.spines.right": False}):
        height_in = max(2.2, 0.32 * len(labels) + 0.9) if horizontal else 2.6
        figure, axes = plt.subplots(figsize=(width_cm / 2.54, height_in))
        colours = [HIGHLIGHT_COLOUR if index == highlight else BAR_COLOUR
                   for index in range(len(values))]
        positions = list(range(len(values)))
        if horizontal:
            bars = axes.barh(positions, values, color=colours)
            axes.set_yticks(positions, labels)
            axes.invert_yaxis()
        else:
            bars = axes.bar(positions, values, color=colours)
            axes.set_xticks(positions, labels)
        if values:
            axes.bar_label(bars, labels=[_number(v) for v in values], padding=2)
        if all(float(v).is_integer() for v in values):  # counts: no tick at 0.25 of a case
            (axes.xaxis if horizontal else axes.yaxis).set_major_locator(
                MaxNLocator(integer=True))
        if title:
            axes.set_title(title)
        axes.margins(x=0.05, y=0.12)
        figure.tight_layout()
        return Chart(png=_png(figure), width_cm=width_cm)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
