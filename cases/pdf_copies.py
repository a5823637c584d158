"""PDF archive copies made after their report was committed (`riskgate report archive`): which
reports lack one, and recording one in the report's manifest row.

A gate normally records its report's PDF copy in the commit that records the report
(cases/commits.py). When LibreOffice was missing or failed there, the row has no PDF; the
archive command makes one later and records it here: the row's PDF fields are the only part of
a manifest row that may change (cases/records.py, `movable`), once, with its own audit event
(`report.archived`), holding the case's lock so that two archive runs never both record one.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from cases import audit
from cases.commits import StagedFile, place_file
from cases.db import Database
from cases.models import ReportRecord
from cases.store import require_case


def without_pdf(db: Database, case_id: str | None = None) -> list[ReportRecord]:
    """Committed reports that have no PDF copy yet, oldest first (of one case, if named; an
    unknown case is NotFound)."""
    with db.read_session() as session:
        query = select(ReportRecord).where(col(ReportRecord.pdf_path).is_(None))
        if case_id is not None:
            require_case(session, case_id)
            query = query.where(ReportRecord.case_id == case_id)
        return list(session.exec(query.order_by(col(ReportRecord.id))).all())


def record(db: Database, home: Path, report_id: int, copy: StagedFile, actor: str) -> bool:
    """Record a report's PDF copy and put the staged file in place; False (the staged file
    removed) if the report has one already."""
    with db.session() as session:
        found = session.get(ReportRecord, report_id)
        if found is None:
            copy.staged.unlink(missing_ok=True)
            return False
        db.lock_case(session, found.case_id)
        session.refresh(found)  # as it is now that no other writer of the case runs
        if found.pdf_path is not None:
            copy.staged.unlink(missing_ok=True)
            return False
        found.pdf_path, found.pdf_sha256, found.pdf_size = copy.path, copy.sha256, copy.size
        session.add(found)
        session.flush()
        audit.append(db, session, actor=actor, action="report.archived",
                     case_id=found.case_id, rows=[found],
                     detail={"gate": found.gate, "round": found.round, "report": found.path,
                             "report_pdf": copy.path})
        place_file(home, copy.staged, copy.path)
    return True
