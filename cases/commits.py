"""Completing a gate: one transaction that records everything the gate decided.

The gate record, its report's manifest entry, the rule decision (with the rulebook's and the
vocabulary's text), the panel seats, lab results, scoring rounds, the case's new gate and state,
and the audit event are written together or not at all. The new gate and state are the
lifecycle's for the commit's event (cases/lifecycle.py); an undeclared transition is refused
before anything is written.

Reports: a gate step renders its report to a staging file of its own run
(`reports/<case>/.staging/…`), and the commit moves it to its fixed path only after it has
checked, holding the case's row lock, that this run still holds the lease and that no run
recorded the gate already. So a run that lost its lease can never overwrite a report another
run wrote. A crash before the commit leaves only a staging file, which the next run of that
gate removes (`clear_staging`); a crash in the instant between placing the file and the commit
leaves the file at its fixed path without a manifest row (`audit verify` reports it) until the
next run of that gate writes it again and commits.

A report's PDF archive copy, when the step made one (flows/pdf_archive.py), is staged beside
it, recorded in the same manifest row and placed with it; a step whose conversion failed
commits its report without one (the audit event says why) for `riskgate report archive` to
make later.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from cases import audit, lifecycle, notify
from cases.config import Settings
from cases.db import Database
from cases.errors import InvalidInput, LeaseLost, RiskGateError
from cases.lifecycle import Event
from cases.models import (
    STAGING_DIR,
    VOTING_ROLES,
    Case,
    GateRecord,
    InjuryScenario,
    LabResult,
    PanelSeat,
    ReportRecord,
    RulebookSnapshot,
    RuleDecision,
    ScoringRound,
    VocabularySnapshot,
    utcnow,
)
from cases.store import require_case, seat_counts
from experts.notices import Notice
from rules.domain import domain_sha256, domain_text


class GateAlreadyRecorded(LeaseLost):
    """Another run recorded this gate while this one was working on it."""


class SeatsTaken(RiskGateError):
    """Between choosing a panel and committing it, other panels took seats that would put an
    expert over the workload cap; the gate chooses again."""


@dataclass(frozen=True)
class StagedFile:
    """A file that goes beside a report — its PDF archive copy, or the data it was rendered
    from — staged like the report until its commit places it."""

    path: str  # final path, relative to RISKGATE_HOME: the .docx's, ending .pdf or .json
    staged: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class ReportFile:
    path: str  # final path, relative to RISKGATE_HOME
    staged: Path  # where the step rendered it (absolute)
    sha256: str
    size: int
    template_version: str
    lang: str
    gate: str = ""  # an amendment's own gate and round (a gate's report takes the gate's)
    round: int = 1
    pdf: StagedFile | None = None
    pdf_error: str | None = None  # why the PDF copy could not be made, for the audit event
    # The canonical JSON it was rendered from (reports/render.report_data): `riskgate audit
    # rerender` renders it again; its SHA-256 is the data hash the report carries.
    data: StagedFile | None = None

    def staged_files(self) -> list[Path]:
        return [self.staged, *(f.staged for f in (self.pdf, self.data) if f)]

    def manifest_row(self, case_id: str, gate: str, round_no: int,
                     now: datetime) -> ReportRecord:
        pdf = self.pdf
        return ReportRecord(case_id=case_id, gate=gate, round=round_no, path=self.path,
                            sha256=self.sha256, size=self.size,
                            template_version=self.template_version, lang=self.lang,
                            created_at=now, pdf_path=pdf.path if pdf else None,
                            pdf_sha256=pdf.sha256 if pdf else None,
                            pdf_size=pdf.size if pdf else None)

    def audit_detail(self) -> dict[str, str]:
        """What the audit event adds about the PDF copy (nothing when none was tried)."""
        data = {"report_data_sha256": self.data.sha256} if self.data else {}
        if self.pdf is not None:
            return {**data, "report_pdf": self.pdf.path}
        return {**data, **({"report_pdf_error": self.pdf_error} if self.pdf_error else {})}


@dataclass(frozen=True)
class DecisionRecord:
    """A rulebook decision and the rulebook it was made under."""

    rulebook_name: str
    rulebook_version: str
    rulebook_sha256: str
    rulebook_text: str
    facts: dict
    fired: list[str]
    trail: list[dict]
    outcome: dict
    engine: str


@dataclass(frozen=True)
class RoundOpening:
    round_no: int
    quorum: int
    protocol: dict
    feedback: dict | None
    deadline_at: datetime | None = None  # also each voting seat's deadline


@dataclass(frozen=True)
class WorkloadCheck:
    """Re-checked under the roster lock when seats are committed."""

    experts: tuple[str, ...]
    caps: Mapping[str, int]  # each expert's cap (their own or the protocol's, the lower)


Write = Callable[[Session, Case, datetime], list[Any]]


@dataclass
class GateCommit:
    case_id: str
    event: Event
    owner: str  # lease owner
    actor: str
    outcome: dict = field(default_factory=dict)
    round: int = 1
    flow_run_id: str | None = None
    case_fields: dict[str, Any] = field(default_factory=dict)
    report: ReportFile | None = None
    decision: DecisionRecord | None = None
    seats: list[dict] = field(default_factory=list)
    workload: WorkloadCheck | None = None
    lab_results: list[dict] = field(default_factory=list)
    close_round: tuple[int, dict] | None = None  # (round_no, aggregated result)
    open_round: RoundOpening | None = None
    scenarios: list[dict] = field(default_factory=list)  # described at the panel gate
    notices: list[Notice] = field(default_factory=list)  # to experts: a link and a mail each
    amendments: list[ReportFile] = field(default_factory=list)  # panel change reports
    # Further writes of the gate, in the same transaction (the disposal's review and credit
    # entries, follow-up actions and department notices): each returns the rows it wrote.
    writes: list[Write] = field(default_factory=list)
    audit_detail: dict = field(default_factory=dict)


def _refuse_changed_version(session: Session, name: str, version: str, sha256: str) -> bool:
    """True if this exact text is stored already; raise if another text has this version."""
    if session.get(RulebookSnapshot, sha256) is not None:
        return True
    clash = session.exec(select(RulebookSnapshot).where(
        RulebookSnapshot.name == name, RulebookSnapshot.version == version)).first()
    if clash is not None:
        raise InvalidInput(
            f"rulebook {name} {version} has changed since it was first used (sha256 "
            f"{clash.sha256[:12]}…, now {sha256[:12]}…): give the changed rulebook a new version")
    return False


def check_rulebook_version(db: Database, name: str, version: str, sha256: str) -> None:
    """Refuse, before a gate does any work, a rulebook edited without a new version."""
    with db.read_session() as session:
        _refuse_changed_version(session, name, version, sha256)


def store_snapshot(db: Database, session: Session, decision: DecisionRecord) -> None:
    """Keep the rulebook text; refuse a changed text under an unchanged name and version.
    The first use of a version is serialised by name, so concurrent first uses on PostgreSQL
    neither both insert the text nor both miss a clash."""
    db.lock_key(session, f"riskgate:rulebook:{decision.rulebook_name}")
    if _refuse_changed_version(session, decision.rulebook_name, decision.rulebook_version,
                               decision.rulebook_sha256):
        return
    session.add(RulebookSnapshot(sha256=decision.rulebook_sha256, name=decision.rulebook_name,
                                 version=decision.rulebook_version, text=decision.rulebook_text,
                                 first_used_at=utcnow()))
    session.flush()


def current_vocabulary(db: Database, session: Session) -> str:
    """The SHA-256 of the vocabulary in force, its text stored on first use."""
    sha = domain_sha256()
    if session.get(VocabularySnapshot, sha) is None:
        db.lock_key(session, "riskgate:vocabulary")
        if session.get(VocabularySnapshot, sha) is None:
            session.add(VocabularySnapshot(sha256=sha, text=domain_text(),
                                           first_used_at=utcnow()))
            session.flush()
    return sha


def _check_workload(db: Database, session: Session, case_id: str,
                    check: WorkloadCheck) -> None:
    db.lock_key(session, "riskgate:roster-workload")
    counts = seat_counts(session, except_case=case_id, experts=check.experts)
    over = sorted(e for e in check.experts if counts.get(e, 0) >= check.caps[e])
    if over:
        raise SeatsTaken(f"case {case_id}: experts {', '.join(over)} reached their workload "
                         "cap while the panel was being chosen")


def clear_staging(home: Path, case_id: str, name: str) -> None:
    """Remove staging files of a report (and of its PDF copy) that runs before this one left
    behind (a crash before their commit). The caller holds the case's lease: no live run
    stages that report."""
    staging = home / "reports" / case_id / STAGING_DIR
    for suffix in ("docx", "pdf", "json"):
        for stale in staging.glob(f"{name}.*.{suffix}"):
            stale.unlink(missing_ok=True)


def place_file(home: Path, staged: Path, relative: str) -> None:
    """Move a staged file to its final path (same file system: atomic)."""
    final = home / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)
    with contextlib.suppress(OSError):  # the staging folder, once no other run stages there
        staged.parent.rmdir()


def _place_report(home: Path, report: ReportFile) -> None:
    place_file(home, report.staged, report.path)
    for beside in (report.pdf, report.data):
        if beside is not None:
            place_file(home, beside.staged, beside.path)


def commit_gate(db: Database, settings: Settings, commit: GateCommit) -> lifecycle.Transition:
    """Record the gate's work and move the case along the lifecycle's transition for the
    commit's event; returns that transition."""
    home = settings.home
    now = utcnow()
    with db.session() as session:
        db.lock_case(session, commit.case_id)
        case = require_case(session, commit.case_id)
        if case.lease_owner != commit.owner:
            other = case.lease_owner or "no run now (it expired or was released)"
            raise LeaseLost(f"case {commit.case_id}: this run ({commit.owner}) lost its lease "
                            f"to {other}; it stops without recording its gate")
        step = lifecycle.transition(case.gate, case.state, commit.event, "flow")
        gate = step.source[0]
        rows: list[Any] = []
        if step.completes:
            done = session.exec(select(GateRecord).where(
                GateRecord.case_id == case.id, GateRecord.gate == gate,
                GateRecord.round == commit.round)).first()
            if done is not None:
                other = done.flow_run_id or "no flow run"
                raise GateAlreadyRecorded(f"case {case.id}: gate {gate} round {commit.round} "
                                          f"was recorded by another run ({other}); this run "
                                          "stops")
            rows.append(GateRecord(case_id=case.id, gate=gate, round=commit.round,
                                   outcome=commit.outcome, actor=commit.actor,
                                   flow_run_id=commit.flow_run_id, completed_at=now))
        if commit.workload is not None:
            _check_workload(db, session, case.id, commit.workload)
        if commit.report is not None:
            rows.append(commit.report.manifest_row(case.id, gate, commit.round, now))
        if commit.decision is not None:
            d = commit.decision
            store_snapshot(db, session, d)
            rows.append(RuleDecision(case_id=case.id, gate=gate, round=commit.round,
                                     rulebook_sha256=d.rulebook_sha256, facts=d.facts,
                                     fired=d.fired, trail=d.trail, outcome=d.outcome,
                                     engine=d.engine, decided_at=now,
                                     vocabulary_sha256=current_vocabulary(db, session)))
        rows += [PanelSeat(case_id=case.id, seated_at=now, **seat) for seat in commit.seats]
        rows += [LabResult(case_id=case.id, recorded_at=now, **result)
                 for result in commit.lab_results]
        if commit.close_round is not None:
            round_no, result = commit.close_round
            closing = session.exec(select(ScoringRound).where(
                ScoringRound.case_id == case.id, ScoringRound.round_no == round_no)).one()
            closing.result = result
            closing.closed_at = closing.closed_at or now
            closing.status = "closed"
            rows.append(closing)
        if commit.open_round is not None:
            o = commit.open_round
            rows.append(ScoringRound(case_id=case.id, round_no=o.round_no, status="open",
                                     quorum=o.quorum, protocol=o.protocol, feedback=o.feedback,
                                     opened_at=now, deadline_at=o.deadline_at))
            case.scoring_round = o.round_no
            for seat in session.exec(select(PanelSeat).where(
                    PanelSeat.case_id == case.id, col(PanelSeat.active).is_(True),
                    col(PanelSeat.role).in_(VOTING_ROLES))).all():
                seat.deadline_at = o.deadline_at
                rows.append(seat)
        for seat in rows:
            if isinstance(seat, PanelSeat) and seat.id is None and commit.open_round:
                seat.deadline_at = (commit.open_round.deadline_at
                                    if seat.role in VOTING_ROLES else None)
        rows += [InjuryScenario(case_id=case.id, created_at=now, **s) for s in commit.scenarios]
        for amendment in commit.amendments:
            rows.append(amendment.manifest_row(case.id, amendment.gate, amendment.round, now))
        for row in rows:
            session.add(row)
        session.flush()
        rows += notify.send(session, settings, commit.notices, case_id=case.id,
                            by=commit.actor)
        for write in commit.writes:
            rows += write(session, case, now)
        for key, value in commit.case_fields.items():
            setattr(case, key, value)
        case.gate, case.state = step.target
        case.updated_at = now
        if case.state == "closed":
            case.closed_at = now
        session.add(case)
        session.flush()
        audit.append(db, session, actor=commit.actor, action=step.name, case_id=case.id,
                     rows=rows,
                     detail={"gate": gate, "round": commit.round, "next_gate": case.gate,
                             "state": case.state,
                             "report": commit.report.path if commit.report else None,
                             **(commit.report.audit_detail() if commit.report else {}),
                             **commit.audit_detail})
        # Last, holding the row lock and the lease: nothing can commit this gate meanwhile.
        for placed in (*commit.amendments, *([commit.report] if commit.report else [])):
            _place_report(home, placed)
    return step


def record_owed_report(db: Database, settings: Settings, case_id: str, owner: str,
                       report: ReportFile, actor: str) -> bool:
    """Put in place a report a bulk triage owed (flows/gates/owed.py) and list it in the
    manifest, holding the lease; False if another run recorded it meanwhile."""
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        if case.lease_owner != owner:
            raise LeaseLost(f"case {case_id}: this run ({owner}) lost its lease; it stops "
                            "without recording the owed report")
        if session.exec(select(ReportRecord.id).where(
                ReportRecord.case_id == case_id, ReportRecord.gate == report.gate,
                ReportRecord.round == report.round)).first() is not None:
            for staged in report.staged_files():
                staged.unlink(missing_ok=True)
            return False
        row = report.manifest_row(case_id, report.gate, report.round, utcnow())
        session.add(row)
        session.flush()
        audit.append(db, session, actor=actor, action="report.rendered", case_id=case_id,
                     rows=[row], detail={"gate": report.gate, "round": report.round,
                                         "report": report.path, **report.audit_detail(),
                                         "owed_by": "bulk triage"})
        _place_report(settings.home, report)
    return True
