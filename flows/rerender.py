"""Render reports again from the data stored beside them, and say whether the file is the same.

A report's data (`<name>.json`, reports/render.report_data) is what it was rendered from; its
SHA-256 is the data hash the report carries. Rendered again with the same template version,
the data must give the same file, byte for byte: the manifest's SHA-256. An auditor runs this
(`riskgate audit rerender`) to see that a report shows its data and nothing else. A template
changed since (another version now) is said, not counted as a difference.
"""

from __future__ import annotations

import hashlib
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
from reports.render import TemplateError, render_data, template_version

# What a report's check found; the first two are problems.
DIFFERS, DATA_CHANGED, SAME, TEMPLATE_CHANGED, NO_DATA = (
    "differs", "data_changed", "same", "template_changed", "no_data")
PROBLEMS = (DIFFERS, DATA_CHANGED)


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

    data_file = home / data_path_of(record.path)
    if not data_file.is_file():
        return said(NO_DATA, "rendered before reports kept their data")
    data = data_file.read_bytes()
    carried = data_hash_in(home / record.path)
    if hashlib.sha256(data).hexdigest() != carried:
        return said(DATA_CHANGED, f"{data_file.name} does not hash to the data hash the "
                                  "report carries")
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
