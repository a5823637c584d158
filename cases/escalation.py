"""The escalation watch: one hazard spreading beyond one product, enterprise or locality.

DESIGN ("Disposal measures"): watch for escalation — one product → its category, one
enterprise → its industry, one locality → the province. Among the cases created within a
window (default 30 days) the watch looks for one hazard across at least `threshold` (default
3) distinct

* products (`product_key`) of one category — kind `category`;
* enterprises (`enterprise_key`) of one industry (rules/domain.yaml `industries`) — `industry`;
* localities (the signals' `enterprise.locality`) of one province, in one category —
  `province`.

Each pattern found opens an escalation case: an ordinary case (it goes through every gate) of
a synthetic `risk_monitoring` signal whose reference is derived from the pattern
(`ESC-<kind>-<digest>`), so two runs can never open it twice (the store's unique signal
reference), linked to the cases behind it (`CaseLink`, kind `escalation`). While it is open,
new cases matching the pattern are linked to it instead; once it is closed, only cases it did
not cover count towards a new one (`ESC-<kind>-<digest>-2`, …). Escalation cases are never
input to the watch. Each opening or linking is one transaction with its audit events.

Pure logic (`find_patterns`, cases/escalation_patterns.py) is separate from the store
(`run_watch`, here), so both are testable without Prefect; flows/escalation_flow.py and
`riskgate intake watch` call `run_watch`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cases import audit, lifecycle, names, outbox
from cases.db import Database
from cases.errors import InvalidInput
from cases.escalation_patterns import (
    CHANNEL,
    KINDS,
    THRESHOLD,
    WHAT_COUNTS,
    Member,
    Pattern,
    escalation_signal,
    group_members,
)
from cases.intake import free_case_id
from cases.models import Case, Signal, utcnow
from cases.models_intake import CaseLink
from cases.signals import SignalIn, stored_signal
from cases.store import vocabulary
from cases.submissions import signal_row
from rules.domain import Lang, domain

ACTOR = "system:escalation-watch"
LINK_KIND = "escalation"
WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 365
MAX_THRESHOLD = 1000
REFERENCE = re.compile(r"^ESC-(?P<kind>category|industry|province)-(?P<digest>[0-9a-f]{12})"
                        r"(?:-(?P<n>\d+))?$")


@dataclass(frozen=True)
class Opened:
    case_id: str
    kind: str
    reference: str
    title: str
    linked: tuple[str, ...]
    owed: outbox.Owed | None = None  # the launch the case is owed (`launch=True`)


@dataclass(frozen=True)
class Linked:
    case_id: str  # the escalation case
    kind: str
    reference: str
    linked: tuple[str, ...]


@dataclass
class WatchResult:
    window_days: int
    threshold: int
    since: datetime
    examined: int = 0  # cases in the window (escalation cases left out)
    opened: list[Opened] = field(default_factory=list)
    linked: list[Linked] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"window_days": self.window_days, "threshold": self.threshold,
                "since": self.since.isoformat(), "examined": self.examined,
                "opened": [{"case_id": o.case_id, "kind": o.kind, "reference": o.reference,
                            "title": o.title, "linked": list(o.linked)} for o in self.opened],
                "linked": [{"case_id": x.case_id, "kind": x.kind, "reference": x.reference,
                            "linked": list(x.linked)} for x in self.linked]}


def check_parameters(window_days: int, threshold: int) -> None:
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise InvalidInput(f"--window-days {window_days}: expected 1 to {MAX_WINDOW_DAYS}")
    if not 2 <= threshold <= MAX_THRESHOLD:
        raise InvalidInput(f"--threshold {threshold}: expected 2 to {MAX_THRESHOLD} (one case "
                           "is not a pattern)")


def _escalation_case_ids(session: Session) -> set[str]:
    return set(session.exec(select(CaseLink.case_id).where(CaseLink.kind == LINK_KIND)
                            .distinct()).all())


def _payload_text(payload: dict, *path: str) -> str:
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def members_since(session: Session, since: datetime) -> list[Member]:
    """The cases created since `since`, escalation cases left out, with what their signals
    say of product, enterprise and locality."""
    excluded = _escalation_case_ids(session)
    cases = [c for c in session.exec(select(Case).where(col(Case.created_at) >= since)
                                     .order_by(col(Case.created_at), col(Case.id))).all()
             if c.id not in excluded]
    return as_members(session, cases)


def as_members(session: Session, cases: list[Case]) -> list[Member]:
    """Cases as the watch sees them: product, enterprise and locality from their signals."""
    payloads: dict[str, list[dict]] = defaultdict(list)
    ids = [c.id for c in cases]
    for start in range(0, len(ids), 500):
        for case_id, payload in session.exec(
                select(Signal.case_id, Signal.payload)
                .where(col(Signal.case_id).in_(ids[start:start + 500]))
                .order_by(col(Signal.id))).all():
            payloads[case_id].append(dict(payload or {}))
    found = []
    for case in cases:
        signals = payloads.get(case.id, [])

        def first(*path: str, among: list[dict] = signals) -> str:
            return next((t for p in among if (t := _payload_text(p, *path).strip())), "")

        product = " ".join(p for p in (first("product", "name"), first("product", "brand"),
                                       first("product", "model")) if p)
        found.append(Member(
            case_id=case.id, title=case.title, category=case.category,
            hazards=tuple(case.hazards or ()), product_key=case.product_key,
            enterprise_key=case.enterprise_key, province=case.province,
            locality=first("enterprise", "locality"), created_at=case.created_at,
            product=product[:200],
            enterprise=first("enterprise", "name") or first("enterprise", "credit_code")))
    return found


@dataclass(frozen=True)
class _Escalation:
    case_id: str
    reference: str
    n: int
    open: bool


def _escalations(session: Session, prefix: str) -> list[_Escalation]:
    """Every escalation case opened for a pattern, by its signal's reference (only cases the
    watch linked count: a reference typed by someone else opens nothing here)."""
    rows = session.exec(select(Signal.case_id, Signal.reference, Case.state)
                        .join(Case, col(Case.id) == Signal.case_id)
                        .where(Signal.channel == CHANNEL,
                               col(Signal.reference).startswith(prefix, autoescape=True))).all()
    linked = _escalation_case_ids(session)
    found = []
    for case_id, reference, state in rows:
        match = REFERENCE.match(reference)
        if match and f"ESC-{match['kind']}-{match['digest']}" == prefix and case_id in linked:
            found.append(_Escalation(case_id, reference, int(match["n"] or 1),
                                     state != lifecycle.CLOSED))
    return sorted(found, key=lambda e: e.n)


def _linked_to(session: Session, case_ids: list[str]) -> dict[str, set[str]]:
    """For each escalation case, the cases already linked to it."""
    found: dict[str, set[str]] = defaultdict(set)
    if case_ids:
        for case_id, linked in session.exec(select(CaseLink.case_id, CaseLink.linked_case_id)
                                            .where(col(CaseLink.case_id).in_(case_ids),
                                                   CaseLink.kind == LINK_KIND)).all():
            found[case_id].add(linked)
    return found


def _why(pattern: Pattern, member: Member, count: int, window_days: int, threshold: int,
         *, later: bool) -> str:
    vocab = domain()
    where = {"category": f"category {pattern.category}",
             "industry": f"industry {pattern.industry}",
             "province": f"category {pattern.category} in province {pattern.province}"}
    counted = {"category": f"product {member.product or member.product_key}",
               "industry": f"enterprise {member.enterprise or member.enterprise_key}",
               "province": f"locality {member.locality}"}
    text = (f"hazard {pattern.hazard} ({vocab.hazards.name(pattern.hazard, 'en')}) in "
            f"{where[pattern.kind]}: {counted[pattern.kind]} is one of {count} distinct "
            f"{WHAT_COUNTS[pattern.kind]} within {window_days} days (threshold {threshold})")
    return text + ("; linked after the escalation case was opened" if later else "")


def _links(session: Session, escalation_id: str, pattern: Pattern, members: list[Member],
           window_days: int, threshold: int, now: datetime, *, later: bool) -> list[CaseLink]:
    count = len(pattern.distinct(members))
    rows = [CaseLink(case_id=escalation_id, linked_case_id=m.case_id, kind=LINK_KIND,
                     detail={"pattern": pattern.to_dict(), "window_days": window_days,
                             "threshold": threshold, "counted": m.counted(pattern.kind),
                             "why": _why(pattern, m, count, window_days, threshold,
                                         later=later)},
                     created_at=now)
            for m in members]
    for row in rows:
        session.add(row)
    session.flush()
    return rows


def _stored_signals(session: Session, case_ids: list[str]) -> list[SignalIn]:
    rows = session.exec(select(Signal).where(col(Signal.case_id).in_(case_ids))
                        .order_by(col(Signal.id))).all()
    return [stored_signal(r.payload, vocabulary(session, r.vocabulary_sha256)) for r in rows]


def _announce(db: Database, session: Session, escalation_id: str, links: list[CaseLink],
              action: str) -> None:
    """Each case behind the escalation hears of it in its own audit trail."""
    for link in links:
        audit.append(db, session, actor=ACTOR, action=action, case_id=link.linked_case_id,
                     detail={"escalation_case": escalation_id, "why": link.detail["why"]})


def _open(db: Database, session: Session, pattern: Pattern, members: list[Member], n: int,
          *, window_days: int, threshold: int, lang: Lang, launch: bool,
          now: datetime) -> Opened:
    reference = pattern.reference(n)
    signal = escalation_signal(pattern, members, _stored_signals(
        session, [m.case_id for m in members]), reference=reference, window_days=window_days,
        threshold=threshold, lang=lang, now=now)
    gate, state = lifecycle.INITIAL
    case = Case(id=free_case_id(session), title=signal.default_title(lang), lang=lang,
                state=state, gate=gate, category=signal.product.category,
                hazards=list(signal.hazards), product_key=names.product_identity(
                    "", "", signal.product.name, ""), enterprise_key="",
                province=signal.enterprise.province, measures=[], opened_by=ACTOR,
                created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    row = signal_row(session, db, case.id, signal)
    row.grouping = {"how": "new_case", "why": f"escalation watch: {pattern.kind} pattern"}
    session.add(row)
    links = _links(session, case.id, pattern, members, window_days, threshold, now,
                   later=False)
    audit.append(db, session, actor=ACTOR, action="case.opened", case_id=case.id,
                 rows=[row, *links], detail={"channel": CHANNEL, "reference": reference,
                                             "escalation": pattern.to_dict(),
                                             "window_days": window_days,
                                             "threshold": threshold,
                                             "linked": [m.case_id for m in members]})
    _announce(db, session, case.id, links, "case.escalated")
    owed = None
    if launch:
        owed = outbox.owe(session, case.id, "launch", "escalation.opened")
        audit.append(db, session, actor=ACTOR, action="case.launched", case_id=case.id,
                     detail={"continuation": owed.key})
    return Opened(case.id, pattern.kind, reference, case.title,
                  tuple(m.case_id for m in members), owed)


def _watch_pattern(db: Database, pattern: Pattern, *, window_days: int, threshold: int,
                   lang: Lang, launch: bool, now: datetime) -> Opened | Linked | None:
    """One pattern, in one transaction: link new cases to its open escalation case, or open
    one when enough cases no earlier escalation covered make the pattern."""
    with db.session() as session:
        db.lock_key(session, f"riskgate:escalation:{pattern.prefix}")
        earlier = _escalations(session, pattern.prefix)
        covered = _linked_to(session, [e.case_id for e in earlier])
        current = next((e for e in earlier if e.open), None)
        seen = set().union(*covered.values()) if covered else set()
        if current is not None:  # cases an earlier (closed) escalation covered stay with it
            new = [m for m in pattern.members if m.case_id not in seen]
            if not new:
                return None
            links = _links(session, current.case_id, pattern, new, window_days, threshold,
                           now, later=True)
            audit.append(db, session, actor=ACTOR, action="escalation.linked",
                         case_id=current.case_id, rows=links,
                         detail={"reference": current.reference,
                                 "linked": [m.case_id for m in new]})
            _announce(db, session, current.case_id, links, "case.escalated")
            return Linked(current.case_id, pattern.kind, current.reference,
                          tuple(m.case_id for m in new))
        fresh = [m for m in pattern.members if m.case_id not in seen]
        if len(pattern.distinct(fresh)) < threshold:
            return None
        n = max((e.n for e in earlier), default=0) + 1
        return _open(db, session, pattern, fresh, n, window_days=window_days,
                     threshold=threshold, lang=lang, launch=launch, now=now)


def _open_prefixes(session: Session) -> set[str]:
    """The patterns (reference prefixes) with an open escalation case."""
    linked = _escalation_case_ids(session)
    rows = session.exec(select(Signal.case_id, Signal.reference)
                        .join(Case, col(Case.id) == Signal.case_id)
                        .where(Signal.channel == CHANNEL, Case.state != lifecycle.CLOSED,
                               col(Signal.reference).startswith("ESC-"))).all()
    found = set()
    for case_id, reference in rows:
        match = REFERENCE.match(reference)
        if match and case_id in linked:
            found.add(f"ESC-{match['kind']}-{match['digest']}")
    return found


def run_watch(db: Database, *, window_days: int = WINDOW_DAYS, threshold: int = THRESHOLD,
              lang: Lang = "zh", launch: bool = False,
              now: datetime | None = None) -> WatchResult:
    """Look across the cases of the window once: open an escalation case for each new pattern
    and link new cases to the open ones. `launch` owes each opened case its first run in the
    same transaction (cases/outbox.py): the flow starts it, the sweeper if that fails."""
    check_parameters(window_days, threshold)
    moment = now or utcnow()
    since = moment - timedelta(days=window_days)
    with db.read_session() as session:
        members = members_since(session, since)
        open_prefixes = _open_prefixes(session)
    result = WatchResult(window_days, threshold, since, examined=len(members))
    for pattern in group_members(members):
        if pattern.prefix not in open_prefixes and len(pattern.distinct()) < threshold:
            continue
        done = _watch_pattern(db, pattern, window_days=window_days, threshold=threshold,
                              lang=lang, launch=launch, now=moment)
        if isinstance(done, Opened):
            result.opened.append(done)
        elif isinstance(done, Linked):
            result.linked.append(done)
    return result


# --------------------------------------------------------------------------------------------
# reading an escalation case back: the disposal fact, the report, the case page


def kind_of(db: Database, case_id: str) -> str:
    """The pattern an escalation case was opened for (the disposal fact `escalation`), or
    "none" for an ordinary case."""
    with db.read_session() as session:
        detail = session.exec(select(CaseLink.detail).where(
            CaseLink.case_id == case_id, CaseLink.kind == LINK_KIND)
            .order_by(col(CaseLink.id)).limit(1)).first()
    kind = (detail or {}).get("pattern", {}).get("kind")
    return kind if kind in KINDS else "none"


def _case_rows(session: Session, links: list[CaseLink], side: str) -> list[dict[str, Any]]:
    """The cases on one side of links (`case_id` or `linked_case_id`), for people."""
    ids = [getattr(link, side) for link in links]
    cases = list(session.exec(select(Case).where(col(Case.id).in_(ids))).all())
    members = {m.case_id: m for m in as_members(session, cases)}
    by_id = {c.id: c for c in cases}
    rows = []
    for link in links:
        case = by_id.get(getattr(link, side))
        if case is None:
            continue
        member = members[case.id]
        rows.append({"id": case.id, "title": case.title, "state": case.state,
                     "gate": case.gate, "product": member.product,
                     "enterprise": member.enterprise, "locality": member.locality,
                     "province": case.province, "created_at": case.created_at,
                     "linked_at": link.created_at, "why": link.detail.get("why", ""),
                     "kind": link.detail.get("pattern", {}).get("kind", "")})
    return rows


@dataclass(frozen=True)
class CaseLinks:
    """A case's links, both ways: the cases behind it (it is an escalation case) and the
    escalation cases it is behind."""

    behind: list[dict[str, Any]]
    escalated_to: list[dict[str, Any]]


def links_of(db: Database, case_id: str) -> CaseLinks:
    with db.read_session() as session:
        out = list(session.exec(select(CaseLink).where(CaseLink.case_id == case_id)
                                .order_by(col(CaseLink.id))).all())
        into = list(session.exec(select(CaseLink).where(CaseLink.linked_case_id == case_id)
                                 .order_by(col(CaseLink.id))).all())
        return CaseLinks(_case_rows(session, out, "linked_case_id"),
                         _case_rows(session, into, "case_id"))


def report_of(db: Database, case_id: str) -> dict[str, Any] | None:
    """What the escalation case's intake report shows: the pattern, the window, the threshold
    and each case behind it; None for an ordinary case."""
    with db.read_session() as session:
        links = list(session.exec(select(CaseLink).where(
            CaseLink.case_id == case_id, CaseLink.kind == LINK_KIND)
            .order_by(col(CaseLink.id))).all())
        if not links:
            return None
        first = links[0].detail
        return {**first.get("pattern", {}), "window_days": first.get("window_days"),
                "threshold": first.get("threshold"),
                "count": len({link.detail.get("counted") for link in links}),
                "cases": _case_rows(session, links, "linked_case_id")}
