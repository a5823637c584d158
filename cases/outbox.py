"""The hand-over outbox: flow runs a case is owed, written with the claim that owes them.

A submission that completes what a case waits for writes, in its own transaction, the claim
(the lifecycle transition) and a `Continuation` row. Starting the Prefect run happens after the
commit and may fail (Prefect down, the network, a crash right after the commit); the row stays
owed until a start is confirmed, and the starter — the submitter first, then the sweeper — tries
again. The row's key is the flow run's idempotency key, so however often a start is retried,
Prefect creates one run for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from cases.db import Database
from cases.models import Continuation, utcnow

MAX_ERROR = 300


@dataclass(frozen=True)
class Owed:
    id: int
    case_id: str
    key: str
    reason: str
    flow_run_id: str | None
    attempts: int


def as_owed(row: Continuation) -> Owed:
    assert row.id is not None
    return Owed(row.id, row.case_id, row.key, row.reason, row.flow_run_id, row.attempts)


def owe(session: Session, case_id: str, what: str, reason: str) -> Owed:
    """Record, inside the caller's transaction, that the case is owed a run. The key is
    `<case>:<what>`, with `#n` appended if the case was owed one for the same thing before
    (a lab test after a second triage, a second launch)."""
    key = f"{case_id}:{what}"
    taken = set(session.exec(select(Continuation.key).where(
        Continuation.case_id == case_id,
        col(Continuation.key).startswith(key, autoescape=True))).all())
    n = 1
    while (key if n == 1 else f"{key}#{n}") in taken:
        n += 1
    row = Continuation(case_id=case_id, key=key if n == 1 else f"{key}#{n}", reason=reason,
                       owed_at=utcnow(), attempts=0, last_error="")
    session.add(row)
    session.flush()
    return as_owed(row)


def started(db: Database, continuation_id: int, flow_run_id: str) -> None:
    with db.session() as session:
        session.exec(update(Continuation).where(col(Continuation.id) == continuation_id)
                     .values(flow_run_id=flow_run_id, started_at=utcnow(),
                             attempts=Continuation.attempts + 1, last_error=""))


def failed(db: Database, continuation_id: int, error: str) -> None:
    with db.session() as session:
        session.exec(update(Continuation).where(col(Continuation.id) == continuation_id)
                     .values(attempts=Continuation.attempts + 1,
                             last_error=" ".join(error.split())[:MAX_ERROR]))


def unstarted(db: Database, limit: int = 200) -> list[Owed]:
    """Continuations no start has been confirmed for, oldest first."""
    with db.read_session() as session:
        rows = session.exec(select(Continuation).where(col(Continuation.flow_run_id).is_(None))
                            .order_by(col(Continuation.id)).limit(limit)).all()
        return [as_owed(r) for r in rows]


def latest_by_case(db: Database, case_ids: list[str]) -> dict[str, Owed]:
    """The newest continuation of each case."""
    found: dict[str, Owed] = {}
    if not case_ids:
        return found
    with db.read_session() as session:
        rows = session.exec(select(Continuation).where(col(Continuation.case_id).in_(case_ids))
                            .order_by(col(Continuation.id))).all()
        for row in rows:
            found[row.case_id] = as_owed(row)
    return found


def of_case(db: Database, case_id: str) -> list[Owed]:
    with db.read_session() as session:
        rows = session.exec(select(Continuation).where(Continuation.case_id == case_id)
                            .order_by(col(Continuation.id))).all()
        return [as_owed(r) for r in rows]
