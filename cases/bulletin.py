"""The semi-monthly bulletin (半月报): what happened to the centre's cases in a period.

Plain reads and arithmetic (no Prefect, no rendering; `reports/bulletin.py` writes the .docx,
flows/bulletin_flow.py schedules it). Days are Beijing days (Asia/Shanghai), both ends
included, like the catalogue's.

Everything is as of the end of the period, read from the gate records rather than from the
case's current fields, so that the bulletin of a past fortnight computed again later holds the
same data (the same data hash) however the cases moved on since:

* cases opened (created) and cases closed in the period, each broken down by the channel of
  the signal that opened the case, the product category, the risk level the panel had assessed
  by the end of the period (or "not assessed") and the disposal measures decided by then (a
  case counts once for each of its measures);
* new serious risks: cases whose panel assessment, completed in the period, found a serious
  risk, with the measures decided by the end of the period (or those the panel recommended);
* escalation warnings: escalation cases the watch opened in the period (cases/escalation.py),
  with their pattern and the cases linked to them by the end of the period;
* overdue follow-up: actions due before the end of the period and not completed (or withdrawn)
  by then, with the days they were overdue at the end of the period.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cases import catalogue
from cases.catalogue import Period
from cases.db import Database
from cases.escalation import LINK_KIND
from cases.models import Case, GateRecord, Signal
from cases.models_intake import CaseLink
from cases.models_oversight import FollowUpAction
from rules.risk_matrix import LEVELS

SCHEMA = "bulletin/1"  # bump when what is read or counted changes: it is in the data hash
MAX_DAYS = 366
UNASSESSED = "unassessed"
LEVEL_ORDER = (*reversed(LEVELS), UNASSESSED)  # serious … low, then not assessed
HALF = 15  # the first half of a month is days 1 to 15
CHUNK = 500  # ids per IN (…) query


def parse_period(first: str, last: str) -> Period:
    """The period of `--from` and `--to`, read as the catalogue reads it, at most MAX_DAYS."""
    return catalogue.parse_period(first, last, what="bulletin", max_days=MAX_DAYS)


def half_month_before(day: date) -> Period:
    """The last whole half-month before `day`: run on the 16th (or later in the month), the
    1st to the 15th; run on the 1st (or before the 16th), the 16th to the end of the month
    before."""
    if day.day > HALF:
        return Period(day.replace(day=1), day.replace(day=HALF))
    last = day.replace(day=1) - timedelta(days=1)
    return Period(last.replace(day=HALF + 1), last)


# ── What the bulletin holds ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Breakdown:
    """Cases counted by channel, category, risk level and measure (codes; most cases first,
    then by code; every risk level listed, zeros included)."""

    cases: int
    channels: dict[str, int]
    categories: dict[str, int]
    levels: dict[str, int]
    measures: dict[str, int]
    case_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "by_channel": self.channels,
                "by_category": self.categories, "by_level": self.levels,
                "by_measure": self.measures, "case_ids": list(self.case_ids)}


@dataclass(frozen=True)
class SeriousRisk:
    id: str
    title: str
    category: str
    hazards: tuple[str, ...]
    assessed_at: datetime
    severity: int | None
    band_label: str | None
    measures: tuple[str, ...]  # decided by the end of the period
    panel_measures: tuple[str, ...]  # what the panel recommended

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "category": self.category,
                "hazards": list(self.hazards), "assessed_at": _iso(self.assessed_at),
                "severity": self.severity, "band_label": self.band_label,
                "measures": list(self.measures), "panel_measures": list(self.panel_measures)}


@dataclass(frozen=True)
class EscalationWarning:
    id: str
    title: str
    opened_at: datetime
    kind: str  # category | industry | province (cases/escalation_patterns.py)
    hazard: str
    category: str
    industry: str
    province: str
    linked: tuple[str, ...]  # the cases behind it, linked by the end of the period

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "opened_at": _iso(self.opened_at),
                "kind": self.kind, "hazard": self.hazard, "category": self.category,
                "industry": self.industry, "province": self.province,
                "linked": list(self.linked)}


@dataclass(frozen=True)
class OverdueAction:
    case_id: str
    title: str
    number: int
    measure: str
    due_on: date
    days_overdue: int  # at the end of the period

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "title": self.title, "number": self.number,
                "measure": self.measure, "due_on": self.due_on.isoformat(),
                "days_overdue": self.days_overdue}


@dataclass(frozen=True)
class Bulletin:
    period: Period
    opened: Breakdown
    closed: Breakdown
    serious: tuple[SeriousRisk, ...]
    escalations: tuple[EscalationWarning, ...]
    overdue: tuple[OverdueAction, ...]
    data_hash: str = field(default="")

    @property
    def identity(self) -> str:
        return f"BULLETIN-{self.period.label}"

    def content(self) -> dict[str, Any]:
        """What the data hash covers (and what `--json` prints)."""
        return {"schema": SCHEMA, "period": self.period.to_dict(),
                "opened": self.opened.to_dict(), "closed": self.closed.to_dict(),
                "serious": [s.to_dict() for s in self.serious],
                "escalations": [e.to_dict() for e in self.escalations],
                "overdue": [o.to_dict() for o in self.overdue]}


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 of canonical JSON (sorted keys, no spaces): the same data, the same hash."""
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# ── Pure counting ────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class CaseAtEnd:
    """A case as it stood at the end of the period."""

    id: str
    channel: str
    category: str
    level: str  # LEVEL_ORDER
    measures: tuple[str, ...]


