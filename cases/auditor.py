"""The auditor's reads: each report's verification status, a case's audit events, the replay
of its stored decisions, and whole-store verifications run in the background.

A report is verified when three things agree: its file hashes to the SHA-256 of its manifest
row; that row is the row the audit chain recorded (the digest in the event that wrote it); and
the chain itself is intact (every event's hash and link). `riskgate audit verify` checks the
same for the whole store; here it is done per report so that an auditor downloading one sees
its own status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from cases import audit, records
from cases.db import Database
from cases.errors import InvalidInput, NotFound, RiskGateError
from cases.explain import DECIDERS, Explanation, explain
from cases.models import AuditEvent, ReportRecord, utcnow
from cases.models_oversight import VerificationRun

STALE_RUN = timedelta(hours=1)  # a run not finished by then died with its process
MAX_PROBLEMS_KEPT = 200


@dataclass(frozen=True)
class ReportStatus:
    report: ReportRecord
    file_ok: bool
    manifest_ok: bool
    chain_ok: bool
    recorded_by: int | None  # the audit event that recorded the manifest row
    problems: list[str] = field(default_factory=list)
    pdf_ok: bool | None = None  # its PDF copy hashes to the manifest's (None: it has none)

    @property
    def verified(self) -> bool:
        return self.file_ok and self.manifest_ok and self.chain_ok and self.pdf_ok is not False


def _in_reports(home: Path, relative: str) -> Path:
    reports = (home / "reports").resolve()
    candidate = (home / relative).resolve()
    if not candidate.is_relative_to(reports) or not candidate.is_file():
        raise NotFound(f"report {relative} is not in the reports directory")
    return candidate


def report_file(home: Path, report: ReportRecord) -> Path:
    """The report's file, if its manifest path stays inside the reports directory."""
    return _in_reports(home, report.path)


def report_pdf_file(home: Path, report: ReportRecord) -> Path:
    """The report's PDF archive copy, if it has one inside the reports directory."""
    if not report.pdf_path:
        raise NotFound(f"report {report.path} has no PDF copy")
    return _in_reports(home, report.pdf_path)


def _file_sha(home: Path, report: ReportRecord, pdf: bool = False) -> str | None:
    try:
        path = report_pdf_file(home, report) if pdf else report_file(home, report)
    except NotFound:
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def report_statuses(db: Database, home: Path, case_id: str,
                    chain: audit.Verification | None = None) -> list[ReportStatus]:
    """Every report of a case with its verification status."""
    chain = chain or audit.chain_status(db)
    with db.read_session() as session:
        reports = list(session.exec(select(ReportRecord).where(ReportRecord.case_id == case_id)
                                    .order_by(col(ReportRecord.id))).all())
        events = session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)
                              .order_by(col(AuditEvent.seq))).all()
    recorded: dict[str, tuple[int, dict]] = {}
    for event in events:
        for ref, entry in ((event.detail or {}).get("records") or {}).items():
            if ref.startswith("report:") and isinstance(entry, dict):
                recorded[ref] = (event.seq, entry)
    kind = records.KINDS["report"]
    statuses = []
    for report in reports:
        problems = []
        sha = _file_sha(home, report)
        file_ok = sha == report.sha256
        if sha is None:
            problems.append("the file is missing")
        elif not file_ok:
            problems.append(f"the file hashes to {sha[:12]}…, the manifest says "
                            f"{report.sha256[:12]}…")
        seq, entry = recorded.get(f"report:{report.id}", (None, {}))
        current = records.digest(kind, records.row_mapping(report),
                                 records.version_of(entry)) if entry else {}
        manifest_ok = bool(entry) and entry.get("sha256") == current.get("sha256")
        if not entry:
            problems.append("no audit event records the manifest row")
        elif not manifest_ok:
            problems.append(f"the manifest row differs from what audit event {seq} recorded")
        if not chain.ok:
            problems.append("the audit chain is broken (see the whole-store verification)")
        pdf_ok = None
        if report.pdf_path:
            pdf_sha = _file_sha(home, report, pdf=True)
            pdf_ok = pdf_sha == report.pdf_sha256
            if pdf_sha is None:
                problems.append("its PDF copy is missing")
            elif not pdf_ok:
                problems.append(f"its PDF copy hashes to {pdf_sha[:12]}…, the manifest says "
                                f"{str(report.pdf_sha256)[:12]}…")
        statuses.append(ReportStatus(report, file_ok, manifest_ok, chain.ok, seq, problems,
                                     pdf_ok))
    return statuses


def find_report(db: Database, case_id: str, report_id: int) -> ReportRecord:
    if not 0 < report_id < 2**31:  # no such row; and past what the store's integers hold
        raise NotFound(f"case {case_id} has no report {report_id}")
    with db.read_session() as session:
        report = session.get(ReportRecord, report_id)
    if report is None or report.case_id != case_id:
        raise NotFound(f"case {case_id} has no report {report_id}")
    return report


def case_events(db: Database, case_id: str) -> list[AuditEvent]:
    with db.read_session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                 .order_by(col(AuditEvent.seq))).all())


def replays(db: Database, case_id: str) -> dict[str, Explanation | str]:
    """Each stored rule decision replayed under the rulebook version that made it (or why it
    cannot be: no such decision yet)."""
    found: dict[str, Explanation | str] = {}
    for gate in DECIDERS:
        try:
            found[gate] = explain(db, case_id, gate)
        except (NotFound, InvalidInput) as missing:
            found[gate] = str(missing)
    return found


def start_run(db: Database, by: str) -> int:
    """Record a whole-store verification as running (one at a time); its id."""
    now = utcnow()
    with db.session() as session:
        db.lock_key(session, "riskgate:verification")
        running = session.exec(select(VerificationRun).where(
            VerificationRun.status == "running",
            col(VerificationRun.requested_at) > now - STALE_RUN)).first()
        if running is not None:
            raise RiskGateError(f"verification {running.id} is still running "
                                f"(started by {running.requested_by})")
        row = VerificationRun(requested_by=by, requested_at=now, status="running",
                              problems=[])
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def run(db: Database, home: Path, run_id: int) -> VerificationRun:
    """Verify the whole store (chain, records, reports) and record the result."""
    try:
        result = audit.verify(db, home)
        values = {"status": "ok" if result.ok else "problems", "events": result.events,
                  "records": result.records, "reports": result.reports,
                  "head": result.head or "", "problems": result.problems[:MAX_PROBLEMS_KEPT]}
    except Exception as exc:  # recorded for the auditor, never lost in a background thread
        values = {"status": "failed", "problems": [f"{type(exc).__name__}: {exc}"[:300]]}
    with db.session() as session:
        row = session.get(VerificationRun, run_id)
        if row is None:
            raise NotFound(f"no verification {run_id}")
        for key, value in values.items():
            setattr(row, key, value)
        row.finished_at = utcnow()
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def runs(db: Database, limit: int = 10) -> list[VerificationRun]:
    """The latest verifications; a run unfinished for an hour is shown as interrupted."""
    with db.read_session() as session:
        return list(session.exec(select(VerificationRun).order_by(
            col(VerificationRun.id).desc()).limit(limit)).all())


def interrupted(run_row: VerificationRun, now: datetime) -> bool:
    return run_row.status == "running" and run_row.requested_at < now - STALE_RUN
