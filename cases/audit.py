"""The audit log: append-only and hash-chained, so that removal or change is detectable.

Each event's hash is SHA-256 over its canonical JSON (seq, time, case, actor, action, detail) and
the previous event's hash. Events are appended inside the transaction that does the work they
record, so an event exists exactly when its change does. `verify` recomputes the chain and checks
every report file against the SHA-256 in the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from cases.db import Database
from cases.models import AuditEvent, ReportRecord, utcnow

GENESIS = "0" * 64


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(seq: int, at: datetime, case_id: str | None, actor: str, action: str,
               detail: dict, prev_hash: str) -> str:
    body = json.dumps({"seq": seq, "at": _canonical_time(at), "case": case_id, "actor": actor,
                       "action": action, "detail": detail, "prev": prev_hash},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(db: Database, session: Session, *, actor: str, action: str,
           case_id: str | None = None, detail: dict | None = None) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction."""
    db.lock_audit_chain(session)
    last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    payload = json.loads(json.dumps(detail or {}, ensure_ascii=False, default=str))
    event = AuditEvent(seq=seq, at=at, case_id=case_id, actor=actor, action=action,
                       detail=payload, prev_hash=prev,
                       hash=event_hash(seq, at, case_id, actor, action, payload, prev))
    session.add(event)
    session.flush()
    return event


@dataclass
class Verification:
    events: int = 0
    reports: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(db: Database, home: Path) -> Verification:
    """Recompute the chain and check each report file's SHA-256 against its manifest entry."""
    result = Verification()
    with db.session() as session:
        prev, expected_seq = GENESIS, 1
        for event in session.exec(select(AuditEvent).order_by(AuditEvent.seq)):
            result.events += 1
            if event.seq != expected_seq:
                result.problems.append(f"audit event {expected_seq} is missing "
                                       f"(next is {event.seq})")
            if event.prev_hash != prev:
                result.problems.append(f"audit event {event.seq}: previous-hash link broken")
            recomputed = event_hash(event.seq, event.at, event.case_id, event.actor,
                                    event.action, event.detail, event.prev_hash)
            if recomputed != event.hash:
                result.problems.append(f"audit event {event.seq} ({event.action}) was altered")
            prev, expected_seq = event.hash, event.seq + 1
        for report in session.exec(select(ReportRecord).order_by(ReportRecord.id)):
            result.reports += 1
            path = home / report.path
            if not path.is_file():
                result.problems.append(f"report missing: {report.path}")
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != report.sha256:
                result.problems.append(f"report changed: {report.path} (sha256 {digest[:12]}…, "
                                       f"manifest {report.sha256[:12]}…)")
    return result
