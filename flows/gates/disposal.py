"""Disposal (风险处置): the disposal rulebook turns the panel's assessment and the case's
context into ranked measures, single or composite."""

from __future__ import annotations

from cases import store
from cases.commits import GateCommit
from cases.facts import disposal_facts, fast_tracked, merge_signals
from cases.lifecycle import Event
from cases.store import Dossier
from experts.assessment import AssessmentSummary
from flows.gates.common import StepContext, StepResult, commit, rulebook_actor, write_report
from flows.gates.decisions import decision_record, rulebook_in_force, rulebook_info
from rules.decisions import decide_disposal


def _recorded(d: Dossier, gate: str) -> dict:
    record = d.gate_record(gate)
    assert record is not None, f"case {d.case.id} reached disposal without a {gate} record"
    return record.outcome


def step(ctx: StepContext, d: Dossier) -> StepResult:
    rulebook = rulebook_in_force(ctx, "disposal")
    assessed = _recorded(d, "assessment")
    triage = _recorded(d, "triage")
    facts = disposal_facts(merge_signals(d.signals), store.history(ctx.db, d.case),
                           AssessmentSummary.from_outcome(assessed),
                           fast_tracked=fast_tracked(triage))
    decision = decide_disposal(rulebook, facts)
    actor = rulebook_actor(rulebook)
    recorded = decision.to_dict()
    report = write_report(ctx, d, "disposal", 1, actor, decision=recorded,
                          rulebook=rulebook_info(rulebook), assessment=assessed)
    outcome = decision.outcome()
    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=Event.DISPOSAL_DONE, owner=ctx.owner, actor=actor,
        outcome=outcome, report=report, decision=decision_record(rulebook, recorded, outcome),
        case_fields={"measures": decision.measure_codes},
        audit_detail={"fired": decision.fired, "measures": decision.measure_codes}),
        summary={"measures": decision.measure_codes, "fired": decision.fired})
