"""The audit log: append-only and hash-chained, covering the content of every decisive record.

Each event's hash is SHA-256 over its canonical JSON (seq, time, case, actor, action, detail) and
the previous event's hash. Events are appended inside the transaction that does the work they
record, so an event exists exactly when its change does, and each lists the records that
transaction wrote or changed with their content digests (cases/records.py): signals, gate
records, rule decisions, seats, rounds, every score version, lab results, report manifest rows,
the roster and the case itself (its state after the event).

`verify` checks three things against each other: the chain (nothing inserted, removed, reordered
or altered), the stored rows against the digests the chain recorded (nothing edited, added or
deleted outside RiskGate), and each report file, and its PDF copy when it has one, against
its manifest row (and every file under reports/ against the manifest). It reads one consistent
snapshot and then hashes files outside any transaction, so it never holds the store's write
lock while it works (a file a gate commits meanwhile is checked against a fresh read of the
manifest before it is called unrecorded).

The chain is plain SHA-256: it proves that records and events agree and that nothing was
changed by itself, but someone who can write the database could rewrite the whole chain after
an edit. Against that insider the chain head is exported (`anchor`) and recorded outside the
system; `verify(anchor=…)` then proves that nothing up to it changed and that no event after
it was cut away.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from cases import records
from cases.db import Database
from cases.errors import InvalidInput
from cases.models import (
    STAGING_DIR,
    AuditEvent,
    Case,
    ReportRecord,
    data_path_of,
    utcnow,
)

GENESIS = "0" * 64
COMMIT_GRACE_SECONDS = 1.0
_ANCHOR = re.compile(r"^(?P<seq>\d{1,18}):(?P<hash>[0-9a-f]{64})$")


def event_hash(seq: int, at: datetime, case_id: str | None, actor: str, action: str,
               detail: dict, prev_hash: str) -> str:
    body = records.canonical_json({"seq": seq, "at": records.canonical_time(at),
                                   "case": case_id, "actor": actor, "action": action,
                                   "detail": detail, "prev": prev_hash})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(db: Database, session: Session, *, actor: str, action: str,
           case_id: str | None = None, detail: dict | None = None,
           rows: Iterable[Any] = ()) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction.

    `rows` are the ORM rows the transaction wrote or changed; the case named by `case_id` is
    always added, so the chain holds every case's state after each of its events.
    """
    session.flush()
    covered = list(rows)
    if case_id is not None:
        case = session.get(Case, case_id)
        if case is not None and all(row is not case for row in covered):
            covered.append(case)
    db.lock_audit_chain(session)
    last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())  # type: ignore[attr-defined]
                        .limit(1)).first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    payload = records.canonical_loads(detail or {})
    if covered:
        payload["records"] = records.record_entries(covered)
    event = AuditEvent(seq=seq, at=at, case_id=case_id, actor=actor, action=action,
                       detail=payload, prev_hash=prev,
                       hash=event_hash(seq, at, case_id, actor, action, payload, prev))
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Pending:
    """One event of a batch (`append_many`): the same fields `append` takes."""

    actor: str
    action: str
    case_id: str | None
    detail: dict
    rows: tuple[Any, ...] = ()


def append_many(db: Database, session: Session, events: Iterable[Pending]) -> int:
    """Add a batch's events to the chain in one go (an import writes thousands): the chain is
    locked and its head read once, the events inserted together. Each event covers its rows
    and its case, as with `append`. Returns how many were added."""
    pending = list(events)
    if not pending:
        return 0
    session.flush()
    db.lock_audit_chain(session)
    last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())  # type: ignore[attr-defined]
                        .limit(1)).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    at = utcnow()
    cases = {c.id: c for c in session.exec(select(Case).where(
        col(Case.id).in_({e.case_id for e in pending if e.case_id}))).all()}
    values = []
    for event in pending:
        seq += 1
        covered = list(event.rows)
        case = cases.get(event.case_id) if event.case_id else None
        if case is not None and all(row is not case for row in covered):
            covered.append(case)
        payload = records.canonical_loads(event.detail)
        if covered:
            payload["records"] = records.record_entries(covered)
        digest = event_hash(seq, at, event.case_id, event.actor, event.action, payload, prev)
        values.append({"seq": seq, "at": at, "case_id": event.case_id, "actor": event.actor,
                       "action": event.action, "detail": payload, "prev_hash": prev,
                       "hash": digest})
        prev = digest
    session.execute(sa.insert(AuditEvent), values)
    return len(values)


