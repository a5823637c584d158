"""Disposal (风险处置): the disposal rulebook turns the panel's assessment and the case's
context into ranked measures, single or composite — a proposal an approver decides on
(four-eyes, cases/approvals.py). The gate completes once the decision is recorded; its report
shows the proposal and the decision side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from cases import approvals, credit, escalation, store
from cases.commits import GateCommit
from cases.facts import disposal_facts, fast_tracked, merge_signals, with_credit_file
from cases.lifecycle import Event
from cases.models import Case
from cases.models_oversight import DisposalReview
from cases.store import Dossier
from experts.assessment import AssessmentSummary
from flows.gates.common import (
    SYSTEM_ACTOR,
    StepContext,
    StepResult,
    commit,
    rulebook_actor,
    write_report,
)
from flows.gates.decisions import decision_record, rulebook_in_force, rulebook_info
from reports.figures import side_by_side
from rules.decisions import decide_disposal


def _recorded(d: Dossier, gate: str) -> dict:
    record = d.gate_record(gate)
    assert record is not None, f"case {d.case.id} reached disposal without a {gate} record"
    return record.outcome


def step(ctx: StepContext, d: Dossier) -> StepResult:
    review = approvals.get_review(ctx.db, d.case.id)
    if review is None:
        return _propose(ctx, d)
    return _complete(ctx, d, review)


def _propose(ctx: StepContext, d: Dossier) -> StepResult:
    """The rulebook's decision, recorded as the proposal the case now waits on."""
    rulebook = rulebook_in_force(ctx, "disposal")
    facts, evidence = with_credit_file(disposal_facts(
        merge_signals(d.signals), store.history(ctx.db, d.case),
        AssessmentSummary.from_outcome(_recorded(d, "assessment")),
        fast_tracked=fast_tracked(_recorded(d, "triage")),
        escalation=escalation.kind_of(ctx.db, d.case.id)), credit.for_case(ctx.db, d))
    decision = decide_disposal(rulebook, facts)
    recorded = decision.to_dict()
    outcome = decision.outcome()
    proposal = {**approvals.proposal_of(outcome, decision.fired),
                "rulebook": rulebook_info(rulebook),
                **({"credit_file": evidence} if evidence else {})}

    def open_review(session: Session, case: Case, now: datetime) -> list[Any]:
        row = DisposalReview(case_id=case.id, proposal=proposal, proposed_at=now,
                             deadline_at=approvals.deadline(case.priority, now),
                             status="pending", measures=[], justification="", difference={})
        session.add(row)
        session.flush()
        return [row]

    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=Event.DISPOSAL_PROPOSED, owner=ctx.owner,
        actor=rulebook_actor(rulebook), outcome=outcome,
        decision=decision_record(rulebook, recorded, outcome), writes=[open_review],
        audit_detail={"fired": decision.fired, "proposed": decision.measure_codes}),
        summary={"proposed": decision.measure_codes, "fired": decision.fired})


def _complete(ctx: StepContext, d: Dossier, review: DisposalReview) -> StepResult:
    """The approver decided: the report shows proposal and decision; the credit file gets the
    disposal (and a violation, for a measure against the enterprise's product)."""
    assert review.status != "pending", f"case {d.case.id}: disposal run while still pending"
    decision = d.decision("disposal")
    assert decision is not None
    outcome = approvals.final_outcome(review)
    measures = list(review.measures)
    actor = f"{SYSTEM_ACTOR} (decision of {review.decided_by})"
    report = write_report(ctx, d, "disposal", 1, actor,
                          decision={**decision.outcome, "facts": decision.facts,
                                    "trail": decision.trail, "fired": decision.fired,
                                    "engine": decision.engine},
                          final=outcome, rulebook=review.proposal["rulebook"],
                          assessment=_recorded(d, "assessment"),
                          comparison=side_by_side([m["code"] for m in decision.outcome["measures"]],
                                                  [m["code"] for m in outcome["measures"]]))

    def to_credit_file(session: Session, case: Case, now: datetime) -> list[Any]:
        return credit.disposal_entries(session, case, now, case.risk_level, measures)

    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=Event.DISPOSAL_DONE, owner=ctx.owner,
        actor=actor, outcome=outcome, report=report,
        case_fields={"measures": measures}, writes=[to_credit_file],
        audit_detail={"measures": measures, "approval": review.status}),
        summary={"measures": measures, "approval": review.status})

