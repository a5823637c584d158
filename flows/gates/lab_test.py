"""Lab test (实验评估): tests commissioned for the case's hazards; the case waits for results,
which become evidence for the panel."""

from __future__ import annotations

from cases.commits import GateCommit
from cases.facts import lab_evidence
from cases.lifecycle import Event
from cases.store import Dossier
from flows.gates.common import SYSTEM_ACTOR, StepContext, StepResult, commit, write_report
from rules.domain import domain


def commissioned(hazards: list[str]) -> list[dict]:
    vocab = domain().hazards
    return [{"hazard": h, "zh": vocab.attr(h, "test_zh"), "en": vocab.attr(h, "test_en")}
            for h in (hazards or ["other"])]


def step(ctx: StepContext, d: Dossier) -> StepResult:
    tests = commissioned(list(d.case.hazards))
    results = d.lab_evidence()
    if not results:
        # Commissioned; the case waits for results (riskgate lab submit). No report until then.
        return commit(ctx, d, GateCommit(
            case_id=d.case.id, event=Event.LAB_COMMISSIONED, owner=ctx.owner,
            actor=SYSTEM_ACTOR, audit_detail={"items": [c["hazard"] for c in tests]}),
            summary={"commissioned": [c["hazard"] for c in tests]})
    evidence = lab_evidence([r["result"] for r in results])
    report = write_report(ctx, d, "lab_test", 1, SYSTEM_ACTOR, commissioned=tests,
                          results=results, evidence=evidence)
    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=Event.LAB_DONE, owner=ctx.owner, actor=SYSTEM_ACTOR,
        outcome={"evidence": evidence, "results": len(results)}, report=report))
