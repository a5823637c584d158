"""The case lease: at most one flow run advances a case at a time.

Gate reports are written to fixed paths before their gate commits; two runs advancing the same
case would overwrite each other's files. A run therefore takes the case's lease (compare-and-set
on `case.lease_owner`), renews it between gates and releases it at the end.

A run killed mid-way cannot release its lease. Its owner string names the host and pid, so on
the same host a new run takes the lease over at once when that pid is gone; elsewhere it waits
for expiry (LEASE_SECONDS after the last renewal).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, update

from cases.db import Database
from cases.errors import CaseBusy, NotFound
from cases.models import Case, utcnow

LEASE_SECONDS = 900


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
            .where(Case.id == case_id,
                   or_(Case.lease_owner.is_(None), Case.lease_owner == owner,
                       Case.lease_expires < now))
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
                update(Case).where(Case.id == case_id, Case.lease_owner == holder)
                .values(lease_owner=owner, lease_expires=expires)
            ).rowcount
            if taken:
                return
        raise CaseBusy(f"case {case_id} is being advanced by another run ({holder}); "
                       f"its lease runs until {case.lease_expires:%Y-%m-%d %H:%M:%S} UTC")


def renew(db: Database, case_id: str, owner: str) -> None:
    with db.session() as session:
        renewed = session.exec(
            update(Case).where(Case.id == case_id, Case.lease_owner == owner)
            .values(lease_expires=utcnow() + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
    if not renewed:
        raise CaseBusy(f"case {case_id}: this run lost its lease")


def release(db: Database, case_id: str, owner: str) -> None:
    with db.session() as session:
        session.exec(update(Case).where(Case.id == case_id, Case.lease_owner == owner)
                     .values(lease_owner=None, lease_expires=None))


@contextmanager
def leased(db: Database, case_id: str, owner: str | None = None) -> Iterator[str]:
    """Hold the case's lease for the block; yields the owner string."""
    owner = owner or new_owner()
    acquire(db, case_id, owner)
    try:
        yield owner
    finally:
        release(db, case_id, owner)
