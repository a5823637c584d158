"""Intake: a validated signal becomes a new case or joins an open case on the same product.

De-duplication is by (channel, reference): the same report taken in twice is refused, naming
the case that already holds it. Grouping: a signal on the same product (same enterprise — by
credit code where any signal gave it — or brand, same name and model, cases/names.py) with an
overlapping hazard joins the open case instead of opening another; the case remembers every
signal behind it. Signals on one product are grouped one at a time (a named lock), so
simultaneous signals on PostgreSQL join one case exactly as on SQLite.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cases import audit, lifecycle, names
from cases.db import Database
from cases.errors import InvalidInput
from cases.grouping import groupable
from cases.models import Case, Signal, utcnow
from cases.signals import SignalIn, enterprise_key, product_key
from cases.submissions import signal_row
from rules.domain import Lang

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: ids are read aloud and typed
ID_LENGTH = 8  # 40 random bits a day: about 4 in a million that any two of 3,000 cases collide,
# and a colliding id is drawn again (`free_case_id`), so ids never collide.
ID_ATTEMPTS = 20


@dataclass(frozen=True)
class Opened:
    case_id: str
    signal_id: int
    grouped: bool  # True: the signal joined an existing open case


def new_case_id() -> str:
    day = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))
    return f"RG-{day}-{suffix}"


def free_case_id(session: Session) -> str:
    for _ in range(ID_ATTEMPTS):
        candidate = new_case_id()
        if session.get(Case, candidate) is None:
            return candidate
    raise RuntimeError(f"no free case id in {ID_ATTEMPTS} draws: the id generator is broken")


def new_case(case_id: str, signal: SignalIn, product: str, enterprise: str, *, actor: str,
             lang: Lang, now: datetime) -> Case:
    """The case a signal opens, at the lifecycle's first gate (one signal or an import's)."""
    gate, state = lifecycle.INITIAL
    return Case(id=case_id, title=signal.default_title(lang), lang=lang, state=state, gate=gate,
                category=signal.product.category, hazards=list(signal.hazards),
                product_key=product, enterprise_key=enterprise,
                province=signal.enterprise.province, measures=[], opened_by=actor,
                created_at=now, updated_at=now)


def known_code(session: Session, signal: SignalIn) -> str:
    """The credit code earlier signals gave for this signal's enterprise name, if it gives
    none itself."""
    if names.code_key(signal.enterprise.credit_code) or not signal.enterprise.name:
        return ""
    key = names.name_key(signal.enterprise.name)
    if not key:
        return ""
    found = session.exec(select(Signal.enterprise_code).where(
        Signal.enterprise_name == key, Signal.enterprise_code != "")
        .order_by(col(Signal.id)).limit(1)).first()
    return found or ""


def open_case(db: Database, signal: SignalIn, *, actor: str, lang: Lang) -> Opened:
    """Take in one signal; nothing is stored if it is refused."""
    try:
        with db.session() as session:
            existing = session.exec(select(Signal).where(
                Signal.channel == signal.channel, Signal.reference == signal.reference)).first()
            if existing is not None:
                raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already "
                                   f"taken in (case {existing.case_id})", code="duplicate",
                                   reference=signal.reference, case_id=existing.case_id)
            name = names.name_key(signal.enterprise.name)
            if name:  # the name's known credit code is read under the name's lock, so a
                # signal naming the code and one naming only the name, taken in at once,
                # still find each other
                db.lock_key(session, f"riskgate:enterprise:{name}")
            code = known_code(session, signal)
            key = product_key(signal, code)
            if groupable(signal):
                db.lock_key(session, f"riskgate:product:{key}")
                candidates = session.exec(
                    select(Case).where(Case.product_key == key, Case.state != "closed")
                    .order_by(col(Case.created_at))).all()
                for case in candidates:
                    if not case.hazards or not signal.hazards \
                            or set(case.hazards) & set(signal.hazards):
                        return _group_into(db, session, case, signal, actor)
            case = new_case(free_case_id(session), signal, key, enterprise_key(signal, code),
                            actor=actor, lang=lang, now=utcnow())
            session.add(case)
            session.flush()
            row = signal_row(session, db, case.id, signal, grouping={
                "how": "new_case", "why": "no open case on this product"})
            session.add(row)
            session.flush()
            assert row.id is not None
            audit.append(db, session, actor=actor, action="case.opened", case_id=case.id,
                         rows=[row], detail={"channel": signal.channel,
                                             "reference": signal.reference})
            return Opened(case.id, row.id, grouped=False)
    except IntegrityError as exc:
        # Another process took in the same signal between our check and our insert.
        if "uq_signal_source" in str(exc.orig) or "signal.channel" in str(exc.orig):
            raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already taken "
                               "in") from None
        raise


def _group_into(db: Database, session: Session, case: Case, signal: SignalIn,
                actor: str) -> Opened:
    row = signal_row(session, db, case.id, signal, grouping={
        "how": "same_product", "why": "same product and enterprise, overlapping hazard"})
    session.add(row)
    case.hazards = list(dict.fromkeys([*case.hazards, *signal.hazards]))
    case.updated_at = utcnow()
    session.add(case)
    session.flush()
    assert row.id is not None
    audit.append(db, session, actor=actor, action="signal.grouped", case_id=case.id,
                 rows=[row], detail={"channel": signal.channel, "reference": signal.reference,
                                     "gate": case.gate})
    return Opened(case.id, row.id, grouped=True)
