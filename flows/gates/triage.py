"""Triage (分诊): the triage rulebook decides priority, preliminary risk and the route. The
enterprise's credit class and violations come from its credit file when the centre has one
(the signals' own claims are shown beside them)."""

from __future__ import annotations

from cases import credit, lifecycle, store
from cases.commits import GateCommit
from cases.facts import merge_signals, triage_facts, with_credit_file
from cases.store import Dossier
from flows.gates.common import StepContext, StepResult, commit, rulebook_actor, write_report
from flows.gates.decisions import decision_record, rulebook_in_force, rulebook_info
from rules.decisions import decide_triage


def step(ctx: StepContext, d: Dossier) -> StepResult:
    rulebook = rulebook_in_force(ctx, "triage")
    facts, evidence = with_credit_file(
        triage_facts(merge_signals(d.signals), store.history(ctx.db, d.case),
                     [r["result"] for r in d.lab_evidence()]), credit.for_case(ctx.db, d))
    decision = decide_triage(rulebook, facts)
    round_no = d.case.triage_round + 1
    route = lifecycle.triage_route(decision.next_gate)
    actor = rulebook_actor(rulebook)
    recorded = decision.to_dict()
    report = write_report(ctx, d, "triage", round_no, actor, decision=recorded,
                          rulebook=rulebook_info(rulebook), resolution=rulebook.resolution,
                          credit_file=evidence)
    outcome = decision.outcome()
    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=route.event, round=round_no, owner=ctx.owner, actor=actor,
        outcome={**outcome, **({"credit_file": evidence} if evidence else {})}, report=report,
        decision=decision_record(rulebook, recorded, outcome),
        case_fields={"priority": decision.priority, "triage_round": round_no},
        audit_detail={"fired": decision.fired}), summary={**outcome, "fired": decision.fired})
