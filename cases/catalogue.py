"""The risk product catalogue (风险产品目录): categories and (category, hazard) pairs ranked by
the risk of the cases created in a period, with the trend against the period before.

Plain reads and arithmetic (no Prefect, no rendering): `reports/catalogue.py` writes the
.docx and CSV, `cases/sampling_plan.py` turns the ranked categories into the suggested focus
of the next supervision sampling plan.

The score is a sum of whole points per case (so it is exact and the same on every backend):

* the risk level the panel assessed: serious 10, high 6, medium 3, low 1; a case not yet
  assessed counts by its triage priority instead: P1 6 (as high), P2 3, P3 and P4 1, and 1
  before triage — the catalogue says how many cases were counted this way;
* +1 for each signal beyond the first (repeat reports), at most +5;
* +1 for each person injured and +2 more for each severe or fatal injury, at most +10;
* +3 when a recall was among the measures decided;
* +1 while the case is open (its risk is not yet settled).

A case counts once for its category and once for each of its hazards. Cases triage referred
as out of the centre's remit (flag `out_of_scope`) are counted but not ranked. Days are
Beijing days (Asia/Shanghai), both ends inclusive; the trend compares each row's score with
the previous period of the same number of days.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, func, select

from cases.actions import CENTRE_ZONE
from cases.console import PRIORITIES
from cases.db import Database
from cases.errors import InvalidInput, NotFound
from cases.models import Case, GateRecord, Signal
from rules.risk_matrix import LEVELS

SCORING_VERSION = "catalogue-score/1"  # bump when a weight below changes: it is in the hash
LEVEL_POINTS = {"serious": 10, "high": 6, "medium": 3, "low": 1}
PRIORITY_POINTS = {"P1": 6, "P2": 3, "P3": 1, "P4": 1}  # cases not yet assessed
UNTRIAGED_POINTS = 1
SIGNAL_POINTS, SIGNAL_CAP = 1, 5
INJURY_POINTS, SEVERE_POINTS, INJURY_CAP = 1, 2, 10
RECALL_POINTS = 3
OPEN_POINTS = 1
RECALL = "recall"
OUT_OF_SCOPE = "out_of_scope"  # the triage flag of a case referred elsewhere
UNASSESSED = "unassessed"
LEVEL_COLUMNS = (*reversed(LEVELS), UNASSESSED)  # serious … low, then not yet assessed
# The weights above, by the report's wording of each rule (reports/locales: catalogue.rule.*).
SCORING_RULES: dict[str, dict[str, int]] = {
    "level": dict(LEVEL_POINTS),
    "unassessed": {**{p.lower(): PRIORITY_POINTS[p] for p in PRIORITIES},
                   "untriaged": UNTRIAGED_POINTS},
    "signals": {"points": SIGNAL_POINTS, "cap": SIGNAL_CAP},
    "injuries": {"injured": INJURY_POINTS, "severe": SEVERE_POINTS, "cap": INJURY_CAP},
    "recall": {"recall": RECALL_POINTS, "open": OPEN_POINTS},
}
MAX_DAYS = 3660
EARLIEST, LATEST = date(1970, 1, 1), date(2100, 12, 31)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """Beijing days from `first` to `last`, both included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: midnight in Beijing of the first day and of the day after."""
        start = datetime.combine(self.first, time(), CENTRE_ZONE)
        end = datetime.combine(self.last + timedelta(days=1), time(), CENTRE_ZONE)
        return start.astimezone(UTC), end.astimezone(UTC)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "days": self.days}


def _day(text: str, option: str) -> date:
    if not _DATE.match(text.strip()):
        raise InvalidInput(f"{option} {text[:40]!r}: expected a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{option} {text[:40]!r}: no such date") from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(f"{option} {text}: expected a date from {EARLIEST} to {LATEST}")
    return day


def parse_period(first: str, last: str, *, what: str = "catalogue",
                 max_days: int = MAX_DAYS) -> Period:
    """The period of `--from` and `--to`; a bad date, order or length (over `max_days` for
    the `what` report) is refused in one line."""
    start, end = _day(first, "--from"), _day(last, "--to")
    if start > end:
        raise InvalidInput(f"--from {start} is after --to {end}: the period would be empty")
    period = Period(start, end)
    if period.days > max_days:
        raise InvalidInput(f"--from {start} --to {end}: {period.days} days; a {what} "
                           f"covers at most {max_days} days")
    return period


@dataclass(frozen=True)
class CaseFacts:
    """What the catalogue reads of one case."""

    id: str
    created_at: datetime
    category: str
    hazards: tuple[str, ...]
    risk_level: str | None
    priority: str | None
    measures: tuple[str, ...]
    closed: bool
    signals: int
    injured: int
    severe: int  # severe or fatal injuries
    out_of_scope: bool

    @property
    def level_column(self) -> str:
        return self.risk_level if self.risk_level in LEVEL_POINTS else UNASSESSED

    def points(self) -> int:
        """The case's score (module docstring)."""
        if self.risk_level in LEVEL_POINTS:
            base = LEVEL_POINTS[self.risk_level]
        elif self.priority in PRIORITY_POINTS:
            base = PRIORITY_POINTS[self.priority]
        else:
            base = UNTRIAGED_POINTS
        repeats = min(SIGNAL_POINTS * max(self.signals - 1, 0), SIGNAL_CAP)
        harm = min(INJURY_POINTS * self.injured + SEVERE_POINTS * self.severe, INJURY_CAP)
        return (base + repeats + harm + (RECALL_POINTS if RECALL in self.measures else 0)
                + (0 if self.closed else OPEN_POINTS))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at.astimezone(UTC).isoformat(),
                "category": self.category, "hazards": list(self.hazards),
                "risk_level": self.risk_level, "priority": self.priority,
                "measures": list(self.measures), "closed": self.closed,
                "signals": self.signals, "injured": self.injured, "severe": self.severe,
                "out_of_scope": self.out_of_scope}


