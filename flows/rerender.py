"""Render reports again from the data stored beside them, and say whether the file is the same.

A report's data (`<name>.json`, reports/render.report_data) is what it was rendered from; its
SHA-256 is the data hash the report carries. Rendered again with the same template version,
the data must give the same file, byte for byte: the manifest's SHA-256. An auditor runs this
(`riskgate audit rerender`) to see that a report shows its data and nothing else. A template
changed since (another version now) is said, not counted as a difference.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlmodel import select

from cases.audit import data_hash_in
from cases.config import Settings
from cases.db import Database
from cases.errors import NotFound
from cases.models import Case, ReportRecord, data_path_of
from reports.contract import DERIVED
from reports.render import TemplateError, render_data, renderer_fingerprint, template_version

# What a report's check found. Problems: the file is not the manifest's, its data is gone or
# changed, or its data renders another file. Not problems, but nothing proved: the template
# or the renderer (chart font, library versions) changed since, or the report is older than
# reports' data.
REPORT_CHANGED, REPORT_MISSING, DATA_MISSING, DATA_CHANGED, DIFFERS = (
    "report_changed", "report_missing", "data_missing", "data_changed", "differs")
SAME, TEMPLATE_CHANGED, RENDERER_CHANGED, NO_DATA = (
    "same", "template_changed", "renderer_changed", "no_data")
PROBLEMS = (REPORT_CHANGED, REPORT_MISSING, DATA_MISSING, DATA_CHANGED, DIFFERS)


@dataclass(frozen=True)
class Rerendered:
    case_id: str
    gate: str
    round: int
    report: str
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _records(db: Database, case_ids: Sequence[str]) -> list[ReportRecord]:
    with db.read_session() as session:
        if case_ids:
            known = set(session.exec(select(Case.id).where(Case.id.in_(case_ids))).all())
            missing = [c for c in case_ids if c not in known]
            if missing:
                raise NotFound(f"no case {missing[0]}")
        query = select(ReportRecord).order_by(ReportRecord.case_id, ReportRecord.id)
        if case_ids:
            query = query.where(ReportRecord.case_id.in_(case_ids))
        return list(session.exec(query).all())


def rerender_one(home: Path, record: ReportRecord, out_dir: Path) -> Rerendered:
    def said(status: str, detail: str = "") -> Rerendered:
        return Rerendered(record.case_id, record.gate, record.round, record.path, status,
                          detail)

    report = home / record.path
    if not report.is_file():
        return said(REPORT_MISSING, "the report file is missing")
    if hashlib.sha256(report.read_bytes()).hexdigest() != record.sha256:
        return said(REPORT_CHANGED, "the report file is not the one the manifest lists")
    carried = data_hash_in(report)
    data_file = home / data_path_of(record.path)
    if not data_file.is_file():
        if carried is None:
            return said(NO_DATA, "rendered before reports kept their data")
        return said(DATA_MISSING, f"{data_file.name} is missing; the report carries its hash")
    data = data_file.read_bytes()
    if hashlib.sha256(data).hexdigest() != carried:
        return said(DATA_CHANGED, f"{data_file.name} does not hash to the data hash the "
                                  "report carries")
    then = json.loads(data).get("renderer")
    now = renderer_fingerprint(charts=record.gate in DERIVED)
    if then is not None and then != now:
        return said(RENDERER_CHANGED, f"rendered by {then}, this machine has {now}")
    lang = "en" if record.lang == "en" else "zh"
    now = template_version(record.gate, lang)
    if now != record.template_version:
        return said(TEMPLATE_CHANGED, f"rendered with {record.template_version}, the template "
                                      f"is {now} now")
    try:
        again = render_data(record.gate, data, lang=lang, out_path=out_dir / "again.docx")
    except (TemplateError, ValueError, KeyError) as exc:
        return said(DIFFERS, f"cannot be rendered again: {exc}")
    if again.sha256 != record.sha256:
        return said(DIFFERS, f"rendered again: sha256 {again.sha256[:12]}…, manifest "
                             f"{record.sha256[:12]}…")
    return said(SAME)


def rerender(settings: Settings, db: Database, case_ids: Sequence[str] = ()) -> list[Rerendered]:
    """Every report of `case_ids` (all cases when empty), rendered again and compared."""
    with tempfile.TemporaryDirectory(prefix="riskgate-rerender-") as scratch:
        return [rerender_one(settings.home, record, Path(scratch))
                for record in _records(db, case_ids)]
