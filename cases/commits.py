"""Completing a gate: one transaction that records everything the gate decided.

The gate record, its report's manifest entry, the rule decision (with the rulebook's text), the
panel seats, lab results, scoring rounds, the case's new gate and state, and the audit event are
written together or not at all. The run must hold the case's lease (cases/lease.py).

A crash before the commit leaves the case at the same gate, so a new run redoes that gate only
(its report file, written under the same name before the commit, is simply replaced); a crash
after it leaves the gate done, and no run redoes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from cases import audit
from cases.db import Database
from cases.errors import CaseBusy, InvalidInput
from cases.models import (
    GateRecord,
    LabResult,
    PanelSeat,
    ReportRecord,
    RulebookSnapshot,
    RuleDecision,
    ScoringRound,
    utcnow,
)
from cases.store import require_case


@dataclass(frozen=True)
class ReportFile:
    path: str  # relative to RISKGATE_HOME
    sha256: str
    size: int
    template_version: str
    lang: str


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


@dataclass
class GateCommit:
    case_id: str
    gate: str
    owner: str  # lease owner
    actor: str
    next_gate: str
    next_state: str
    outcome: dict = field(default_factory=dict)
    round: int = 1
    complete: bool = True  # False: a state change inside the gate (another round, a wait)
    flow_run_id: str | None = None
    case_fields: dict[str, Any] = field(default_factory=dict)
    report: ReportFile | None = None
    decision: DecisionRecord | None = None
    seats: list[dict] = field(default_factory=list)
    lab_results: list[dict] = field(default_factory=list)
    close_round: tuple[int, dict] | None = None  # (round_no, aggregated result)
    open_round: RoundOpening | None = None
    audit_action: str = ""
    audit_detail: dict = field(default_factory=dict)


def _refuse_changed_version(session, name: str, version: str, sha256: str) -> bool:
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
    with db.session() as session:
        _refuse_changed_version(session, name, version, sha256)


def store_snapshot(session, decision: DecisionRecord) -> None:
    """Keep the rulebook text; refuse a changed text under an unchanged name and version."""
    if _refuse_changed_version(session, decision.rulebook_name, decision.rulebook_version,
                               decision.rulebook_sha256):
        return
    session.add(RulebookSnapshot(sha256=decision.rulebook_sha256, name=decision.rulebook_name,
                                 version=decision.rulebook_version, text=decision.rulebook_text,
                                 first_used_at=utcnow()))
    session.flush()


def commit_gate(db: Database, commit: GateCommit) -> None:
    now = utcnow()
    with db.session() as session:
        db.lock_case(session, commit.case_id)
        case = require_case(session, commit.case_id)
        if case.lease_owner != commit.owner:
            raise CaseBusy(f"case {commit.case_id}: this run does not hold the lease")
        if commit.complete:
            session.add(GateRecord(case_id=case.id, gate=commit.gate, round=commit.round,
                                   outcome=commit.outcome, actor=commit.actor,
                                   flow_run_id=commit.flow_run_id, completed_at=now))
        if commit.report is not None:
            r = commit.report
            session.add(ReportRecord(case_id=case.id, gate=commit.gate, round=commit.round,
                                     path=r.path, sha256=r.sha256, size=r.size,
                                     template_version=r.template_version, lang=r.lang,
                                     created_at=now))
        if commit.decision is not None:
            d = commit.decision
            store_snapshot(session, d)
            session.add(RuleDecision(case_id=case.id, gate=commit.gate, round=commit.round,
                                     rulebook_sha256=d.rulebook_sha256, facts=d.facts,
                                     fired=d.fired, trail=d.trail, outcome=d.outcome,
                                     engine=d.engine, decided_at=now))
        for seat in commit.seats:
            session.add(PanelSeat(case_id=case.id, seated_at=now, **seat))
        for result in commit.lab_results:
            session.add(LabResult(case_id=case.id, recorded_at=now, **result))
        if commit.close_round is not None:
            round_no, result = commit.close_round
            row = session.exec(select(ScoringRound).where(
                ScoringRound.case_id == case.id, ScoringRound.round_no == round_no)).one()
            row.result = result
            row.closed_at = row.closed_at or now
            row.status = "closed"
            session.add(row)
        if commit.open_round is not None:
            o = commit.open_round
            session.add(ScoringRound(case_id=case.id, round_no=o.round_no, status="open",
                                     quorum=o.quorum, protocol=o.protocol, feedback=o.feedback,
                                     opened_at=now))
            case.scoring_round = o.round_no
        for key, value in commit.case_fields.items():
            setattr(case, key, value)
        case.gate, case.state, case.updated_at = commit.next_gate, commit.next_state, now
        if commit.next_state == "closed":
            case.closed_at = now
        session.add(case)
        session.flush()
        action = commit.audit_action or (f"gate.{commit.gate}.completed" if commit.complete
                                         else f"gate.{commit.gate}.{commit.next_state}")
        audit.append(db, session, actor=commit.actor, action=action, case_id=case.id,
                     detail={"round": commit.round, "next_gate": commit.next_gate,
                             "state": commit.next_state,
                             "report": commit.report.sha256 if commit.report else None,
                             **commit.audit_detail})