@dataclass
class Tally:
    """Counts and score of the cases of one row (a category, or a category and a hazard)."""

    cases: int = 0
    signals: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    p1: int = 0
    open: int = 0
    injured: int = 0
    recalls: int = 0
    measures: Counter[str] = field(default_factory=Counter)
    score: int = 0

    def add(self, case: CaseFacts) -> None:
        self.cases += 1
        self.signals += case.signals
        self.levels[case.level_column] += 1
        self.p1 += case.priority == "P1"
        self.open += not case.closed
        self.injured += case.injured
        self.recalls += RECALL in case.measures
        self.measures.update(case.measures)
        self.score += case.points()


@dataclass(frozen=True)
class Row:
    """One ranked row: a category (hazard None) or a (category, hazard) pair."""

    rank: int
    category: str
    hazard: str | None  # None: no hazard was reported (pairs), or a category row
    cases: int
    signals: int
    levels: dict[str, int]  # LEVEL_COLUMNS → cases
    p1: int
    open: int
    injured: int
    recalls: int
    measures: dict[str, int]  # measure code → cases that took it, most frequent first
    score: int
    previous_score: int
    previous_cases: int
    hazards: tuple[str, ...] = ()  # category rows: its hazards, highest pair score first

    @property
    def trend(self) -> str:
        """new (no case in the previous period), up, down or same (by score)."""
        if self.previous_cases == 0:
            return "new"
        if self.score == self.previous_score:
            return "same"
        return "up" if self.score > self.previous_score else "down"

    @property
    def serious_high(self) -> int:
        return self.levels["serious"] + self.levels["high"]

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "category": self.category, "hazard": self.hazard,
                "cases": self.cases, "signals": self.signals, "by_level": self.levels,
                "p1": self.p1, "open": self.open, "injured": self.injured,
                "recalls": self.recalls, "measures": self.measures, "score": self.score,
                "previous_score": self.previous_score, "previous_cases": self.previous_cases,
                "trend": self.trend, "delta": self.score - self.previous_score,
                **({"hazards": list(self.hazards)} if self.hazard is None else {})}


@dataclass(frozen=True)
class Catalogue:
    period: Period
    previous: Period
    cases: int  # created in the period
    ranked_cases: int  # of those, in the centre's remit
    unassessed: int  # ranked cases counted by triage priority (no risk level yet)
    out_of_scope: int  # referred at triage: counted, not ranked
    previous_cases: int
    rows: tuple[Row, ...]  # (category, hazard) pairs, ranked
    categories: tuple[Row, ...]  # categories, ranked
    data_hash: str  # SHA-256 of the facts read and the scoring version

    @property
    def identity(self) -> str:
        return f"CAT-{self.period.first:%Y%m%d}-{self.period.last:%Y%m%d}"


def read_facts(db: Database, start: datetime, end: datetime) -> list[CaseFacts]:
    """The cases created in [start, end) with their signals, injuries and triage flags."""
    in_range = (col(Case.created_at) >= start) & (col(Case.created_at) < end)
    with db.read_session() as session:
        cases = session.exec(select(Case).where(in_range).order_by(col(Case.id))).all()
        payloads = session.exec(select(Signal.case_id, Signal.payload)
                                .join(Case, col(Case.id) == col(Signal.case_id))
                                .where(in_range)).all()
        triage = session.exec(select(GateRecord.case_id, GateRecord.round, GateRecord.outcome)
                              .join(Case, col(Case.id) == col(GateRecord.case_id))
                              .where(in_range, GateRecord.gate == "triage")).all()
    signals: Counter[str] = Counter()
    injured: Counter[str] = Counter()
    severe: Counter[str] = Counter()
    for case_id, payload in payloads:
        signals[case_id] += 1
        harm = (payload or {}).get("injuries") or {}
        injured[case_id] += int(harm.get("count") or 0)
        severe[case_id] += max(int(harm.get("severe") or 0), int(harm.get("fatalities") or 0))
    last_triage: dict[str, tuple[int, list[str]]] = {}
    for case_id, round_no, outcome in triage:
        if case_id not in last_triage or round_no > last_triage[case_id][0]:
            last_triage[case_id] = (round_no, list((outcome or {}).get("flags") or ()))
    return [CaseFacts(
        id=c.id, created_at=c.created_at, category=c.category,
        hazards=tuple(dict.fromkeys(c.hazards or ())), risk_level=c.risk_level,
        priority=c.priority, measures=tuple(c.measures or ()), closed=c.state == "closed",
        signals=signals[c.id], injured=injured[c.id], severe=severe[c.id],
        out_of_scope=OUT_OF_SCOPE in last_triage.get(c.id, (0, []))[1])
        for c in cases]


