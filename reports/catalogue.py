"""The risk product catalogue's files: the .docx (template `catalogue.md.j2`, rendered like every
gate report), two CSVs (the ranked rows; the suggested sampling plan) and a manifest beside
them with the data hash and each file's SHA-256.

The catalogue and plan come in as plain objects (cases/catalogue.py, cases/sampling_plan.py;
duck-typed to keep reports free of cases). Files are never overwritten silently: the same data
(same data hash) keeps the files already there; other data is refused unless `overwrite`.
CSVs are UTF-8 with a BOM (Excel then reads Chinese correctly), the header in the report
language, codes and names in columns of their own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reports.docx_package import write_atomically
from reports.i18n import Catalog
from reports.render import render_report, template_version
from reports.templating import format_datetime, format_percent
from rules.domain import Lang, domain
from rules.risk_matrix import LEVEL_NAMES

TEMPLATE = "catalogue"
UNASSESSED = "unassessed"


class OutputExists(Exception):
    """The files exist with other data; the caller decides how to say so."""


@dataclass(frozen=True)
class Written:
    docx: Path
    csv: Path
    plan_csv: Path
    manifest: Path
    unchanged: bool  # the files were already there with the same data
    data_hash: str
    template_version: str
    sha256: dict[str, str]  # file name → SHA-256


def paths(out_dir: Path, label: str, lang: Lang) -> dict[str, Path]:
    base = f"{label}_{lang}"
    return {"docx": out_dir / f"{base}.docx", "csv": out_dir / f"{base}.csv",
            "plan_csv": out_dir / f"{base}_plan.csv",
            "manifest": out_dir / f"{base}.manifest.json"}


# ── Cells shared by the .docx and the CSVs ───────────────────────────────────────────────────


def hazard_name(code: str | None, lang: Lang) -> str:
    return Catalog.load(lang).t("catalogue.no_hazard") if code is None \
        else domain().hazards.name(code, lang)


def level_name(code: str, lang: Lang) -> str:
    """A risk level's name, or "not yet assessed" (cases scored by triage priority)."""
    return Catalog.load(lang).t("catalogue.unassessed") if code == UNASSESSED \
        else LEVEL_NAMES[code][lang]


def level_counts(row: Any, lang: Lang) -> str:
    """`严重风险 2、未评估 1`: the row's cases by risk level, zero counts left out."""
    catalog = Catalog.load(lang)
    shown = [f"{level_name(code, lang)} {count}" for code, count in row.levels.items() if count]
    return catalog.t("format.list_separator").join(shown) or "—"


def measure_counts(row: Any, lang: Lang) -> str:
    catalog = Catalog.load(lang)
    shown = [catalog.t("catalogue.measure_count", name=domain().measures.name(code, lang),
                       count=count) for code, count in row.measures.items()]
    return catalog.t("format.list_separator").join(shown) or "—"


def measure_codes(row: Any) -> str:
    return "; ".join(f"{code}:{count}" for code, count in row.measures.items())


def trend_text(row: Any, lang: Lang) -> str:
    return Catalog.load(lang).t(f"catalogue.trend.{row.trend}", previous=row.previous_score,
                                score=row.score)


def why(focus: Any, lang: Lang) -> str:
    """The reason a category is in the plan, citing its counts and hazards."""
    catalog = Catalog.load(lang)
    row = focus.category
    hazards = catalog.t("format.list_separator").join(
        hazard_name(code, lang) for code in focus.hazards) or "—"
    return catalog.t("catalogue.why", category=domain().categories.name(row.category, lang),
                     cases=row.cases, serious_high=row.serious_high,
                     unassessed=row.levels[UNASSESSED], p1=row.p1, signals=row.signals,
                     injured=row.injured, recalls=row.recalls, hazards=hazards,
                     trend=trend_text(row, lang), score=row.score,
                     share=format_percent(focus.share, 1), batches=focus.batches)


# ── CSV ──────────────────────────────────────────────────────────────────────────────────────


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a byte-order mark and CRLF line ends, as Excel expects."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def catalogue_rows(catalogue: Any, lang: Lang) -> list[list[Any]]:
    """Header and one line per ranked (category, hazard) row."""
    t = Catalog.load(lang).t
    levels = list(catalogue.rows[0].levels) if catalogue.rows else []
    header = [t(f"catalogue.column.{key}") for key in (
        "rank", "category_code", "category", "hazard_code", "hazard", "cases", "signals")]
    header += [level_name(code, lang) for code in levels]
    header += [t(f"catalogue.column.{key}") for key in (
        "p1", "open", "injured", "recalls", "measure_codes", "measures", "score",
        "previous_score", "trend_code", "trend")]
    lines: list[list[Any]] = [header]
    for row in catalogue.rows:
        lines.append([row.rank, row.category, domain().categories.name(row.category, lang),
                      row.hazard or "", hazard_name(row.hazard, lang), row.cases, row.signals,
                      *(row.levels[code] for code in levels), row.p1, row.open, row.injured,
                      row.recalls, measure_codes(row), measure_counts(row, lang), row.score,
                      row.previous_score, row.trend, trend_text(row, lang)])
    return lines


