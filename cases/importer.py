"""Importing a signal file: streamed, in batches, never lossy, resumable, idempotent.

The file is read row by row (cases/feeds); every `BATCH_ROWS` rows are one transaction that
stores the batch's signals (each de-duplicated, then grouped into an open case or a new one,
cases/grouping.py), its refused rows (quarantine), its new cases' places in the launch queue,
its audit events, and the import's last committed line. So a crash leaves the store as if the
file had been imported up to the last committed batch, and running the same import again goes
on from there. A finished import of the same file under the same mapping is not taken in again
unless asked (`again`), and even then the (channel, reference) uniqueness keeps every signal
once.

Only one process imports a file at a time: the import run names its owner (host:pid) and beats
at each batch; another process waits for it to finish, or takes over once the owner is gone.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cases import audit, failpoints, names
from cases.commits import current_vocabulary
from cases.db import Database
from cases.errors import InvalidInput
from cases.feeds import Mapping, Row, read_rows
from cases.grouping import (
    TEXTS_KEPT_PER_CASE,
    Candidate,
    GroupIndex,
    Placement,
    product_text,
    report_words,
)
from cases.import_runs import (
    Counts,
    ImportBusy,
    check_file,
    claim_run,
    finish,
    run_lock,
    stop,
    this_process,
)
from cases.intake import new_case, new_case_id
from cases.models import Case, Signal, utcnow
from cases.models_intake import ImportRun, IntakeQueue, QuarantinedRow
from cases.records import Inserted
from cases.signals import SignalIn, enterprise_key, product_key
from cases.submissions import signal_values
from rules.domain import Lang

BATCH_ROWS = 1000
CANDIDATES_KEPT = 2_000  # open cases the import remembers between batches (memory stays flat)


class StoppedImport(InvalidInput):
    """The file became unreadable part-way: the batches before stay taken in."""

    def __init__(self, message: str, *, import_id: str, new_case_ids: tuple[str, ...]):
        super().__init__(message)
        self.import_id, self.new_case_ids = import_id, new_case_ids


@dataclass(frozen=True)
class ImportResult:
    import_id: str
    status: str  # done | already (this file under this mapping was imported before)
    counts: Counts
    path: str
    channel: str
    resumed_from: int = 0  # records committed before this run, when it resumed
    new_case_ids: tuple[str, ...] = ()


@dataclass
class _Keys:
    product: str
    enterprise: str


@dataclass
class _Batch:
    """What one batch stores, built before anything is written."""

    signals: list[dict[str, Any]] = field(default_factory=list)  # Signal columns
    cases: list[Case] = field(default_factory=list)
    events: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)


class Importer:
    """One import run over one file (see the module docstring)."""

    def __init__(self, db: Database, mapping: Mapping, run: ImportRun, *, actor: str,
                 lang: Lang, hold: bool) -> None:
        self.db, self.mapping, self.run = db, mapping, run
        self.actor, self.lang, self.hold = actor, lang, hold
        self.index = GroupIndex()
        self.remembered: OrderedDict[str, Candidate] = OrderedDict()
        self.new_case_ids: list[str] = []
        self._stored_references: set[tuple[str, str]] = set()

    # -- the batch -----------------------------------------------------------------------------

    def commit(self, rows: list[Row], last_record: int) -> Counts:
        """Store one batch; once more if a signal of it was taken in by someone else (a
        `case open`) between the batch's look and its insert."""
        try:
            batch = self._commit(rows, last_record)
        except IntegrityError as exc:
            if "signal" not in str(exc.orig).lower():
                raise
            self._forget_all()
            batch = self._commit(rows, last_record)
        failpoints.hit("intake.batch_committed")
        self.new_case_ids += [c.id for c in batch.cases]
        self._trim()
        return batch.counts

    def _commit(self, rows: list[Row], last_record: int) -> _Batch:
        with self.db.session() as session:
            self.db.lock_key(session, run_lock(self.run.file_sha256, self.run.mapping_sha256))
            # Imports take turns batch by batch (PostgreSQL; SQLite's writer lock already
            # does): the duplicate check and the insert then see the same store.
            self.db.lock_key(session, "riskgate:import-batch")
            run = session.get(ImportRun, self.run.id)
            if run is None or run.owner != this_process():
                raise ImportBusy(f"import {self.run.id} was taken over by "
                                 f"{run.owner if run else 'nobody'}; this process stops")
            rows = self._screen(session, rows)
            batch = self._build(session, rows)
            session.add_all(batch.cases)
            session.flush()
            self._insert_signals(session, batch.signals)
            # in the order the cases were opened (a microsecond apart), for the launch queue
            session.add_all(IntakeQueue(case_id=c.id, import_id=run.id, held=self.hold,
                                        queued_at=c.created_at + timedelta(microseconds=n))
                            for n, c in enumerate(batch.cases))
            self._quarantine(session, rows, last_record - len(rows), batch.counts)
            self._resolve_corrected(session, batch.signals)
            audit.append_many(self.db, session, self._events(batch))
            total = Counts(**run.counts)
            total.add(batch.counts)
            run.counts, run.beat_at = total.to_dict(), utcnow()
            run.last_record, run.last_line = last_record, rows[-1].line
            session.add(run)
        return batch

    def _build(self, session: Session, rows: list[Row]) -> _Batch:
        batch = _Batch()
        batch.counts.read = len(rows)
        fresh = self._fresh(session, [r for r in rows if r.signal is not None], batch.counts)
        keys = self._keys(session, [s for _, s in fresh])
        self._lock_and_load(session, keys.values())
        now = utcnow()
        taken = self._ids_in_use(session)
        vocabulary = current_vocabulary(self.db, session)
        for row, signal in fresh:
            key = keys[id(signal)]
            placement = self.index.place(signal, key.product, key.enterprise,
                                         near_duplicates=self.mapping.near_duplicates)
            case_id = placement.case_id or self._open(session, batch, signal, key, now, taken)
            stored = signal_values(case_id, signal, vocabulary, grouping=placement.grouping(),
                                   import_id=self.run.id, line=row.line)
            batch.signals.append(stored)
            action = "case.opened" if placement.case_id is None else "signal.grouped"
            batch.events.setdefault((case_id, action), []).append(stored)
            self._count(batch.counts, placement)
            if placement.case_id is not None:
                self.index.joined(placement.case_id, signal)
                if placement.case_id in self.remembered:
                    self.remembered.move_to_end(placement.case_id)
        self._grow_hazards(session, batch)
        return batch

    @staticmethod
    def _insert_signals(session: Session, signals: list[dict[str, Any]]) -> None:
        """One insert for the batch's signals (not an ORM object each: a fifth of an
        import's time); each gets its id, in order."""
        if not signals:
            return
        ids = session.scalars(insert(Signal).returning(col(Signal.id),
                                                       sort_by_parameter_order=True),
                              signals).all()
        for values, signal_id in zip(signals, ids, strict=True):
            values["id"] = signal_id

    @staticmethod
    def _ids_in_use(session: Session) -> set[str]:
        """Today's case ids (ids carry the day): a new one is drawn until it is free."""
        prefix = new_case_id()[:len("RG-YYYYMMDD-")]
        return set(session.exec(select(Case.id).where(
            col(Case.id).startswith(prefix, autoescape=True))).all())

    def _grow_hazards(self, session: Session, batch: _Batch) -> None:
        """A case's hazards are its signals' (as when one signal joins, cases/intake.py):
        those of the batch's signals added to each case's stored ones."""
        added: dict[str, list[str]] = {}
        for (case_id, _action), signals in batch.events.items():
            found = added.setdefault(case_id, [])
            found += [h for s in signals for h in s["payload"]["hazards"] if h not in found]
        cases = {c.id: c for c in batch.cases}
        stored = [i for i in added if i not in cases]
        for start in range(0, len(stored), 500):
            cases.update({c.id: c for c in session.exec(select(Case).where(
                col(Case.id).in_(stored[start:start + 500])))})
        for case_id, hazards in added.items():
            case = cases[case_id]
            grown = list(dict.fromkeys([*case.hazards, *hazards]))
            if grown != case.hazards:
                case.hazards = grown
                case.updated_at = utcnow()
                session.add(case)

    @staticmethod
    def _count(counts: Counts, placement: Placement) -> None:
        counts.accepted += 1
        if placement.how == "near_duplicate":
            counts.duplicates += 1
        elif placement.case_id is not None:
            counts.grouped += 1

    def _screen(self, session: Session, rows: list[Row]) -> list[Row]:
        """The batch's rows, a reference taken in before coming again with other content
        refused (an update is not applied silently, nor dropped: it is quarantined with what
        was wrong). Remembers which references the store holds, for `_fresh`."""
        references = {r.signal.reference for r in rows if r.signal is not None}
        stored: dict[tuple[str, str], Any] = {
            (channel, reference): payload for channel, reference, payload in session.exec(
                select(Signal.channel, Signal.reference, Signal.payload).where(
                    col(Signal.reference).in_(references))).all()} if references else {}
        self._stored_references = set(stored)
        screened = []
        for row in rows:
            signal = row.signal
            if signal is not None:
                key = (signal.channel, signal.reference)
                content = signal.model_dump(mode="json")
                if key not in stored:
                    stored[key] = content
                elif stored[key] != content:
                    row = dataclasses.replace(row, signal=None, problems=(
                        f"reference {signal.reference} was taken in before with other "
                        "content: an update is not applied by an import (add it to its case "
                        "as information, or give it a reference of its own)",))
            screened.append(row)
        return screened

    def _fresh(self, session: Session, rows: list[Row],
               counts: Counts) -> list[tuple[Row, SignalIn]]:
        """The batch's signals not taken in before (same channel and reference)."""
        known = set(self._stored_references)
        fresh = []
        for row in rows:
            signal = row.signal
            assert signal is not None
            if (signal.channel, signal.reference) in known:
                counts.duplicates += 1
                continue
            known.add((signal.channel, signal.reference))
            fresh.append((row, signal))
        return fresh

    def _keys(self, session: Session, signals: list[SignalIn]) -> dict[int, _Keys]:
        """Each signal's product and enterprise keys, with the credit code earlier signals
        gave for its enterprise's name where it gives none (as cases/intake.py does)."""
        unnamed = {names.name_key(s.enterprise.name) for s in signals
                   if s.enterprise.name and not names.code_key(s.enterprise.credit_code)}
        unnamed.discard("")
        known: dict[str, str] = {}
        for signal in signals:  # codes given earlier in this batch
            name = names.name_key(signal.enterprise.name)
            code = names.code_key(signal.enterprise.credit_code)
            if name and code:
                known.setdefault(name, code)
        if unnamed:
            for name, code in session.exec(select(Signal.enterprise_name,
                                                  Signal.enterprise_code).where(
                    col(Signal.enterprise_name).in_(unnamed), Signal.enterprise_code != "")
                    .order_by(col(Signal.id).desc())).all():
                known[name] = code
        keys = {}
        for signal in signals:
            code = "" if names.code_key(signal.enterprise.credit_code) else \
                known.get(names.name_key(signal.enterprise.name), "")
            keys[id(signal)] = _Keys(product_key(signal, code), enterprise_key(signal, code))
        return keys

    def _lock_and_load(self, session: Session, keys: Any) -> None:
        """Serialise grouping on these products and enterprises with other writers
        (PostgreSQL), then remember the open cases they could join."""
        products = sorted({k.product for k in keys})
        enterprises = sorted({k.enterprise for k in keys if k.enterprise})
        for key in products:
            self.db.lock_key(session, f"riskgate:product:{key}")
        wanted_products = [k for k in products if k not in self.index.by_product]
        wanted_enterprises = [k for k in enterprises if k not in self.index.by_enterprise]
        for start in range(0, max(len(wanted_products), len(wanted_enterprises)), 500):
            found = session.exec(select(Case).where(
                Case.state != "closed",
                col(Case.product_key).in_(wanted_products[start:start + 500])
                | col(Case.enterprise_key).in_(wanted_enterprises[start:start + 500]))).all()
            loaded = []
            for case in found:
                if case.id not in self.remembered:
                    name, model = _product_parts(case.product_key)
                    loaded.append(Candidate(case.id, case.category, set(case.hazards),
                                            case.product_key, case.enterprise_key,
                                            product_text(name, model)))
                    self._remember(loaded[-1])
            if self.mapping.near_duplicates:
                self._load_texts(session, loaded)

    def _load_texts(self, session: Session, candidates: list[Candidate]) -> None:
        """The report texts already on cases taken from the store, for near-duplicates."""
        by_id = {c.case_id: c for c in candidates}
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            for case_id, channel, payload in session.exec(
                    select(Signal.case_id, Signal.channel, Signal.payload).where(
                        col(Signal.case_id).in_(ids[start:start + 500]))).all():
                texts = by_id[case_id].texts.setdefault(channel, [])
                if len(texts) < TEXTS_KEPT_PER_CASE:
                    texts.append(report_words(payload.get("title", ""),
                                              payload.get("description", "")))

    def _remember(self, candidate: Candidate) -> None:
        self.remembered[candidate.case_id] = candidate
        self.index.add(candidate)

    def _trim(self) -> None:
        """Forget the least recently used cases beyond the bound, between batches (never
        during one: a batch's candidates stay until its rows are placed)."""
        while len(self.remembered) > CANDIDATES_KEPT:
            _, old = self.remembered.popitem(last=False)
            self.index.forget(old)

    def _forget_all(self) -> None:
        """After a batch rolled back: what the index learnt from it was never stored."""
        self.remembered.clear()
        self.index = GroupIndex()

    def _open(self, session: Session, batch: _Batch, signal: SignalIn, key: _Keys,
              now: Any, taken: set[str]) -> str:
        case_id = new_case_id()
        while case_id in taken:
            case_id = new_case_id()
        taken.add(case_id)
        case = new_case(case_id, signal, key.product, key.enterprise, actor=self.actor,
                        lang=self.lang, now=now)
        batch.cases.append(case)
        self._remember(Candidate(case_id, case.category, set(case.hazards), key.product,
                                 key.enterprise,
                                 product_text(signal.product.name, signal.product.model)))
        self.index.note_text(case_id, signal)
        batch.counts.new_cases += 1
        return case_id

    def _quarantine(self, session: Session, rows: list[Row], before: int,
                    counts: Counts) -> None:
        """The batch's refused rows; `before` is the number of records before the batch."""
        bad = [(before + n, r) for n, r in enumerate(rows, start=1) if r.signal is None]
        counts.rejected = len(bad)
        session.add_all(QuarantinedRow(import_id=self.run.id, record=number, line=r.line,
                                       channel=self.mapping.channel, reference=r.reference,
                                       raw=r.raw, problems=list(r.problems),
                                       created_at=utcnow()) for number, r in bad)

    def _resolve_corrected(self, session: Session, stored: list[dict[str, Any]]) -> None:
        """Rows quarantined by an earlier import and now taken in, corrected (matched on the
        channel and reference; a row refused under a mapping of many channels has none)."""
        by_channel: dict[str, list[str]] = {}
        for signal in stored:
            by_channel.setdefault(signal["channel"], []).append(signal["reference"])
        for channel, references in by_channel.items():
            for start in range(0, len(references), 500):
                session.execute(update(QuarantinedRow).where(
                    col(QuarantinedRow.status) == "open",
                    col(QuarantinedRow.channel).in_([channel, ""]),
                    col(QuarantinedRow.reference).in_(references[start:start + 500]),
                    col(QuarantinedRow.import_id) != self.run.id)
                    .values(status="resolved", resolved_by=self.run.id))

    def _events(self, batch: _Batch) -> Iterator[audit.Pending]:
        for (case_id, action), signals in batch.events.items():
            yield audit.Pending(
                actor=self.actor, action=action, case_id=case_id,
                rows=tuple(Inserted("signal", s) for s in signals),
                detail={"import": self.run.id, "channel": self.mapping.channel,
                        "lines": [s["line"] for s in signals][:50], "signals": len(signals),
                        "references": [s["reference"] for s in signals][:50]})


