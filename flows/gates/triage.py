"""Triage (分诊): the triage rulebook decides priority, preliminary risk and the route. The
enterprise's credit class and violations come from its credit file when the centre has one
(the signals' own claims are shown beside them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases import credit, lifecycle, store
from cases.commits import GateCommit
from cases.db import Database
from cases.facts import History, merge_signals, triage_facts, with_credit_file
from cases.store import Dossier
from flows.gates.common import StepContext, StepResult, commit, rulebook_actor, write_report
from flows.gates.decisions import decision_record, rulebook_in_force, rulebook_info
from rules.decisions import TriageDecision, decide_triage
from rules.rulebook import Rulebook


@dataclass(frozen=True)
class Triaged:
    """One triage decision and everything recorded about it (here, and in bulk)."""

    decision: TriageDecision
    recorded: dict[str, Any]  # Decision.to_dict(), serialised once
    evidence: dict | None  # the credit file's entries the decision used
    round_no: int

    @property
    def route(self) -> lifecycle.Transition:
        return lifecycle.triage_route(self.decision.next_gate)

    @property
    def outcome(self) -> dict[str, Any]:
        return {**self.decision.outcome(),
                **({"credit_file": self.evidence} if self.evidence else {})}

    def gate_commit(self, rulebook: Rulebook, case_id: str, owner: str, **extra: Any
                    ) -> GateCommit:
        return GateCommit(
            case_id=case_id, event=self.route.event, round=self.round_no, owner=owner,
            actor=rulebook_actor(rulebook), outcome=self.outcome,
            decision=decision_record(rulebook, self.recorded, self.decision.outcome()),
            case_fields={"priority": self.decision.priority, "triage_round": self.round_no},
            audit_detail={"fired": self.decision.fired}, **extra)


def decide(db: Database, rulebook: Rulebook, d: Dossier, history: History | None = None,
           files: credit.FileKeys | None = None) -> Triaged:
    """`history` and `files`: the case's history and the credit files' keys, when the caller
    read them once for many cases (bulk triage)."""
    facts, evidence = with_credit_file(
        triage_facts(merge_signals(d.signals), history or store.history(db, d.case),
                     [r["result"] for r in d.lab_evidence()]), credit.for_case(db, d, files))
    decision = decide_triage(rulebook, facts)
    return Triaged(decision, decision.to_dict(), evidence, d.case.triage_round + 1)


def report_context(rulebook: Rulebook, recorded: dict, evidence: dict | None) -> dict:
    return {"decision": recorded, "rulebook": rulebook_info(rulebook),
            "resolution": rulebook.resolution, "credit_file": evidence}


def step(ctx: StepContext, d: Dossier) -> StepResult:
    rulebook = rulebook_in_force(ctx, "triage")
    triaged = decide(ctx.db, rulebook, d)
    report = write_report(ctx, d, "triage", triaged.round_no, rulebook_actor(rulebook),
                          **report_context(rulebook, triaged.recorded, triaged.evidence))
    return commit(ctx, d, triaged.gate_commit(rulebook, d.case.id, ctx.owner, report=report),
                  summary={**triaged.outcome, "fired": triaged.decision.fired})