# --------------------------------------------------------------------------------------------
# verification


@dataclass
class Verification:
    events: int = 0
    records: int = 0
    reports: int = 0
    pdfs: int = 0  # reports' PDF archive copies checked
    data: int = 0  # reports' data files checked against the data hash each report carries
    head: str | None = None  # "seq:hash" of the last event
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Snapshot:
    events: list[dict]
    rows: dict[str, list[dict]]  # kind name -> rows
    rulebooks: list[dict]
    vocabularies: list[dict]


def _read_snapshot(db: Database) -> _Snapshot:
    metadata = sa.MetaData()
    with db.read_session() as session:
        connection = session.connection()
        metadata.reflect(connection, only=[k.table for k in records.KINDS.values()]
                         + ["auditevent", "rulebooksnapshot", "vocabularysnapshot"])

        def rows(table: str, order: str) -> list[dict]:
            t = metadata.tables[table]
            return [dict(r) for r in connection.execute(sa.select(t).order_by(t.c[order]))
                    .mappings()]

        return _Snapshot(
            events=rows("auditevent", "seq"),
            rows={kind.name: rows(kind.table, kind.key) for kind in records.KINDS.values()},
            rulebooks=rows("rulebooksnapshot", "sha256"),
            vocabularies=rows("vocabularysnapshot", "sha256"))


def _describe(kind: records.Kind, row: dict) -> str:
    named = ", ".join(f"{c} {row.get(c)}" for c in kind.describe)
    return f"{kind.name} {row[kind.key]}" + (f" ({named})" if named else "")


def _check_chain(snapshot: _Snapshot, result: Verification) -> None:
    prev, expected_seq = GENESIS, 1
    for event in snapshot.events:
        result.events += 1
        seq = event["seq"]
        if seq != expected_seq:
            result.problems.append(f"audit event {expected_seq} is missing (next is {seq})"
                                   if seq > expected_seq else
                                   f"audit event {seq} is out of order (expected {expected_seq})")
        if event["prev_hash"] != prev:
            result.problems.append(f"audit event {seq}: previous-hash link broken (the event "
                                   "before it was changed, removed or reordered)")
        recomputed = event_hash(seq, event["at"], event["case_id"], event["actor"],
                                event["action"], event["detail"], event["prev_hash"])
        if recomputed != event["hash"]:
            result.problems.append(f"audit event {seq} ({event['action']}) was altered: its "
                                   "content does not match its hash")
        prev, expected_seq = event["hash"], seq + 1
    if snapshot.events:
        last = snapshot.events[-1]
        result.head = f"{last['seq']}:{last['hash']}"


def _check_anchor(snapshot: _Snapshot, anchor: str, result: Verification) -> None:
    match = _ANCHOR.match(anchor.strip())
    if match is None:
        raise InvalidInput(f"anchor {anchor[:80]!r}: expected SEQ:SHA256 as `riskgate audit "
                           "anchor` prints it")
    seq, wanted = int(match["seq"]), match["hash"]
    event = next((e for e in snapshot.events if e["seq"] == seq), None)
    last = snapshot.events[-1]["seq"] if snapshot.events else 0
    if event is None:
        if seq > last:
            result.problems.append(f"the anchor is audit event {seq} but the chain ends at "
                                   f"event {last}: events {last + 1}..{seq} were removed")
        else:
            result.problems.append(f"the anchored audit event {seq} is missing")
    elif event["hash"] != wanted:
        result.problems.append(f"audit event {seq} does not match the anchor (hash "
                               f"{event['hash'][:12]}…, anchor {wanted[:12]}…): the chain up to "
                               "it was rewritten")


def _recorded(snapshot: _Snapshot, result: Verification) -> dict[str, tuple[int, dict]]:
    """The latest digest the chain recorded for each ref, with the event's seq. A record that
    never changes (a signal, a score version, a decision …) recorded twice with different
    content is itself a problem: its history was rewritten (a moved signal's case is the one
    change allowed, `records.Kind.movable`)."""
    latest: dict[str, tuple[int, dict]] = {}
    for event in snapshot.events:
        entries = (event["detail"] or {}).get("records") or {}
        if not isinstance(entries, dict):
            continue
        for ref, recorded in entries.items():
            entry = recorded if isinstance(recorded, dict) else {"sha256": recorded}
            kind = records.KINDS.get(ref.split(":", 1)[0])
            before = latest.get(ref)
            if kind is not None and before is not None \
                    and records.version_of(before[1]) == records.version_of(entry) \
                    and not records.allowed_change(kind, before[1], entry):
                result.problems.append(f"{ref.replace(':', ' ', 1)} cannot change, but audit "
                                       f"event {event['seq']} records other content than "
                                       f"event {before[0]}")
            latest[ref] = (event["seq"], entry)
    return latest


