"""Completing intake and triage for many new cases in one transaction (an import's bulk
triage, flows/gates/bulk_triage.py).

Each case gets exactly what its own intake and triage gates would record — the gate records,
the rule decision with its rulebook and vocabulary, the priority, the lifecycle's transitions
and the audit events — except the two reports, which are owed: the case's first flow run
renders them from these records before its next gate (flows/gates/owed.py). A case that is no
longer at its first gate, or that a run holds, is left alone (its own run will triage it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from cases import audit, lifecycle
from cases.commits import GateCommit, current_vocabulary, store_snapshot
from cases.db import Database
from cases.intake_queue import mark_triaged
from cases.lifecycle import Event
from cases.models import Case, GateRecord, RuleDecision, Signal, utcnow


@dataclass(frozen=True)
class Decided:
    case_id: str
    intake_actor: str
    intake_outcome: dict
    triage: GateCommit  # what the triage gate would commit, without its report
    signals: int  # how many signals the decision saw: a case that got more is decided again


def commit_intake_and_triage(db: Database, decided: list[Decided], *,
                             flow_run_id: str | None = None) -> dict[str, str]:
    """Record the decisions, and the cases' places in the launch queue as triaged; returns
    {case_id: priority} of the cases recorded. A case whose signals changed since its
    decision (a later import grouped one in, staff moved one) is left for the next pass."""
    if not decided:
        return {}
    now = utcnow()
    recorded: dict[str, str] = {}
    with db.session() as session:
        for rulebook in {d.triage.decision.rulebook_sha256: d.triage.decision
                         for d in decided if d.triage.decision}.values():
            store_snapshot(db, session, rulebook)
        vocabulary = current_vocabulary(db, session)
        ids = [d.case_id for d in decided]
        for case_id in sorted(ids):
            db.lock_case(session, case_id)
        cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(ids)))}
        done = set(session.exec(select(GateRecord.case_id).where(
            col(GateRecord.case_id).in_(ids), GateRecord.gate == "intake")).all())
        signals = dict(session.exec(select(Signal.case_id, func.count()).where(
            col(Signal.case_id).in_(ids)).group_by(col(Signal.case_id))).all())
        events: list[audit.Pending] = []
        for item in decided:
            case = cases.get(item.case_id)
            if case is None or (case.gate, case.state) != lifecycle.INITIAL \
                    or case.lease_owner is not None or case.id in done \
                    or signals.get(case.id) != item.signals:
                continue
            events += _record(session, case, item, vocabulary, now, flow_run_id)
            recorded[case.id] = item.triage.case_fields["priority"]
        session.flush()
        audit.append_many(db, session, events)
        mark_triaged(session, recorded)
    return recorded


def _record(session: Session, case: Case, item: Decided, vocabulary: str, now: datetime,
            flow_run_id: str | None) -> list[audit.Pending]:
    taken_in = lifecycle.transition(case.gate, case.state, Event.INTAKE_DONE, "flow")
    intake = GateRecord(case_id=case.id, gate="intake", round=1, outcome=item.intake_outcome,
                        actor=item.intake_actor, flow_run_id=flow_run_id, completed_at=now)
    case.gate, case.state = taken_in.target
    triage = item.triage
    triaged = lifecycle.transition(case.gate, case.state, triage.event, "flow")
    gate = GateRecord(case_id=case.id, gate="triage", round=triage.round,
                      outcome=triage.outcome, actor=triage.actor, flow_run_id=flow_run_id,
                      completed_at=now)
    d = triage.decision
    assert d is not None
    decision = RuleDecision(case_id=case.id, gate="triage", round=triage.round,
                            rulebook_sha256=d.rulebook_sha256, facts=d.facts, fired=d.fired,
                            trail=d.trail, outcome=d.outcome, engine=d.engine,
                            decided_at=now, vocabulary_sha256=vocabulary)
    for key, value in triage.case_fields.items():
        setattr(case, key, value)
    case.gate, case.state = triaged.target
    case.updated_at = now
    session.add_all([intake, gate, decision, case])
    return [
        audit.Pending(item.intake_actor, taken_in.name, case.id, rows=(intake,), detail={
            "gate": "intake", "round": 1, "next_gate": taken_in.target[0],
            "state": taken_in.target[1], "report": None, "report_owed": True, "bulk": True}),
        audit.Pending(triage.actor, triaged.name, case.id, rows=(gate, decision), detail={
            "gate": "triage", "round": triage.round, "next_gate": case.gate,
            "state": case.state, "report": None, "report_owed": True, "bulk": True,
            **triage.audit_detail})]