def plan_rows(plan: Sequence[Any], lang: Lang) -> list[list[Any]]:
    t = Catalog.load(lang).t
    header = [t(f"catalogue.column.{key}") for key in (
        "rank", "category_code", "category", "batches", "score", "share", "main_hazard_codes",
        "main_hazards", "why")]
    separator = t("format.list_separator")
    return [header, *([f.rank, f.category.category,
                       domain().categories.name(f.category.category, lang), f.batches,
                       f.category.score, format_percent(f.share, 1), "; ".join(f.hazards),
                       separator.join(hazard_name(h, lang) for h in f.hazards), why(f, lang)]
                      for f in plan)]


# ── Writing ──────────────────────────────────────────────────────────────────────────────────


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kept(targets: Mapping[str, Path], data_hash: str, budget: int,
          version: str) -> dict[str, str] | None:
    """The files' digests when their manifest lists this data, budget and template version,
    and every file is as it lists it."""
    try:
        manifest = json.loads(targets["manifest"].read_text(encoding="utf-8"))
        listed = {name: manifest["files"][name]["sha256"] for name in ("docx", "csv",
                                                                       "plan_csv")}
        if (manifest["data_hash"], manifest["budget"], manifest["template_version"]) \
                != (data_hash, budget, version):
            return None
        found = {name: _sha256(targets[name]) for name in listed}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if found == listed else None


def write(catalogue: Any, plan: Sequence[Any], *, out_dir: Path, lang: Lang, budget: int,
          rules: Mapping[str, Any], generated_at: datetime, generated_by: str,
          overwrite: bool = False) -> Written:
    """Write the catalogue's files under `out_dir` (see the module docstring)."""
    targets = paths(out_dir, catalogue.period.label, lang)
    version = template_version(TEMPLATE, lang)
    kept = None if overwrite else _kept(targets, catalogue.data_hash, budget, version)
    if kept is not None:
        return Written(**{k: targets[k] for k in ("docx", "csv", "plan_csv", "manifest")},
                       unchanged=True, data_hash=catalogue.data_hash,
                       template_version=version, sha256=kept)
    existing = [p for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExists(f"{existing[0]} exists and holds other data (the store changed "
                           "since, or another budget or template)")
    def cells(row: Any) -> dict[str, Any]:
        return {"row": row, "levels": level_counts(row, lang),
                "measures": measure_counts(row, lang), "trend": trend_text(row, lang)}

    context = {"case_id": catalogue.identity, "gate": TEMPLATE, "generated_at": generated_at,
               "generated_by": generated_by, "c": catalogue, "budget": budget, "rules": rules,
               "categories": [cells(row) for row in catalogue.categories],
               "pairs": [cells(row) for row in catalogue.rows],
               "plan": [{"focus": f, "why": why(f, lang)} for f in plan]}
    rendered = render_report(TEMPLATE, context, lang=lang, out_path=targets["docx"])
    write_atomically(targets["csv"], csv_bytes(catalogue_rows(catalogue, lang)))
    write_atomically(targets["plan_csv"], csv_bytes(plan_rows(plan, lang)))
    digests = {name: _sha256(targets[name]) for name in ("docx", "csv", "plan_csv")}
    manifest = {
        "catalogue": catalogue.identity, "period": catalogue.period.to_dict(),
        "previous": catalogue.previous.to_dict(), "lang": lang, "budget": budget,
        "generated_at": format_datetime(generated_at), "generated_by": generated_by,
        "data_hash": catalogue.data_hash, "template_version": rendered.template_version,
        "files": {name: {"name": targets[name].name, "sha256": digest,
                         "size": targets[name].stat().st_size}
                  for name, digest in digests.items()}}
    write_atomically(targets["manifest"],
                     (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    return Written(**{k: targets[k] for k in ("docx", "csv", "plan_csv", "manifest")},
                   unchanged=False, data_hash=catalogue.data_hash,
                   template_version=rendered.template_version, sha256=digests)