def _check_records(snapshot: _Snapshot, result: Verification) -> None:
    recorded = _recorded(snapshot, result)
    present: set[str] = set()
    for kind in records.KINDS.values():
        for row in snapshot.rows[kind.name]:
            result.records += 1
            ref = records.ref(kind, row)
            present.add(ref)
            if ref not in recorded:
                result.problems.append(f"{_describe(kind, row)}: no audit event records it "
                                       "(written outside RiskGate, or its event was removed)")
                continue
            seq, entry = recorded[ref]
            current = records.digest(kind, row, records.version_of(entry))
            if entry.get("sha256") != current["sha256"]:
                fields = records.differing_fields(entry, current)
                what = (", ".join(fields) + (" differ" if len(fields) > 1 else " differs")
                        if fields else "its content differs")
                result.problems.append(f"{_describe(kind, row)}: {what} from what audit event "
                                       f"{seq} recorded")
    for ref, (seq, _) in sorted(recorded.items(), key=lambda item: item[1][0]):
        if ref not in present:
            result.problems.append(f"{ref.replace(':', ' ', 1)}, recorded by audit event {seq}, "
                                   "is missing from the store")


def _check_snapshots(snapshot: _Snapshot, result: Verification) -> None:
    """Each stored rulebook and vocabulary text hashes to its key, and every one that a
    decision or signal names is there."""
    for kind, rows in (("rulebook", snapshot.rulebooks), ("vocabulary", snapshot.vocabularies)):
        for row in rows:
            actual = hashlib.sha256(row["text"].encode("utf-8")).hexdigest()
            if actual != row["sha256"]:
                result.problems.append(f"{kind} snapshot {row['sha256'][:12]}… was altered: its "
                                       f"text hashes to {actual[:12]}…")
    rulebooks = {r["sha256"] for r in snapshot.rulebooks}
    vocabularies = {r["sha256"] for r in snapshot.vocabularies}
    for decision in snapshot.rows["decision"]:
        for key, known, what in (("rulebook_sha256", rulebooks, "rulebook"),
                                 ("vocabulary_sha256", vocabularies, "vocabulary")):
            if decision.get(key) and decision[key] not in known:
                result.problems.append(f"decision {decision['id']} (case {decision['case_id']}, "
                                       f"gate {decision['gate']}): its {what} "
                                       f"{decision[key][:12]}… is missing from the store")
    for signal in snapshot.rows["signal"]:
        if signal.get("vocabulary_sha256") and signal["vocabulary_sha256"] not in vocabularies:
            result.problems.append(f"signal {signal['id']} (case {signal['case_id']}): its "
                                   f"vocabulary {signal['vocabulary_sha256'][:12]}… is missing "
                                   "from the store")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _manifest_paths(db: Database) -> set[str]:
    """Every file the manifest lists: the reports, their PDF copies and their data."""
    with db.read_session() as session:
        rows = session.exec(select(ReportRecord.path, ReportRecord.pdf_path)).all()
    return {path for row in rows for path in (*row, data_path_of(row[0])) if path}


def _check_file(home: Path, relative: str, sha256: str | None, where: str,
                result: Verification, listed: set[Path]) -> None:
    """One file the manifest lists: inside the reports directory, not through a link, there,
    and hashing to its manifest entry."""
    reports_dir = home / "reports"
    candidate = home / relative
    if Path(relative).is_absolute() or ".." in Path(relative).parts \
            or not _inside(candidate, reports_dir):
        result.problems.append(f"{where}: the manifest path leads outside the reports "
                               "directory; it was not read")
        return
    listed.add(candidate)
    resolved = Path(os.path.realpath(candidate))
    if resolved != candidate or not _inside(resolved, reports_dir.resolve()):
        result.problems.append(f"{where}: the path goes through a symbolic link "
                               f"(to {resolved}); it was not read")
        return
    if not candidate.is_file():
        result.problems.append(f"{where}: the file is missing")
        return
    sha = hashlib.sha256()
    with candidate.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    digest = sha.hexdigest()
    if digest != sha256:
        result.problems.append(f"{where}: the file was changed (sha256 {digest[:12]}…, "
                               f"manifest {str(sha256)[:12]}…)")


