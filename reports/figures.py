"""The assessment report's figures: the risk matrix as a coloured table, and the chart of the
levels the experts gave. Pure functions of the round results, so a re-render draws the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reports.charts import Chart, bar_chart
from reports.i18n import Catalog
from rules.domain import Lang
from rules.risk_matrix import BAND_LABELS, LEVEL_NAMES, LEVELS, MATRIX, SEVERITIES

# Cell fills by level (hex without #, as docxtpl's cellbg wants): the usual red/orange/yellow/
# green of risk matrices, light enough that black text stays readable in print.
LEVEL_FILLS = {"serious": "E06666", "high": "F6B26B", "medium": "FFE599", "low": "B6D7A8"}
DECIDING_MARK = "◆ "


def matrix_rows(severity: int, band: int, lang: Lang) -> list[dict[str, Any]]:
    """One row per probability band (most probable first), each with four cells (severity 1-4):
    the level's words, its fill, and the mark on the cell the panel's medians fall in."""
    rows = []
    for band_index, levels in enumerate(MATRIX):
        cells = []
        for column, level in zip(SEVERITIES, levels, strict=True):
            deciding = band_index == band and column == severity
            cells.append({"fill": LEVEL_FILLS[level], "deciding": deciding,
                          "text": (DECIDING_MARK if deciding else "")
                          + LEVEL_NAMES[level][lang]})
        rows.append({"band": BAND_LABELS[band_index], "cells": cells})
    return rows


def level_chart(round_result: Mapping[str, Any], lang: Lang) -> Chart:
    """Bars: how many experts gave each level in the round; the round's level in red."""
    catalog = Catalog.load(lang)
    counts = Counter(round_result["expert_levels"].values())
    order = list(reversed(LEVELS))  # serious first
    return bar_chart([LEVEL_NAMES[level][lang] for level in order],
                     [counts.get(level, 0) for level in order],
                     title=catalog.t("matrix.chart_title", round=round_result["round_no"]),
                     highlight=order.index(round_result["level"]), width_cm=12.0)


def assessment_figures(rounds: Sequence[Mapping[str, Any]], lang: Lang) -> dict[str, Any]:
    """The `matrix` (final round) and `charts` (one per round, by round number) of the
    assessment report's context."""
    final = rounds[-1]
    return {"matrix": matrix_rows(final["severity"], final["band"], lang),
            "charts": {r["round_no"]: level_chart(r, lang) for r in rounds}}


def side_by_side(proposed: Sequence[str], decided: Sequence[str]) -> dict[str, Any]:
    """The disposal report's comparison: every measure proposed or decided, with its rank in
    each (None where absent) and what the approver changed; `differs` when anything did."""
    rows = []
    for code in [*proposed, *(c for c in decided if c not in proposed)]:
        was = proposed.index(code) + 1 if code in proposed else None
        now = decided.index(code) + 1 if code in decided else None
        change = ("added" if was is None else "removed" if now is None
                  else "same" if was == now else "moved")
        rows.append({"code": code, "proposed": was, "decided": now, "change": change})
    return {"rows": rows, "differs": list(proposed) != list(decided)}