def _tallies(facts: Iterable[CaseFacts]) -> tuple[dict[tuple[str, str | None], Tally],
                                                  dict[str, Tally]]:
    pairs: dict[tuple[str, str | None], Tally] = {}
    categories: dict[str, Tally] = {}
    for case in facts:
        if case.out_of_scope:
            continue
        categories.setdefault(case.category, Tally()).add(case)
        for hazard in case.hazards or (None,):
            pairs.setdefault((case.category, hazard), Tally()).add(case)
    return pairs, categories


def _ordered(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _ranked(current: dict[Any, Tally], before: dict[Any, Tally],
            make: Any) -> tuple[Row, ...]:
    """Score first, then more cases, then the codes: the same data gives the same order."""
    keys = sorted(current, key=lambda k: (-current[k].score, -current[k].cases,
                                          tuple("" if p is None else p for p in k)))
    rows = []
    for rank, key in enumerate(keys, start=1):
        now, then = current[key], before.get(key, Tally())
        rows.append(make(rank, key, now, then))
    return tuple(rows)


def _row(rank: int, category: str, hazard: str | None, now: Tally, then: Tally,
         hazards: tuple[str, ...] = ()) -> Row:
    return Row(rank=rank, category=category, hazard=hazard, cases=now.cases,
               signals=now.signals, levels={c: now.levels[c] for c in LEVEL_COLUMNS},
               p1=now.p1, open=now.open, injured=now.injured, recalls=now.recalls,
               measures=_ordered(now.measures), score=now.score,
               previous_score=then.score, previous_cases=then.cases, hazards=hazards)


def data_hash(period: Period, current: Sequence[CaseFacts],
              previous: Sequence[CaseFacts]) -> str:
    """SHA-256 of what the catalogue was computed from: the same store gives the same hash."""
    data = {"scoring": SCORING_VERSION, "period": period.to_dict(),
            "cases": [f.to_dict() for f in current],
            "previous_cases": [f.to_dict() for f in previous]}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build(current: Sequence[CaseFacts], previous: Sequence[CaseFacts],
          period: Period) -> Catalogue:
    """Rank the period's cases (pure: the tests build facts directly too)."""
    pairs, categories = _tallies(current)
    pairs_before, categories_before = _tallies(previous)
    rows = _ranked(pairs, pairs_before,
                   lambda rank, key, now, then: _row(rank, key[0], key[1], now, then))
    hazards_of: dict[str, list[str]] = {}
    for row in rows:
        if row.hazard is not None:
            hazards_of.setdefault(row.category, []).append(row.hazard)
    category_rows = _ranked(
        {(c,): t for c, t in categories.items()}, {(c,): t for c, t in categories_before.items()},
        lambda rank, key, now, then: _row(rank, key[0], None, now, then,
                                          tuple(hazards_of.get(key[0], ()))))
    ranked = [f for f in current if not f.out_of_scope]
    return Catalogue(
        period=period, previous=period.previous(), cases=len(current),
        ranked_cases=len(ranked),
        unassessed=sum(f.level_column == UNASSESSED for f in ranked),
        out_of_scope=len(current) - len(ranked), previous_cases=len(previous),
        rows=rows, categories=category_rows,
        data_hash=data_hash(period, current, previous))


def _store_span(db: Database) -> str:
    with db.read_session() as session:
        first, last = session.exec(select(func.min(Case.created_at),
                                          func.max(Case.created_at))).one()
    if first is None:
        return "the store holds no cases yet"
    days = [moment.astimezone(CENTRE_ZONE).date().isoformat() for moment in (first, last)]
    return f"the store holds cases created from {days[0]} to {days[1]}"


def catalogue(db: Database, period: Period) -> Catalogue:
    """The catalogue of `period` from the store. A period without a case to rank is refused
    (NotFound) rather than written as an empty catalogue: it is far more often a mistyped
    date than a quiet quarter, and the message says which days the store does hold."""
    previous = period.previous()
    start, end = period.bounds()
    current = read_facts(db, start, end)
    if not any(not f.out_of_scope for f in current):
        referred = (f" ({len(current)} case(s), all referred at triage as out of scope)"
                    if current else "")
        raise NotFound(f"no cases to rank were created from {period.first} to {period.last}"
                       f"{referred}; {_store_span(db)}")
    before = read_facts(db, *previous.bounds())
    return build(current, before, period)
