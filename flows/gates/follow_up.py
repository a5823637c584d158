"""Follow-up (跟踪): each measure becomes a tracked action and each department named by the
disposal gets a notice; the case waits until every action is completed or staff close the
follow-up with a reason (cases/actions.py). Then the gate completes with a report of every
action and its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from cases import actions, departments
from cases.commits import GateCommit
from cases.lifecycle import Event
from cases.models import Case, utcnow
from cases.models_oversight import FollowUpAction
from cases.store import Dossier
from flows.gates.common import SYSTEM_ACTOR, StepContext, StepResult, commit, lang_of, write_report


def step(ctx: StepContext, d: Dossier) -> StepResult:
    tracked = actions.list_actions(ctx.db, d.case.id)
    if tracked:
        return _complete(ctx, d, tracked)
    disposal = d.gate_record("disposal")
    assert disposal is not None
    plan = actions.planned([m["code"] for m in disposal.outcome["measures"]],
                           disposal.outcome["notify"], d.case.priority, utcnow(), lang_of(d))
    if not plan["actions"]:  # nothing to track: a disposal without measures
        return _complete(ctx, d, [])

    def track(session: Session, case: Case, now: datetime) -> list[Any]:
        rows: list[Any] = [FollowUpAction(
            case_id=case.id, number=a["number"], measure=a["measure"], lead=a["lead"],
            due_on=datetime.fromisoformat(a["due_on"]).date(), status="open", details={},
            note="", outcome="", created_at=now, updated_at=now, updated_by=SYSTEM_ACTOR)
            for a in plan["actions"]]
        session.add_all(rows)
        session.flush()
        return rows + departments.notify(session, case, plan, lang_of(d),
                                         ctx.settings.departments_file)

    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=Event.FOLLOW_UP_TRACKING, owner=ctx.owner,
        actor=SYSTEM_ACTOR, outcome=plan, writes=[track]),
        summary={"actions": len(plan["actions"]), "notifications": plan["notifications"]})


def _complete(ctx: StepContext, d: Dossier, tracked: list[FollowUpAction],
              plan: dict | None = None) -> StepResult:
    disposal = d.gate_record("disposal")
    named = disposal.outcome["notify"] if disposal else []
    with ctx.db.read_session() as session:
        sent = {m.to_addr: m.sent_at for m in departments.sent(session, d.case.id)}
    known = departments.addresses(ctx.settings.departments_file)
    notices = [{"authority": code, "to": known.get(code, ""),
                "sent_at": sent[known[code]].isoformat() if sent.get(known.get(code, ""))
                else None, "queued": known.get(code, "") in sent} for code in named]
    rows = actions.outcome_rows(tracked)
    withdrawn = [a for a in tracked if a.status == "withdrawn"]
    closed_by_staff = ({"by": withdrawn[0].updated_by, "reason": withdrawn[0].outcome}
                       if withdrawn else None)
    outcome = {"actions": rows, "notices": notices, "closed_by_staff": closed_by_staff}
    report = write_report(ctx, d, "follow_up", 1, SYSTEM_ACTOR, actions=rows,
                          notices=notices, closed_by_staff=closed_by_staff)
    return commit(ctx, d, GateCommit(case_id=d.case.id, event=Event.FOLLOW_UP_DONE,
                                     owner=ctx.owner, actor=SYSTEM_ACTOR, outcome=outcome,
                                     report=report),
                  summary={"actions": len(rows), "withdrawn": len(withdrawn)})