def _ordered(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def breakdown(cases: Sequence[CaseAtEnd]) -> Breakdown:
    levels = Counter(c.level for c in cases)
    return Breakdown(
        cases=len(cases),
        channels=_ordered(Counter(c.channel for c in cases)),
        categories=_ordered(Counter(c.category for c in cases)),
        levels={level: levels[level] for level in LEVEL_ORDER},
        measures=_ordered(Counter(m for c in cases for m in dict.fromkeys(c.measures))),
        case_ids=tuple(sorted(c.id for c in cases)))


# ── Reading the store ────────────────────────────────────────────────────────────────────────


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def _first_channels(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """The channel of each case's first signal (the one that opened it)."""
    found: dict[str, str] = {}
    for part in _chunks(ids):
        for case_id, channel in session.exec(
                select(Signal.case_id, Signal.channel).where(col(Signal.case_id).in_(part))
                .order_by(col(Signal.id))).all():
            found.setdefault(case_id, channel)
    return found


def _records_before(session: Session, ids: Sequence[str], gate: str,
                    end: datetime) -> dict[str, GateRecord]:
    """Each case's latest record of `gate` completed before `end`."""
    found: dict[str, GateRecord] = {}
    for part in _chunks(ids):
        for record in session.exec(
                select(GateRecord).where(col(GateRecord.case_id).in_(part),
                                         GateRecord.gate == gate,
                                         col(GateRecord.completed_at) < end)
                .order_by(col(GateRecord.round), col(GateRecord.id))).all():
            found[record.case_id] = record
    return found


def decided_measures(record: GateRecord | None) -> tuple[str, ...]:
    """The measures a disposal record holds, in rank order."""
    if record is None:
        return ()
    return tuple(m["code"] for m in (record.outcome or {}).get("measures") or ()
                 if isinstance(m, dict) and "code" in m)


def _assessed_level(record: GateRecord | None) -> str:
    level = (record.outcome or {}).get("risk_level") if record is not None else None
    return level if level in LEVELS else UNASSESSED


def _at_end(session: Session, cases: Sequence[Case], end: datetime) -> list[CaseAtEnd]:
    ids = [c.id for c in cases]
    channels = _first_channels(session, ids)
    assessed = _records_before(session, ids, "assessment", end)
    disposed = _records_before(session, ids, "disposal", end)
    return [CaseAtEnd(c.id, channels.get(c.id, ""), c.category,
                      _assessed_level(assessed.get(c.id)),
                      decided_measures(disposed.get(c.id))) for c in cases]


def _serious(session: Session, start: datetime, end: datetime) -> list[SeriousRisk]:
    rows = session.exec(select(GateRecord, Case).join(Case, col(Case.id) == GateRecord.case_id)
                        .where(GateRecord.gate == "assessment",
                               col(GateRecord.completed_at) >= start,
                               col(GateRecord.completed_at) < end)
                        .order_by(col(GateRecord.completed_at), col(Case.id))).all()
    serious = [(record, case) for record, case in rows
               if (record.outcome or {}).get("risk_level") == "serious"]
    disposed = _records_before(session, [c.id for _, c in serious], "disposal", end)
    found = []
    for record, case in serious:
        outcome = record.outcome or {}
        found.append(SeriousRisk(
            id=case.id, title=case.title, category=case.category,
            hazards=tuple(dict.fromkeys(case.hazards or ())), assessed_at=record.completed_at,
            severity=outcome.get("severity"), band_label=outcome.get("band_label"),
            measures=decided_measures(disposed.get(case.id)),
            panel_measures=tuple(outcome.get("panel_measures") or ())))
    return found


def _escalations(session: Session, start: datetime, end: datetime) -> list[EscalationWarning]:
    rows = session.exec(select(CaseLink, Case).join(Case, col(Case.id) == CaseLink.case_id)
                        .where(CaseLink.kind == LINK_KIND, col(Case.created_at) >= start,
                               col(Case.created_at) < end, col(CaseLink.created_at) < end)
                        .order_by(col(Case.created_at), col(Case.id), col(CaseLink.id))).all()
    links: dict[str, list[CaseLink]] = {}
    cases: dict[str, Case] = {}
    for link, case in rows:
        links.setdefault(case.id, []).append(link)
        cases[case.id] = case
    found = []
    for case_id, its_links in links.items():
        case = cases[case_id]
        pattern = (its_links[0].detail or {}).get("pattern") or {}
        found.append(EscalationWarning(
            id=case.id, title=case.title, opened_at=case.created_at,
            kind=str(pattern.get("kind", "")), hazard=str(pattern.get("hazard", "")),
            category=str(pattern.get("category", "")),
            industry=str(pattern.get("industry", "")),
            province=str(pattern.get("province", "")),
            linked=tuple(sorted({link.linked_case_id for link in its_links}))))
    return found


def _finished_by(action: FollowUpAction, end: datetime) -> bool:
    """Completed or withdrawn before `end` (a final action is never updated again, so its
    last update is when it was withdrawn)."""
    if action.status == "completed":
        return action.completed_at is not None and action.completed_at < end
    if action.status == "withdrawn":
        return action.updated_at < end
    return False


def _overdue(session: Session, period: Period, end: datetime) -> list[OverdueAction]:
    """Actions due on the period's last day or before, not finished when it ended: the
    sweeper's rule (cases/actions.py: overdue once its due day has passed), as of then."""
    after = period.last + timedelta(days=1)
    rows = session.exec(select(FollowUpAction, Case.title)
                        .join(Case, col(Case.id) == FollowUpAction.case_id)
                        .where(col(FollowUpAction.due_on) < after,
                               col(FollowUpAction.created_at) < end)
                        .order_by(col(FollowUpAction.due_on), col(FollowUpAction.case_id),
                                  col(FollowUpAction.number))).all()
    return [OverdueAction(a.case_id, title, a.number, a.measure, a.due_on,
                          (after - a.due_on).days)
            for a, title in rows if not _finished_by(a, end)]


def _cases_where(session: Session, column: Any, start: datetime, end: datetime) -> list[Case]:
    return list(session.exec(select(Case).where(col(column) >= start, col(column) < end)
                             .order_by(col(Case.id))).all())


def assemble(period: Period, opened: Iterable[CaseAtEnd], closed: Iterable[CaseAtEnd],
             serious: Iterable[SeriousRisk], escalations: Iterable[EscalationWarning],
             overdue: Iterable[OverdueAction]) -> Bulletin:
    """The bulletin of plain facts, with its data hash (pure)."""
    draft = Bulletin(period, breakdown(list(opened)), breakdown(list(closed)),
                     tuple(serious), tuple(escalations), tuple(overdue))
    return Bulletin(draft.period, draft.opened, draft.closed, draft.serious,
                    draft.escalations, draft.overdue, content_hash(draft.content()))


def bulletin(db: Database, period: Period) -> Bulletin:
    """The bulletin of `period` from the store, in one read snapshot. A quiet period gives a
    bulletin of zeros, not an error: the centre still issues it."""
    start, end = period.bounds()
    with db.read_session() as session:
        opened = _at_end(session, _cases_where(session, Case.created_at, start, end), end)
        closed = _at_end(session, _cases_where(session, Case.closed_at, start, end), end)
        return assemble(period, opened, closed, _serious(session, start, end),
                        _escalations(session, start, end), _overdue(session, period, end))
