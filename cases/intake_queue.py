"""The launch queue of cases opened by imports: triaged in bulk, then launched P1 first, no
more than `Settings.launch_concurrency` running at once.

A queued case is active but has no continuation until it is launched, so the sweeper leaves it
alone (cases/sweeping.py); launching goes through the outbox like every run
(cases/submissions.launch). A launched case takes a place until its run leaves `active` (it
waits for people or closes); then the next is launched — by the import itself, `riskgate intake
launch`, or the sweeper. Cases imported with `--no-launch` are held until `intake launch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import case as when
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from cases import lifecycle
from cases.db import Database
from cases.models import Case, Continuation, utcnow
from cases.models_intake import IntakeQueue

PRIORITY_ORDER = ("P1", "P2", "P3", "P4")
SETTLED = "settled"  # a queue entry's run: the case was taken up without the queue


def mark_triaged(session: Session, priorities: dict[str, str]) -> None:
    """In the caller's transaction: these queued cases are triaged, at these priorities."""
    for priority in set(priorities.values()):
        ids = [c for c, p in priorities.items() if p == priority]
        for start in range(0, len(ids), 500):
            session.execute(update(IntakeQueue).where(
                col(IntakeQueue.case_id).in_(ids[start:start + 500]))
                .values(priority=priority, triaged=True))


def settle_triaged(db: Database, case_ids: list[str]) -> int:
    """Queued cases a pass found past their first gate (their own run triaged them, or a
    pass stopped between its two writes): triaged, at the priority their case has."""
    if not case_ids:
        return 0
    with db.session() as session:
        found = {c.id: c.priority or PRIORITY_ORDER[-1] for c in session.exec(
            select(Case).where(col(Case.id).in_(case_ids)))}
        mark_triaged(session, found)
    return len(found)


def untriaged(db: Database, import_id: str | None = None) -> list[str]:
    """Queued cases still waiting for bulk triage, in the order they were opened."""
    with db.read_session() as session:
        query = select(IntakeQueue.case_id).where(col(IntakeQueue.triaged).is_(False))
        if import_id:
            query = query.where(IntakeQueue.import_id == import_id)
        return list(session.exec(query.order_by(col(IntakeQueue.queued_at),
                                                col(IntakeQueue.case_id))).all())


def _running(session: Session) -> int:
    return session.exec(select(func.count()).select_from(IntakeQueue).join(
        Case, col(Case.id) == IntakeQueue.case_id).where(
        col(IntakeQueue.launched_at).is_not(None), Case.state == lifecycle.ACTIVE)).one()


def running(db: Database) -> int:
    """Launched queue cases whose run has not yet left `active`."""
    with db.read_session() as session:
        return _running(session)


def claim(db: Database, case_id: str, limit: int) -> Callable[[Session], bool]:
    """The queue's claim of a place for one case, asked inside its launch's transaction:
    launchers (an import, `intake launch`, the sweeper) take turns on one lock, so a case is
    launched once and no more than `limit` run at once."""
    def take(session: Session) -> bool:
        db.lock_key(session, "riskgate:intake-launch")
        if _running(session) >= limit:
            return False
        taken = session.execute(update(IntakeQueue).where(
            col(IntakeQueue.case_id) == case_id, col(IntakeQueue.launched_at).is_(None))
            .values(launched_at=utcnow(), held=False))
        return bool(taken.rowcount == 1)  # type: ignore[attr-defined]
    return take


def next_to_launch(db: Database, limit: int, *, include_held: bool = False) -> list[str]:
    """Triaged, unlaunched, still active cases: P1 first, then in the order they came."""
    if limit <= 0:
        return []
    rank = when({p: i for i, p in enumerate(PRIORITY_ORDER)}, value=IntakeQueue.priority,
                else_=len(PRIORITY_ORDER))
    with db.read_session() as session:
        query = select(IntakeQueue.case_id).join(
            Case, col(Case.id) == IntakeQueue.case_id).where(
            col(IntakeQueue.triaged).is_(True), col(IntakeQueue.launched_at).is_(None),
            Case.state == lifecycle.ACTIVE)
        if not include_held:
            query = query.where(col(IntakeQueue.held).is_(False))
        return list(session.exec(query.order_by(rank, col(IntakeQueue.queued_at),
                                                col(IntakeQueue.case_id)).limit(limit)).all())


def started(db: Database, case_id: str, flow_run_id: str) -> None:
    with db.session() as session:
        session.execute(update(IntakeQueue).where(col(IntakeQueue.case_id) == case_id)
                        .values(flow_run_id=flow_run_id))


def settle_ended(db: Database) -> int:
    """Queue entries whose case was taken up without the queue (staff launched it — it has a
    continuation —, moved it on or closed it): never launched from the queue again. Returns
    how many were settled."""
    with db.session() as session:
        stale = session.exec(select(IntakeQueue.case_id).join(
            Case, col(Case.id) == IntakeQueue.case_id).where(
            col(IntakeQueue.launched_at).is_(None),
            (col(Case.state) != lifecycle.ACTIVE)
            | col(Case.id).in_(select(Continuation.case_id).distinct()))).all()
        if stale:
            session.execute(update(IntakeQueue).where(col(IntakeQueue.case_id).in_(stale))
                            .values(launched_at=utcnow(), flow_run_id=SETTLED))
        return len(stale)


@dataclass(frozen=True)
class QueueStatus:
    untriaged: int
    waiting: dict[str, int]  # by priority, not held
    held: int
    running: int
    launched: int
    settled: int  # taken up without the queue: closed by triage, launched by staff, …

    def to_dict(self) -> dict:
        return {"untriaged": self.untriaged, "waiting": self.waiting, "held": self.held,
                "running": self.running, "launched": self.launched, "settled": self.settled}


def status(db: Database) -> QueueStatus:
    with db.read_session() as session:
        rows = session.execute(sa.select(
            col(IntakeQueue.priority), col(IntakeQueue.triaged), col(IntakeQueue.held),
            col(IntakeQueue.launched_at), col(IntakeQueue.flow_run_id))).all()
    waiting: dict[str, int] = {}
    untriaged = held = launched = settled = 0
    for priority, triaged, is_held, launched_at, run in rows:
        if launched_at is not None and run == SETTLED:
            settled += 1
        elif launched_at is not None:
            launched += 1
        elif not triaged:
            untriaged += 1
        elif is_held:
            held += 1
        else:
            waiting[priority] = waiting.get(priority, 0) + 1
    return QueueStatus(untriaged, dict(sorted(waiting.items())), held, running(db), launched,
                       settled)
