"""The enterprise credit file (企业信用档案): what the centre has recorded about an enterprise.

A file is keyed like a case's enterprise (the unified social credit code where any signal gave
it, else the normalised name, cases/names.py) and holds entries appended by the gates and by
follow-up: each disposal (risk level and measures), each violation, each action completed or
found overdue. Nothing in a file is edited; what triage reads is derived from its entries:

* **violations in 3 years**: cases whose disposal ordered a measure against the enterprise's
  product (recall, delisting, enforcement referral, forced elimination), counted once per case;
* **credit class**: D with two or more such violations, or an enforcement referral or forced
  elimination among them; C with one, or with a follow-up action overdue in those 3 years;
  B for an enterprise on file with neither. (A is never derived: it is the class of an
  enterprise the centre has no record of, which only a signal can claim.)

Triage and disposal take `credit_class` and `violations_3y` from the file when the enterprise
has one; the signals' own claims are kept in the signals and shown beside the file's values as
evidence (cases/facts.py `with_credit_file`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from cases import names
from cases.db import Database
from cases.models import Case, Signal, utcnow
from cases.models_oversight import CreditEntry, EnterpriseFile

VIOLATION_MEASURES = ("recall", "delisting", "enforcement_referral", "forced_elimination")
SEVERE_MEASURES = ("enforcement_referral", "forced_elimination")
YEARS = 3
KINDS = ("disposal", "violation", "action_completed", "action_overdue")


def _window(now: datetime) -> datetime:
    return now - timedelta(days=365 * YEARS + 1)


def _identity(session: Session, case: Case) -> tuple[str, str, str, str]:
    """(file key, display name, name key, credit code) of the case's enterprise."""
    rows = session.exec(select(Signal.payload, Signal.enterprise_code, Signal.enterprise_name)
                        .where(Signal.case_id == case.id).order_by(col(Signal.id))).all()
    display = next((p.get("enterprise", {}).get("name", "") for p, _, _ in rows
                    if p.get("enterprise", {}).get("name")), "")
    code = next((c for _, c, _ in rows if c), "")
    name_key = next((n for _, _, n in rows if n), "")
    if case.enterprise_key.startswith("code:"):
        code = code or case.enterprise_key.removeprefix("code:")
    return case.enterprise_key, display, name_key, code


def _find(session: Session, key: str, name_key: str, code: str) -> EnterpriseFile | None:
    conditions: list[Any] = [EnterpriseFile.key == key] if key else []
    if code:
        conditions += [EnterpriseFile.credit_code == code, EnterpriseFile.key == f"code:{code}"]
    if name_key:
        conditions.append(EnterpriseFile.name_key == name_key)
    if not conditions:
        return None
    found = session.exec(select(EnterpriseFile).where(or_(*conditions))).all()
    # the code is the surer identity: a file found by it wins over one found by the name
    return min(found, key=lambda f: (not (code and f.credit_code == code), f.created_at),
               default=None)


def record(session: Session, case: Case, kind: str, at: datetime,
           detail: dict[str, Any]) -> list[Any]:
    """Append an entry to the file of the case's enterprise (created on its first entry), in
    the caller's transaction; returns the rows written, for the audit event. A case without a
    known enterprise has no file."""
    if kind not in KINDS:
        raise ValueError(f"unknown credit entry {kind!r}; expected one of {KINDS}")
    key, display, name_key, code = _identity(session, case)
    if not key:
        return []
    file = _find(session, key, name_key, code)
    if file is None:
        file = EnterpriseFile(key=key, name=display, name_key=name_key, credit_code=code,
                              province=case.province, created_at=at, updated_at=at)
    else:
        file.name, file.credit_code = file.name or display, file.credit_code or code
        file.name_key, file.updated_at = file.name_key or name_key, at
    session.add(file)
    session.flush()
    entry = CreditEntry(enterprise_key=file.key, case_id=case.id, kind=kind, detail=detail,
                        at=at)
    session.add(entry)
    session.flush()
    return [file, entry]


def disposal_entries(session: Session, case: Case, at: datetime, risk_level: str | None,
                     measures: list[str]) -> list[Any]:
    """A disposal's entries: the disposal itself, and a violation if it ordered a measure
    against the enterprise's product."""
    rows = record(session, case, "disposal", at, {"risk_level": risk_level,
                                                   "measures": list(measures)})
    against = [m for m in measures if m in VIOLATION_MEASURES]
    if against and rows:
        rows += record(session, case, "violation", at, {"measures": against,
                                                         "risk_level": risk_level})
    return rows


@dataclass(frozen=True)
class CreditFile:
    """An enterprise's file as triage and the console read it."""

    key: str
    name: str
    credit_code: str
    province: str
    credit_class: str
    violations_3y: int
    cases: list[dict[str, Any]] = field(default_factory=list)  # id, title, state, risk level
    measures: dict[str, int] = field(default_factory=dict)  # measure -> cases that took it
    actions_completed: int = 0
    actions_overdue: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)  # newest first

    def facts(self) -> dict[str, Any]:
        return {"credit_class": self.credit_class, "violations_3y": self.violations_3y}


