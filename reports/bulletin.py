"""The semi-monthly bulletin's files: the .docx (template `bulletin`, outline
`reports/outlines/bulletin.md.j2`) with its charts, and a manifest beside it with the data hash
and the file's SHA-256.

The bulletin comes in as a plain object (cases/bulletin.py; duck-typed to keep reports free of
cases). Files are never overwritten silently (reports/outputs.py): the same data keeps the
file already there, other data is refused unless `overwrite`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from reports import outputs
from reports.charts import Chart, bar_chart
from reports.i18n import Catalog
from reports.render import render_report, template_version
from reports.templating import format_datetime
from rules.domain import Lang, domain
from rules.risk_matrix import LEVEL_NAMES

TEMPLATE = "bulletin"
UNASSESSED = "unassessed"
DIMENSIONS = ("channels", "categories", "levels", "measures")


Written = outputs.Written


def paths(out_dir: Path, label: str, lang: Lang) -> dict[str, Path]:
    return outputs.document_paths(out_dir, f"bulletin_{label}_{lang}")


def code_name(dimension: str, code: str, lang: Lang) -> str:
    """A breakdown row's code in words (a risk level, "not assessed", or a vocabulary name)."""
    if dimension == "levels":
        return Catalog.load(lang).t("bulletin.unassessed") if code == UNASSESSED \
            else LEVEL_NAMES[code][lang]
    return domain().vocabulary(dimension).name(code, lang)


def rows(bulletin: Any, dimension: str) -> list[dict[str, Any]]:
    """Opened and closed side by side: every code either has, most opened first (risk levels
    in their fixed order, zeros included)."""
    opened: Mapping[str, int] = getattr(bulletin.opened, dimension)
    closed: Mapping[str, int] = getattr(bulletin.closed, dimension)
    codes = list(opened) + [c for c in closed if c not in opened]
    if dimension != "levels":
        codes.sort(key=lambda c: (-opened.get(c, 0), -closed.get(c, 0), c))
    return [{"code": c, "opened": opened.get(c, 0), "closed": closed.get(c, 0)} for c in codes]


def where(warning: Any, lang: Lang) -> str:
    """Where an escalation pattern spreads, in words: the category, the industry, or the
    province and category."""
    vocab = domain()
    category = vocab.categories.name(warning.category, lang) if warning.category else ""
    if warning.kind == "industry":
        return vocab.industries.name(warning.industry, lang) if warning.industry else "—"
    if warning.kind == "province":
        return Catalog.load(lang).t("bulletin.province_category", province=warning.province,
                                    category=category)
    return category or "—"


def charts(breakdown: Mapping[str, list[dict[str, Any]]], lang: Lang) -> dict[str, Chart]:
    """Cases opened by channel, by risk level (serious in red) and by measure, drawn from the
    report's data (`breakdown`) when it is rendered (reports/render.derived)."""
    t = Catalog.load(lang).t

    def chart(dimension: str, title: str, **options: Any) -> Chart:
        shown = [r for r in breakdown[dimension] if r["opened"] or dimension == "levels"]
        return bar_chart([r["name"] for r in shown], [r["opened"] for r in shown],
                         title=t(title), **options)

    levels = [r["code"] for r in breakdown["levels"]]
    return {"by_channel": chart("channels", "bulletin.chart.by_channel", horizontal=True),
            "by_level": chart("levels", "bulletin.chart.by_level",
                              highlight=levels.index("serious") if "serious" in levels else None),
            "by_measure": chart("measures", "bulletin.chart.by_measure", horizontal=True)}


def context(bulletin: Any, *, lang: Lang, generated_at: datetime,
            generated_by: str) -> dict[str, Any]:
    return {"case_id": bulletin.identity, "gate": TEMPLATE, "generated_at": generated_at,
            "generated_by": generated_by, "b": bulletin,
            "breakdown": {d: [{**r, "name": code_name(d, r["code"], lang)}
                              for r in rows(bulletin, d)] for d in DIMENSIONS},
            "escalations": [{"e": e, "where": where(e, lang)} for e in bulletin.escalations]}


def write(bulletin: Any, *, out_dir: Path, lang: Lang, generated_at: datetime,
          generated_by: str, overwrite: bool = False) -> Written:
    """Write the bulletin's files under `out_dir` (see the module docstring)."""
    targets = paths(out_dir, bulletin.period.label, lang)
    version = template_version(TEMPLATE, lang)
    files = {"docx": targets["docx"]}
    expected = {"bulletin": bulletin.identity, "data_hash": bulletin.data_hash,
                "template_version": version}
    kept = None if overwrite else outputs.kept(targets["manifest"], files, expected)
    if kept is not None:
        return Written(targets["docx"], targets["manifest"], True, bulletin.data_hash,
                       version, kept["docx"])
    if not overwrite:
        outputs.refuse_other(targets, "the store changed since, or another template")
    rendered = render_report(TEMPLATE, context(bulletin, lang=lang, generated_at=generated_at,
                                               generated_by=generated_by),
                             lang=lang, out_path=targets["docx"])
    digests = outputs.write_manifest(targets["manifest"], files, {
        "bulletin": bulletin.identity, "period": bulletin.period.to_dict(), "lang": lang,
        "generated_at": format_datetime(generated_at), "generated_by": generated_by,
        "data_hash": bulletin.data_hash, "template_version": rendered.template_version})
    return Written(targets["docx"], targets["manifest"], False, bulletin.data_hash,
                   rendered.template_version, digests["docx"])
