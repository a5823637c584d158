"""The case lease: at most one flow run advances a case at a time.

A run takes the case's lease (compare-and-set on `case.lease_owner`), renews it between gates
and releases it at the end. Gate commits check it under the case's row lock
(cases/commits.py), so a run that lost its lease — it expired while the run hung, and another
run took it — can record nothing more and stops with `LeaseLost`.

A run killed mid-way cannot release its lease. Its owner string names the host, the pid and, for
flow runs, the Prefect flow run id: on the same host a new run takes the lease over at once when
that pid is gone; the sweeper (flows/sweep.py) breaks a lease whose flow run Prefect reports as
finished (crashed, failed, cancelled), wherever it ran; otherwise the lease expires LEASE_SECONDS
after its last renewal.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col

from cases.db import Database
from cases.errors import CaseBusy, LeaseLost, NotFound
from cases.models import Case, utcnow

LEASE_SECONDS = 900
_RUN = ":run="


def new_owner(flow_run_id: str | None = None) -> str:
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return owner + (f"{_RUN}{flow_run_id}" if flow_run_id else "")


def holder_run(owner: str | None) -> str | None:
    """The flow run id in a lease owner string, if the holder was a flow run."""
    if not owner or _RUN not in owner:
        return None
    return owner.rsplit(_RUN, 1)[1] or None


def _holder_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(db: Database, case_id: str, owner: str) -> None:
    now = utcnow()
    expires = now + timedelta(seconds=LEASE_SECONDS)
    with db.session() as session:
        claimed = session.exec(
            update(Case)
            .where(col(Case.id) == case_id,
                   or_(col(Case.lease_owner).is_(None), col(Case.lease_owner) == owner,
                       col(Case.lease_expires) < now))
            .values(lease_owner=owner, lease_expires=expires)
        ).rowcount
        if claimed:
            return
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        holder = case.lease_owner or ""
        if _holder_is_dead(holder):
            taken = session.exec(
                update(Case).where(col(Case.id) == case_id, col(Case.lease_owner) == holder)
                .values(lease_owner=owner, lease_expires=expires)
            ).rowcount
            if taken:
                return
        until = f"{case.lease_expires:%Y-%m-%d %H:%M:%S} UTC" if case.lease_expires else "?"
        raise CaseBusy(f"case {case_id} is being advanced by another run ({holder}); "
                       f"its lease runs until {until}")


def renew(db: Database, case_id: str, owner: str) -> None:
    with db.session() as session:
        renewed = session.exec(
            update(Case).where(col(Case.id) == case_id, col(Case.lease_owner) == owner)
            .values(lease_expires=utcnow() + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
        if not renewed:
            holder = session.get(Case, case_id)
            other = holder.lease_owner if holder is not None else None
            raise LeaseLost(f"case {case_id}: this run ({owner}) lost its lease to "
                            f"{other or 'no run now (it expired or was released)'}; it stops here")


def release(db: Database, case_id: str, owner: str) -> None:
    with db.session() as session:
        session.exec(update(Case).where(col(Case.id) == case_id, col(Case.lease_owner) == owner)
                     .values(lease_owner=None, lease_expires=None))


def break_lease(db: Database, case_id: str, holder: str) -> bool:
    """Release a lease whose holder is known to be gone (the sweeper, after Prefect reported
    the holder's flow run finished). Compare-and-set on the holder: a lease taken meanwhile by
    a live run is left alone."""
    with db.session() as session:
        return session.exec(update(Case).where(col(Case.id) == case_id,
                                               col(Case.lease_owner) == holder)
                            .values(lease_owner=None, lease_expires=None)).rowcount == 1


@contextmanager
def leased(db: Database, case_id: str, owner: str | None = None) -> Iterator[str]:
    """Hold the case's lease for the block; yields the owner string."""
    owner = owner or new_owner()
    acquire(db, case_id, owner)
    try:
        yield owner
    finally:
        release(db, case_id, owner)