def _product_parts(key: str) -> tuple[str, str]:
    _, _, rest = key.partition("|")
    name, _, model = rest.partition("|")
    return name, model


def import_file(db: Database, path: Path, mapping: Mapping, *, actor: str, lang: Lang = "zh",
                hold: bool = False, again: bool = False,
                on_batch: Callable[[int, Counts], None] | None = None) -> ImportResult:
    """Import one file (see the module docstring); `on_batch(last_line, counts)` reports
    progress after each committed batch."""
    checked = check_file(path, mapping.spec.encoding)
    fmt = mapping.format or path.suffix.lstrip(".").lower()
    rows = read_rows(path, mapping)
    first = next(rows, None)  # a header the mapping cannot read is refused before anything
    if first is None:         # is stored, as is a file with no record at all
        raise InvalidInput(f"{path}: no records to import")
    run, finished = claim_run(db, path, checked, mapping, fmt, actor=actor, again=again)
    if finished:
        return ImportResult(run.id, "already", Counts(**run.counts), run.path, run.channel)
    resumed_from = run.last_record
    importer = Importer(db, mapping, run, actor=actor, lang=lang, hold=hold)
    counts = Counts(**run.counts)
    batch: list[Row] = []
    record = 0
    try:
        for record, row in enumerate(itertools.chain([first], rows), start=1):
            if record <= resumed_from:
                continue
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                checked.refuse_if_changed(path)
                counts.add(importer.commit(batch, record))
                batch = []
                if on_batch:
                    on_batch(counts.read, counts)
        checked.refuse_if_changed(path)
    except InvalidInput as exc:
        # The file itself is unusable from here on (a JSON array broken half-way, the file
        # overwritten meanwhile): what was committed stays, and its cases are triaged like
        # any other's (`riskgate intake import` triages every untriaged case); the run says
        # where it stopped, and running the same file again resumes there.
        stop(db, run.id, str(exc))
        raise StoppedImport(f"{exc} — the import {run.id} stopped after record "
                            f"{record - len(batch)}; what came before is taken in",
                            import_id=run.id, new_case_ids=tuple(importer.new_case_ids)) \
            from None
    if batch:
        counts.add(importer.commit(batch, record))
        if on_batch:
            on_batch(counts.read, counts)
    done = finish(db, run.id)
    return ImportResult(done.id, "done", Counts(**done.counts), done.path, done.channel,
                        resumed_from, tuple(importer.new_case_ids))
