"""Closure (结案): the whole trail on one report — every gate, the approval of the disposal,
every follow-up action and its outcome, every earlier report by name and hash; the case is
closed."""

from __future__ import annotations

from cases import actions
from cases.commits import GateCommit
from cases.lifecycle import Event
from cases.store import Dossier
from flows.gates.common import SYSTEM_ACTOR, StepContext, StepResult, commit, write_report


def step(ctx: StepContext, d: Dossier) -> StepResult:
    triage = d.gate_record("triage")
    gates = [{"gate": g.gate, "round": g.round, "completed_at": g.completed_at,
              "actor": g.actor} for g in d.gates]
    reports = [{"gate": r.gate, "round": r.round, "path": r.path, "sha256": r.sha256,
                "template_version": r.template_version} for r in d.reports]
    final = {"priority": d.case.priority, "risk_level": d.case.risk_level,
             "measures": list(d.case.measures or []),
             "referrals": (triage.outcome.get("referrals", []) if triage else []),
             "closed_at_triage": d.gate_record("assessment") is None}
    follow_up = d.gate_record("follow_up")
    final["closed_by_staff"] = follow_up.outcome.get("closed_by_staff") if follow_up else None
    tracked = actions.outcome_rows(actions.list_actions(ctx.db, d.case.id))
    disposal = d.gate_record("disposal")
    approval = disposal.outcome.get("approval") if disposal else None
    report = write_report(ctx, d, "closure", 1, SYSTEM_ACTOR, gates=gates, reports=reports,
                          final=final, signals=[s.model_dump(mode="json") for s in d.signals],
                          actions=tracked, approval=approval)
    return commit(ctx, d, GateCommit(case_id=d.case.id, event=Event.CLOSURE_DONE,
                                     owner=ctx.owner, actor=SYSTEM_ACTOR, outcome=final,
                                     report=report))
