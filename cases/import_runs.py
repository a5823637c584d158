"""Import runs: one file taken in under one mapping — the file checked and identified before
anything is taken in, the run claimed by one process at a time (its owner, host:pid, beats at
each batch; another takes over once the owner is gone), and its end, finished or stopped.
The batches themselves are cases/importer.py's."""

from __future__ import annotations

import codecs
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from cases import audit
from cases.db import Database
from cases.errors import InvalidInput, WrongState
from cases.feeds import Mapping
from cases.feeds.readers import require_feed_file
from cases.models import utcnow
from cases.models_intake import ImportRun

_ID_LETTERS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
STALE_OWNER = timedelta(minutes=2)  # an owner that has not beaten for this long is gone
COUNT_NAMES = ("read", "accepted", "duplicates", "grouped", "new_cases", "rejected")


class ImportBusy(WrongState):
    """Another live process is importing the same file."""



@dataclass
class Counts:
    read: int = 0
    accepted: int = 0  # signals stored (near-duplicates included: kept, never dropped)
    duplicates: int = 0  # the same reference again, or a near-identical report
    grouped: int = 0  # signals that joined a case opened before them
    new_cases: int = 0
    rejected: int = 0  # quarantined, with their problems

    def add(self, other: Counts) -> None:
        for name in COUNT_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}



@dataclass(frozen=True)
class FileCheck:
    sha256: str
    header: str  # the first line, decoded (a CSV's header)
    identity: tuple[int, int, int]  # inode, size, modification time: to see it change

    def refuse_if_changed(self, path: Path) -> None:
        """An export still being copied in, or overwritten: what was read is not the file
        that was checked."""
        if _identity(require_feed_file(path)) != self.identity:
            raise InvalidInput(f"{path}: the file changed while it was being imported")


def _identity(found: os.stat_result) -> tuple[int, int, int]:
    return found.st_ino, found.st_size, found.st_mtime_ns


def check_file(path: Path, encoding: str) -> FileCheck:
    """The file's SHA-256, read once, and whether all of it is text in the mapping's
    encoding: a file the reader would stop on half-way is refused before anything is taken
    in, naming the line."""
    identity = _identity(require_feed_file(path))
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    first = b""
    lines = offset = 0
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                if b"\n" not in first:
                    first += chunk[:4096]
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    line = lines + chunk.count(b"\n", 0, exc.start) + 1
                    raise InvalidInput(f"{path}:{line}: not {encoding} text (byte "
                                       f"{offset + exc.start + 1}); nothing was taken in — "
                                       "fix the file or the mapping's encoding") from None
                lines += chunk.count(b"\n")
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}:{lines + 1}: not {encoding} text (it ends inside a "
                           "character); nothing was taken in") from None
    header = first.split(b"\n", 1)[0].rstrip(b"\r").decode(encoding, errors="replace")
    checked = FileCheck(digest.hexdigest(), header.removeprefix("\ufeff"), identity)
    checked.refuse_if_changed(path)
    return checked


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(run: ImportRun) -> bool:
    host, _, pid = run.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return utcnow() - run.beat_at > STALE_OWNER


def _free_run_id(session: Session, now: datetime) -> str:
    """A new import's id: the day and random letters (the same file under another mapping,
    or two files alike in their first digits, are other imports)."""
    while True:
        candidate = f"IM-{now:%Y%m%d}-" + "".join(secrets.choice(_ID_LETTERS) for _ in range(6))
        if session.get(ImportRun, candidate) is None:
            return candidate


def run_lock(sha: str, mapping_sha: str) -> str:
    """One import of a file under a mapping at a time: its claim and each of its batches."""
    return f"riskgate:import:{sha}:{mapping_sha}"


def claim_run(db: Database, path: Path, checked: FileCheck, mapping: Mapping, fmt: str, *,
               actor: str, again: bool) -> tuple[ImportRun, bool]:
    """The import run this process carries on, and whether it was finished already."""
    me = this_process()
    sha = checked.sha256
    with db.session() as session:
        db.lock_key(session, run_lock(sha, mapping.sha256))
        latest = session.exec(select(ImportRun).where(
            ImportRun.file_sha256 == sha, ImportRun.mapping_sha256 == mapping.sha256)
            .order_by(col(ImportRun.attempt).desc()).limit(1)).first()
        now = utcnow()
        if latest is not None and latest.status in ("running", "stopped"):
            if latest.owner != me and not owner_gone(latest):
                raise ImportBusy(f"{path} is being imported by {latest.owner} (import "
                                 f"{latest.id}, {latest.last_record} records committed, up to "
                                 f"line {latest.last_line}); run again when it has finished")
            latest.owner, latest.beat_at, latest.status = me, now, "running"
            session.add(latest)
            session.flush()
            session.expunge(latest)
            return latest, False
        if latest is not None and not again:
            session.expunge(latest)
            return latest, True
        run = ImportRun(id=_free_run_id(session, now),
                        path=str(path), file_sha256=sha, mapping_sha256=mapping.sha256,
                        attempt=(latest.attempt + 1) if latest else 1, channel=mapping.channel,
                        format=fmt, encoding=mapping.spec.encoding, header=checked.header,
                        counts=Counts().to_dict(), owner=me, beat_at=now, actor=actor,
                        started_at=now)
        session.add(run)
        audit.append(db, session, actor=actor, action="import.started",
                     detail={"import": run.id, "path": str(path), "sha256": sha,
                             "mapping": mapping.name, "attempt": run.attempt})
        session.flush()
        session.expunge(run)
        return run, False



def stop(db: Database, run_id: str, why: str) -> None:
    with db.session() as session:
        run = session.get(ImportRun, run_id)
        assert run is not None
        run.status = "stopped"
        session.add(run)
        audit.append(db, session, actor=run.actor, action="import.stopped",
                     detail={"import": run.id, "records": run.last_record, "why": why[:500]})


def finish(db: Database, run_id: str) -> ImportRun:
    with db.session() as session:
        run = session.get(ImportRun, run_id)
        assert run is not None
        run.status, run.finished_at = "done", utcnow()
        session.add(run)
        audit.append(db, session, actor=run.actor, action="import.finished",
                     detail={"import": run.id, "counts": run.counts,
                             "records": run.last_record})
        session.flush()
        session.expunge(run)
        return run