_DATA_HASH = re.compile(rb"data SHA-256 ([0-9a-f]{64})")


def data_hash_in(docx: Path) -> str | None:
    """The data hash a report carries in its properties (reports/render.py), if any."""
    try:
        with zipfile.ZipFile(docx) as package:
            found = _DATA_HASH.search(package.read("docProps/core.xml"))
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    return found.group(1).decode() if found else None


def _check_data(home: Path, relative: str, where: str, result: Verification,
                listed: set[Path]) -> None:
    """The report's data file, when there is one (reports since the Word templates): it must
    hash to the data hash the report itself carries, which the manifest's digest vouches for."""
    data = home / data_path_of(relative)
    if not (home / relative).is_file():
        listed.add(data)
        return  # the report itself is missing: said once, for the report
    carried = data_hash_in(home / relative)
    if not data.is_file() or data.is_symlink():
        if carried is not None:  # the report says it was rendered from data kept beside it
            result.problems.append(f"data {data_path_of(relative)} of {where}: the file is "
                                   "missing (the report carries its hash)")
        return
    listed.add(data)
    result.data += 1
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    if digest != carried:
        result.problems.append(f"data {data_path_of(relative)} of {where}: the file was changed "
                               f"(sha256 {digest[:12]}…, the report carries "
                               f"{str(carried)[:12]}…)")


def _check_reports(snapshot: _Snapshot, home: Path, result: Verification,
                   db: Database | None = None) -> None:
    home = home.resolve()
    reports_dir = home / "reports"
    listed: set[Path] = set()
    for report in snapshot.rows["report"]:
        result.reports += 1
        relative = str(report["path"])
        where = f"report {relative} (case {report['case_id']}, gate {report['gate']})"
        _check_file(home, relative, report["sha256"], where, result, listed)
        _check_data(home, relative, where, result, listed)
        if report.get("pdf_path"):  # its PDF archive copy (migration 0006)
            result.pdfs += 1
            _check_file(home, str(report["pdf_path"]), report.get("pdf_sha256"),
                        f"PDF copy {report['pdf_path']} of {where}", result, listed)
    if not reports_dir.is_dir():
        return
    unlisted = [path for path in sorted(reports_dir.rglob("*"))
                if STAGING_DIR not in path.relative_to(reports_dir).parts
                and (path.is_file() or path.is_symlink()) and path not in listed]
    if unlisted and db is not None:
        # A gate that committed after the snapshot (or is committing: its file is placed just
        # before its commit) is not a problem: ask the manifest again, once more after a pause.
        for pause in (0.0, COMMIT_GRACE_SECONDS):
            time.sleep(pause)
            now_listed = _manifest_paths(db)
            unlisted = [p for p in unlisted if str(p.relative_to(home)) not in now_listed]
            if not unlisted:
                break
    for path in unlisted:
        result.problems.append(f"report file {path.relative_to(home)} is not in the "
                               "manifest (added, renamed, or written by a commit that "
                               "never came)")


def verify(db: Database, home: Path, *, anchor: str | None = None) -> Verification:
    """Check the chain, the records against the chain, and the reports against the manifest."""
    result = Verification()
    snapshot = _read_snapshot(db)  # one consistent read; the files are hashed after it
    _check_chain(snapshot, result)
    if anchor is not None:
        _check_anchor(snapshot, anchor, result)
    _check_records(snapshot, result)
    _check_snapshots(snapshot, result)
    _check_reports(snapshot, home, result, db)
    return result


def chain_status(db: Database) -> Verification:
    """The chain alone (every event's hash and link), without the records and files: what the
    auditor view checks on each page."""
    with db.read_session() as session:
        connection = session.connection()
        table = AuditEvent.__table__  # type: ignore[attr-defined]
        events = [dict(r) for r in connection.execute(
            sa.select(table).order_by(table.c.seq)).mappings()]
    result = Verification()
    _check_chain(_Snapshot(events, {}, [], []), result)
    return result


def head(db: Database) -> dict[str, Any] | None:
    """The chain head to record outside the system: seq, hash, time, and `anchor` text."""
    with db.read_session() as session:
        last = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc())  # type: ignore[attr-defined]
                            .limit(1)).first()
    if last is None:
        return None
    return {"seq": last.seq, "hash": last.hash, "at": records.canonical_time(last.at),
            "anchor": f"{last.seq}:{last.hash}"}