def derive_class(violations: list[dict[str, Any]], overdue_3y: int) -> str:
    """The file's class from its violations and overdue actions of the last 3 years."""
    severe = any(set(v.get("measures", [])) & set(SEVERE_MEASURES) for v in violations)
    if len(violations) >= 2 or severe:
        return "D"
    if violations or overdue_3y:
        return "C"
    return "B"


def _summary(session: Session, file: EnterpriseFile, now: datetime) -> CreditFile:
    entries = session.exec(select(CreditEntry).where(CreditEntry.enterprise_key == file.key)
                           .order_by(col(CreditEntry.at).desc(), col(CreditEntry.id).desc())
                           ).all()
    since = _window(now)
    violations: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.kind == "violation" and entry.at >= since:
            violations.setdefault(entry.case_id, entry.detail)
    overdue_3y = sum(1 for e in entries if e.kind == "action_overdue" and e.at >= since)
    case_ids = list(dict.fromkeys(e.case_id for e in entries))
    cases = session.exec(select(Case).where(col(Case.id).in_(case_ids))).all() \
        if case_ids else []
    measures: Counter[str] = Counter()
    for entry in entries:
        if entry.kind == "disposal":
            measures.update(set(entry.detail.get("measures", [])))
    return CreditFile(
        key=file.key, name=file.name, credit_code=file.credit_code, province=file.province,
        credit_class=derive_class(list(violations.values()), overdue_3y),
        violations_3y=len(violations),
        cases=[{"id": c.id, "title": c.title, "state": c.state, "gate": c.gate,
                "risk_level": c.risk_level, "measures": list(c.measures or []),
                "created_at": c.created_at}
               for c in sorted(cases, key=lambda c: c.created_at, reverse=True)],
        measures=dict(measures),
        actions_completed=sum(1 for e in entries if e.kind == "action_completed"),
        actions_overdue=sum(1 for e in entries if e.kind == "action_overdue"),
        entries=[{"at": e.at, "case_id": e.case_id, "kind": e.kind, "detail": e.detail}
                 for e in entries])


def lookup(db: Database, enterprise_key: str, name_keys: Iterable[str] = (),
           codes: Iterable[str] = (), now: datetime | None = None) -> CreditFile | None:
    """The file of an enterprise known by its case key, names or codes (cases/names.py keys)."""
    code = next((names.code_key(c) for c in codes if names.code_key(c)), "")
    if not code and enterprise_key.startswith("code:"):
        code = enterprise_key.removeprefix("code:")
    name_key = next((n for n in name_keys if n), "")
    with db.read_session() as session:
        file = _find(session, enterprise_key, name_key, code)
        return _summary(session, file, now or utcnow()) if file is not None else None


def get(db: Database, key: str, now: datetime | None = None) -> CreditFile | None:
    with db.read_session() as session:
        file = session.get(EnterpriseFile, key)
        return _summary(session, file, now or utcnow()) if file is not None else None


def listing(db: Database, now: datetime | None = None, limit: int = 500) -> list[CreditFile]:
    """Every file, the most recently changed first."""
    with db.read_session() as session:
        files = session.exec(select(EnterpriseFile).order_by(
            col(EnterpriseFile.updated_at).desc()).limit(limit)).all()
        return [_summary(session, f, now or utcnow()) for f in files]


@dataclass(frozen=True)
class FileKeys:
    """Every key, credit code and name key the credit files hold, read once: a bulk triage
    asks the store only for enterprises that may have a file (most imported ones have none)."""

    keys: frozenset[str]

    @classmethod
    def load(cls, db: Database) -> FileKeys:
        with db.read_session() as session:
            rows = session.exec(select(EnterpriseFile.key, EnterpriseFile.credit_code,
                                       EnterpriseFile.name_key)).all()
        found = {k for key, code, name in rows
                 for k in (key, f"code:{code}" if code else "", name) if k}
        return cls(frozenset(found))

    def may_have(self, enterprise_key: str, name_keys: Iterable[str],
                 codes: Iterable[str]) -> bool:
        wanted = {enterprise_key, *name_keys,
                  *(f"code:{names.code_key(c)}" for c in codes if names.code_key(c))}
        return bool(self.keys & wanted)


def for_case(db: Database, dossier: Any, known: FileKeys | None = None) -> CreditFile | None:
    """The file of a case's enterprise (a cases.store.Dossier), by the case's enterprise key
    and every name and credit code its signals give. `known`: the files' keys, when the
    caller read them once for many cases."""
    signals = dossier.signals
    if known is not None and not known.may_have(
            dossier.case.enterprise_key, [names.name_key(s.enterprise.name) for s in signals],
            [s.enterprise.credit_code for s in signals]):
        return None
    return lookup(db, dossier.case.enterprise_key,
                  name_keys=[names.name_key(s.enterprise.name) for s in signals],
                  codes=[s.enterprise.credit_code for s in signals])
