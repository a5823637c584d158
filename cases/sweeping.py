"""What the sweeper decides: which cases need a flow run they do not have.

The sweeper (flows/sweep.py, a scheduled deployment, also run when the runner starts) takes up

* every continuation whose start Prefect never confirmed (cases/outbox.py), and
* every active case whose last flow run ended (crashed, failed, cancelled — or completed while
  the case was still active) and that no live run holds: its lease is broken when Prefect says
  the holder's run is over, and the case is owed a new run;
* every case waiting for staff at the panel gate once a panel could be seated again (experts
  freed up, the roster changed): it goes back to `active` through the lifecycle's `panel.retry`.

The decisions are pure functions of what the store and Prefect report, so they are tested
without either; the sweep itself is thin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from cases import audit, lease, lifecycle, outbox
from cases.db import Database
from cases.lifecycle import Event
from cases.models import Case
from cases.store import require_case
from cases.submissions import Claim, claim

SWEEPER_ACTOR = "riskgate sweeper"
# Prefect state types of a run that is over.
FINAL_RUN_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


@dataclass(frozen=True)
class ActiveCase:
    case_id: str
    gate: str
    lease_owner: str | None
    lease_expires: datetime | None
    latest: outbox.Owed | None  # its newest continuation


@dataclass(frozen=True)
class Retake:
    case_id: str
    break_holder: str | None  # a lease to break first (its holder's run is over)
    why: str


def active_cases(db: Database, limit: int = 500) -> list[ActiveCase]:
    """Cases a flow run may advance now, with their newest continuation."""
    with db.read_session() as session:
        rows = session.exec(select(Case.id, Case.gate, Case.lease_owner, Case.lease_expires)
                            .where(Case.state == lifecycle.ACTIVE,
                                   Case.gate != lifecycle.CLOSED)
                            .order_by(col(Case.updated_at)).limit(limit)).all()
    latest = outbox.latest_by_case(db, [r[0] for r in rows])
    return [ActiveCase(case_id, gate, owner, expires, latest.get(case_id))
            for case_id, gate, owner, expires in rows]


def retake_for(case: ActiveCase, run_state: Callable[[str], str | None],
               now: datetime) -> Retake | None:
    """Whether an active case needs a new run. `run_state` gives a flow run's Prefect state
    type (None for a run Prefect does not know)."""
    if case.latest is None:
        return None  # never launched: staff launch it (`riskgate case run`)
    if case.latest.flow_run_id is None:
        return None  # owed and not yet started: the sweep starts it as it is
    state = run_state(case.latest.flow_run_id)
    if state is not None and state not in FINAL_RUN_STATES:
        return None  # its run is scheduled or running
    holder = case.lease_owner
    if holder:
        holder_run = lease.holder_run(holder)
        if holder_run is not None:
            holder_state = run_state(holder_run)
            if holder_state is not None and holder_state not in FINAL_RUN_STATES:
                return None  # a live run holds it
        elif case.lease_expires is not None and case.lease_expires > now:
            return None  # held by a process that is not a flow run, not expired
    why = f"its last run {case.latest.flow_run_id} ended {state or 'unknown to Prefect'}"
    return Retake(case.case_id, holder, why)


def owe_retake(db: Database, retake: Retake) -> Claim | None:
    """Break the dead holder's lease and owe the case a run, in one transaction; None if the
    case moved on meanwhile."""
    if retake.break_holder and not lease.break_lease(db, retake.case_id, retake.break_holder):
        return None
    with db.session() as session:
        db.lock_case(session, retake.case_id)
        case = require_case(session, retake.case_id)
        if not lifecycle.is_live(case.gate, case.state):
            return None
        owed = outbox.owe(session, case.id, "retake", "sweeper.retake")
        audit.append(db, session, actor=SWEEPER_ACTOR, action="case.retaken", case_id=case.id,
                     detail={"why": retake.why, "continuation": owed.key,
                             "lease_broken": retake.break_holder})
    return Claim(retake.case_id, True, owed.key, owed.id)


def cases_waiting_for_staff(db: Database, gate: str) -> list[str]:
    with db.read_session() as session:
        return list(session.exec(select(Case.id).where(Case.state == "awaiting_staff",
                                                       Case.gate == gate)
                                 .order_by(col(Case.updated_at))).all())


def retry_gate(db: Database, case_id: str, event: Event, *, actor: str,
               by: lifecycle.Actor, why: str) -> Claim | None:
    """Take a case that waits for staff back to its gate (the sweeper when the reason is gone,
    or staff), owing it a run; None if it no longer waits."""
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        source = next(t.source for t in lifecycle.TRANSITIONS if t.event == event)
        if (case.gate, case.state) != source:
            return None
        claim(session, case, event, by)
        case.waiting_reason = ""
        session.add(case)
        owed = outbox.owe(session, case_id, f"{event.value}", event.value)
        audit.append(db, session, actor=actor, action=event.value, case_id=case_id,
                     detail={"why": why, "continuation": owed.key})
    return Claim(case_id, True, owed.key, owed.id)
