"""Intake: a validated signal becomes a new case or joins an open case on the same product.

De-duplication is by (channel, reference): the same report taken in twice is refused, naming
the case that already holds it. Grouping: a signal on the same product (same enterprise or brand,
same name and model) with an overlapping hazard joins the open case instead of opening another;
the case remembers every signal behind it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from cases import audit
from cases.db import Database
from cases.errors import InvalidInput
from cases.models import Case, Signal, utcnow
from cases.signals import SignalIn, enterprise_key, product_key

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: ids are read aloud and typed


@dataclass(frozen=True)
class Opened:
    case_id: str
    signal_id: int
    grouped: bool  # True: the signal joined an existing open case


def new_case_id() -> str:
    day = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(5))
    return f"RG-{day}-{suffix}"


def _groupable(signal: SignalIn) -> bool:
    """Grouping needs a named product and someone responsible; otherwise unrelated unknowns
    would collapse into one case."""
    who = signal.enterprise.credit_code or signal.enterprise.name or signal.product.brand
    return bool(signal.product.name and who)


def _signal_row(case_id: str, signal: SignalIn) -> Signal:
    return Signal(case_id=case_id, channel=signal.channel, reference=signal.reference,
                  received_at=signal.received_at, payload=signal.model_dump(mode="json"),
                  imported_at=utcnow())


def open_case(db: Database, signal: SignalIn, *, actor: str, lang: str) -> Opened:
    """Take in one signal; nothing is stored if it is refused."""
    try:
        with db.session() as session:
            existing = session.exec(select(Signal).where(
                Signal.channel == signal.channel, Signal.reference == signal.reference)).first()
            if existing is not None:
                raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already "
                                   f"taken in (case {existing.case_id})")
            key = product_key(signal)
            if _groupable(signal):
                candidates = session.exec(
                    select(Case).where(Case.product_key == key, Case.state != "closed")
                    .order_by(Case.created_at)).all()
                for case in candidates:
                    if not case.hazards or not signal.hazards \
                            or set(case.hazards) & set(signal.hazards):
                        return _group_into(db, session, case, signal, actor)
            now = utcnow()
            case = Case(id=new_case_id(), title=signal.default_title(lang), lang=lang,
                        state="active", gate="intake", category=signal.product.category,
                        hazards=list(signal.hazards), product_key=key,
                        enterprise_key=enterprise_key(signal),
                        province=signal.enterprise.province, measures=[], opened_by=actor,
                        created_at=now, updated_at=now)
            session.add(case)
            session.flush()
            row = _signal_row(case.id, signal)
            session.add(row)
            session.flush()
            audit.append(db, session, actor=actor, action="case.opened", case_id=case.id,
                         detail={"signal": row.id, "channel": signal.channel,
                                 "reference": signal.reference})
            return Opened(case.id, row.id, grouped=False)
    except IntegrityError:
        # Another process took in the same signal between our check and our insert.
        raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already taken in") \
            from None


def _group_into(db: Database, session, case: Case, signal: SignalIn, actor: str) -> Opened:
    row = _signal_row(case.id, signal)
    session.add(row)
    case.hazards = list(dict.fromkeys([*case.hazards, *signal.hazards]))
    case.updated_at = utcnow()
    session.add(case)
    session.flush()
    audit.append(db, session, actor=actor, action="signal.grouped", case_id=case.id,
                 detail={"signal": row.id, "channel": signal.channel,
                         "reference": signal.reference, "gate": case.gate})
    return Opened(case.id, row.id, grouped=True)
