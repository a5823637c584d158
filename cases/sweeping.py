"""What the sweeper decides: which cases need a flow run they do not have.

The sweeper (flows/sweep.py, a scheduled deployment, also run when the runner starts) takes up

* every continuation whose start Prefect never confirmed (cases/outbox.py), and
* every active case that no live run holds and whose last run ended (crashed, failed, cancelled
  — or completed while the case was still active): its dead holder's lease is broken and the
  case is owed a new run. A holder is dead when Prefect says its run is over, or when its lease
  has expired (a worker machine that died leaves a run Prefect may report running for ever);
* a case whose runs keep failing without progress (MAX_RETAKES retakes since the case last
  changed) is not retaken again: it goes to `awaiting_staff` with the reason (lifecycle
  `case.runs_failed`), so a deterministic failure costs three runs, not one a minute;
* every case waiting for staff at the panel gate once a panel could be seated again (experts
  freed up, the roster changed): back to `active` through the lifecycle's `case.retry`.

Two sweeps (the schedule, the runner's start, `riskgate sweep`) may look at the same case at
once: a retake is owed only if, under the case's lock, its newest continuation and its lease
are still what the sweep saw, so one look owes at most one run. The decisions are pure
functions of what the store and Prefect report, tested without either; the sweep itself is thin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from cases import audit, lease, lifecycle, outbox
from cases.db import Database
from cases.lifecycle import Event
from cases.models import Case, Continuation
from cases.store import require_case
from cases.submissions import Claim, claim

SWEEPER_ACTOR = "riskgate sweeper"
RUNS_FAILED_PREFIX = "its runs failed"
RETAKE_REASON = "sweeper.retake"
MAX_RETAKES = 3  # retakes without progress before the case is handed to staff
# Prefect state types of a run that is over.
FINAL_RUN_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


@dataclass(frozen=True)
class ActiveCase:
    case_id: str
    gate: str
    updated_at: datetime  # when its gate, state or decisions last changed
    lease_owner: str | None
    lease_expires: datetime | None
    latest: outbox.Owed | None  # its newest continuation
    retakes_since_progress: int  # retakes owed since `updated_at`


@dataclass(frozen=True)
class Retake:
    case_id: str
    seen_continuation: int  # the newest continuation when the sweep looked
    seen_holder: str | None  # the lease then, broken if still held by it
    why: str
    give_up: bool = False  # too many retakes without progress: hand the case to staff


def active_cases(db: Database, limit: int = 500) -> list[ActiveCase]:
    """Cases a flow run may advance now, with their newest continuation."""
    with db.read_session() as session:
        # Only cases that were ever launched: an import's queued cases have no run to retake
        # and wait their turn (cases/intake_queue.py); they must not crowd out the others.
        rows = session.exec(select(Case).where(
            Case.state == lifecycle.ACTIVE, Case.gate != lifecycle.CLOSED,
            col(Case.id).in_(select(Continuation.case_id).distinct()))
            .order_by(col(Case.updated_at)).limit(limit)).all()
        ids = [r.id for r in rows]
        continuations = session.exec(select(Continuation).where(
            col(Continuation.case_id).in_(ids)).order_by(col(Continuation.id))).all() \
            if ids else []
    by_case: dict[str, list[Continuation]] = {}
    for row in continuations:
        by_case.setdefault(row.case_id, []).append(row)
    found = []
    for case in rows:
        owed = by_case.get(case.id, [])
        retakes = sum(1 for c in owed
                      if c.reason == RETAKE_REASON and c.owed_at > case.updated_at)
        latest = outbox.as_owed(owed[-1]) if owed else None
        found.append(ActiveCase(case.id, case.gate, case.updated_at, case.lease_owner,
                                case.lease_expires, latest, retakes))
    return found


def retake_for(case: ActiveCase, run_state: Callable[[str], str | None],
               now: datetime) -> Retake | None:
    """Whether an active case needs a new run. `run_state` gives a flow run's Prefect state
    type (None for a run Prefect does not know)."""
    if case.latest is None:
        return None  # never launched: staff launch it (`riskgate case run`)
    if case.latest.flow_run_id is None:
        return None  # owed and not yet started: the sweep starts it as it is
    expired = case.lease_expires is not None and case.lease_expires <= now
    state = run_state(case.latest.flow_run_id)
    if state is not None and state not in FINAL_RUN_STATES and not expired:
        return None  # its run is scheduled or running
    holder = case.lease_owner
    if holder and not expired:
        holder_run = lease.holder_run(holder)
        if holder_run is None:
            return None  # held by a process that is not a flow run, its lease still valid
        holder_state = run_state(holder_run)
        if holder_state is not None and holder_state not in FINAL_RUN_STATES:
            return None  # a live run holds it
    why = (f"its lease expired ({holder})" if holder and expired else
           f"its last run {case.latest.flow_run_id} ended {state or 'unknown to Prefect'}")
    return Retake(case.case_id, case.latest.id, holder, why,
                  give_up=case.retakes_since_progress >= MAX_RETAKES)


def owe_retake(db: Database, retake: Retake) -> Claim | None:
    """Break the dead holder's lease and owe the case a run — or, past MAX_RETAKES, hand it
    to staff — in one transaction, if the case is still as the sweep saw it; else None."""
    with db.session() as session:
        db.lock_case(session, retake.case_id)
        case = require_case(session, retake.case_id)
        newest = session.exec(select(Continuation.id).where(
            Continuation.case_id == case.id).order_by(col(Continuation.id).desc())
            .limit(1)).first()
        if not lifecycle.is_live(case.gate, case.state) or newest != retake.seen_continuation \
                or case.lease_owner != retake.seen_holder:
            return None  # a claim, a launch or another sweep came first
        if retake.give_up:
            claim(session, case, Event.RUNS_FAILED, "sweeper")
            case.lease_owner, case.lease_expires = None, None
            case.waiting_reason = (f"{RUNS_FAILED_PREFIX} {MAX_RETAKES + 1} times without progress "
                                   f"({retake.why}); see the Prefect UI, fix the cause, then "
                                   f"`riskgate case retry {case.id}`")
            session.add(case)
            audit.append(db, session, actor=SWEEPER_ACTOR, action=Event.RUNS_FAILED.value,
                         case_id=case.id, detail={"why": retake.why})
            return Claim(case.id, False, "")
        case.lease_owner, case.lease_expires = None, None
        session.add(case)
        owed = outbox.owe(session, case.id, "retake", RETAKE_REASON)
        audit.append(db, session, actor=SWEEPER_ACTOR, action="case.retaken", case_id=case.id,
                     detail={"why": retake.why, "continuation": owed.key,
                             "lease_broken": retake.seen_holder})
    return Claim(retake.case_id, True, owed.key, owed.id)


def cases_waiting_for_staff(db: Database, gate: str) -> list[str]:
    with db.read_session() as session:
        return list(session.exec(select(Case.id).where(Case.state == "awaiting_staff",
                                                       Case.gate == gate)
                                 .order_by(col(Case.updated_at))).all())


def retry(db: Database, case_id: str, *, actor: str, by: lifecycle.Actor,
          why: str) -> Claim | None:
    """Take a case that waits for staff back to its gate (staff, or the sweeper when the
    reason is gone), owing it a run; None if it no longer waits."""
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        if lifecycle.source_of(Event.RETRY, case.gate) != (case.gate, case.state):
            return None
        claim(session, case, Event.RETRY, by)
        case.waiting_reason = ""
        session.add(case)
        owed = outbox.owe(session, case_id, "retry", Event.RETRY.value)
        audit.append(db, session, actor=actor, action=Event.RETRY.value, case_id=case_id,
                     detail={"why": why, "continuation": owed.key})
    return Claim(case_id, True, owed.key, owed.id)
