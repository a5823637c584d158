"""Follow-up (跟踪): one tracked action per measure, one notice per department."""

from __future__ import annotations

from cases.commits import GateCommit
from cases.follow_up import plan as follow_up_plan
from cases.lifecycle import Event
from cases.models import utcnow
from cases.store import Dossier
from flows.gates.common import SYSTEM_ACTOR, StepContext, StepResult, commit, write_report


def step(ctx: StepContext, d: Dossier) -> StepResult:
    disposal = d.gate_record("disposal")
    assert disposal is not None
    measures = [m["code"] for m in disposal.outcome["measures"]]
    plan = follow_up_plan(measures, disposal.outcome["notify"], d.case.priority, utcnow())
    report = write_report(ctx, d, "follow_up", 1, SYSTEM_ACTOR, plan=plan)
    return commit(ctx, d, GateCommit(case_id=d.case.id, event=Event.FOLLOW_UP_DONE,
                                     owner=ctx.owner, actor=SYSTEM_ACTOR, outcome=plan,
                                     report=report),
                  summary={"actions": len(plan["actions"]),
                           "notifications": len(plan["notifications"])})
