"""What the staff console shows: cases by gate and state with filters, the counts at the top,
panels waiting for scores and who has not answered, approvals pending, follow-up actions due.

Plain reads for the web pages (flows/web/console_routes.py); nothing here writes. Filters are
validated like any input: an unknown value is refused by name, not silently ignored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from cases import actions, approvals
from cases.db import Database
from cases.errors import FieldErrors
from cases.lifecycle import GATES, STATES
from cases.models import VOTING_ROLES, Case, Expert, PanelSeat, ScoringRound, Signal
from cases.submissions import latest_scores
from rules.domain import domain
from rules.risk_matrix import LEVELS

PRIORITIES = ("P1", "P2", "P3", "P4")
DUE_SOON = timedelta(days=3)
MAX_ROWS = 500


@dataclass(frozen=True)
class Filters:
    channel: str = ""
    category: str = ""
    priority: str = ""
    risk_level: str = ""
    state: str = ""
    gate: str = ""
    overdue: bool = False
    query: str = ""  # a case id or words of its title

    def active(self) -> bool:
        return any((self.channel, self.category, self.priority, self.risk_level, self.state,
                    self.gate, self.overdue, self.query))


def parse_filters(params: dict[str, str]) -> Filters:
    """The console's filters from a query string; FieldErrors names each unknown value."""
    vocab = domain()
    allowed: dict[str, tuple[str, ...]] = {
        "channel": vocab.channels.codes(), "category": vocab.categories.codes(),
        "priority": PRIORITIES, "risk_level": LEVELS, "state": tuple(STATES),
        "gate": tuple(GATES)}
    values: dict[str, Any] = {}
    errors: dict[str, tuple[str, dict, str]] = {}
    for name, choices in allowed.items():
        value = params.get(name, "").strip()
        if value and value not in choices:
            errors[name] = ("filter_unknown", {"value": value[:40]},
                            f"unknown value {value[:40]!r}")
        else:
            values[name] = value
    values["overdue"] = params.get("overdue", "") in ("1", "on", "true")
    values["query"] = " ".join(params.get("q", "").split())[:100]
    if errors:
        raise FieldErrors(errors, source="filter")
    return Filters(**values)


@dataclass(frozen=True)
class CaseRow:
    id: str
    title: str
    state: str
    gate: str
    channel: str
    category: str
    priority: str | None
    risk_level: str | None
    created_at: datetime
    overdue: list[str] = field(default_factory=list)  # what is overdue: approval, action, round
    waiting_reason: str = ""


def _overdue(db: Database, now: datetime) -> dict[str, list[str]]:
    """Per case, what is past its deadline: the approval, an action, the scoring round."""
    late: dict[str, list[str]] = {}
    for approval in approvals.pending(db):
        if approval.overdue(now):
            late.setdefault(approval.case_id, []).append("approval")
    today = actions.today(now)
    for action in actions.open_actions(db):
        if action.overdue(today) and "action" not in late.get(action.case_id, []):
            late.setdefault(action.case_id, []).append("action")
    with db.read_session() as session:
        rounds = session.exec(select(ScoringRound.case_id).where(
            ScoringRound.status == "open", col(ScoringRound.deadline_at) < now)).all()
    for case_id in rounds:
        late.setdefault(case_id, []).append("round")
    return late


def case_rows(db: Database, filters: Filters, now: datetime, limit: int = MAX_ROWS
              ) -> list[CaseRow]:
    """The cases the filters select, newest first."""
    query = select(Case)
    for name in ("category", "priority", "risk_level", "state", "gate"):
        value = getattr(filters, name)
        if value:
            query = query.where(getattr(Case, name) == value)
    if filters.query:
        needle = f"%{filters.query}%"
        query = query.where(col(Case.id).ilike(needle) | col(Case.title).ilike(needle))
    late = _overdue(db, now)
    if filters.overdue:
        query = query.where(col(Case.id).in_(list(late)))
    with db.read_session() as session:
        first = (select(Signal.case_id, func.min(Signal.id).label("first"))
                 .group_by(col(Signal.case_id)).subquery())
        channels = dict(session.exec(select(Signal.case_id, Signal.channel).join(
            first, col(Signal.id) == first.c.first)).all())
        if filters.channel:
            query = query.where(col(Case.id).in_(
                [c for c, ch in channels.items() if ch == filters.channel]))
        cases = session.exec(query.order_by(col(Case.created_at).desc()).limit(limit)).all()
    return [CaseRow(c.id, c.title, c.state, c.gate, channels.get(c.id, ""), c.category,
                    c.priority, c.risk_level, c.created_at, late.get(c.id, []),
                    c.waiting_reason) for c in cases]


@dataclass(frozen=True)
class WaitingPanel:
    case_id: str
    title: str
    round_no: int
    deadline_at: datetime | None
    quorum: int
    submitted: int
    missing: list[tuple[str, str]]  # (expert id, name) of voting members yet to answer


def panels_waiting(db: Database) -> list[WaitingPanel]:
    """Open scoring rounds, the nearest deadline first, with who has not answered."""
    found: list[WaitingPanel] = []
    with db.read_session() as session:
        rows = session.exec(select(ScoringRound, Case).join(
            Case, col(Case.id) == ScoringRound.case_id).where(
            ScoringRound.status == "open", col(ScoringRound.round_no) == Case.scoring_round)
            .order_by(col(ScoringRound.deadline_at))).all()
        names = dict(session.exec(select(Expert.id, Expert.name)).all())
        for round_row, case in rows:
            voting = session.exec(select(PanelSeat.expert_id).where(
                PanelSeat.case_id == case.id, col(PanelSeat.active).is_(True),
                col(PanelSeat.role).in_(VOTING_ROLES)).order_by(col(PanelSeat.expert_id))).all()
            answered = set(latest_scores(session, case.id, round_row.round_no))
            found.append(WaitingPanel(
                case.id, case.title, round_row.round_no, round_row.deadline_at,
                round_row.quorum, len(answered & set(voting)),
                [(e, names.get(e, e)) for e in voting if e not in answered]))
    return found


@dataclass(frozen=True)
class Counts:
    cases: int
    by_state: dict[str, int]
    by_gate: dict[str, int]
    approvals_pending: int
    approvals_overdue: int
    actions_open: int
    actions_due_soon: int
    actions_overdue: int
    panels_waiting: int


def counts(db: Database, now: datetime) -> Counts:
    with db.read_session() as session:
        pairs = session.exec(select(Case.state, Case.gate)).all()
    pending = approvals.pending(db)
    today = actions.today(now)
    open_actions = actions.open_actions(db)
    return Counts(
        cases=len(pairs),
        by_state=dict(Counter(state for state, _ in pairs)),
        by_gate=dict(Counter(gate for state, gate in pairs if state != "closed")),
        approvals_pending=len(pending),
        approvals_overdue=sum(1 for p in pending if p.overdue(now)),
        actions_open=len(open_actions),
        actions_due_soon=sum(1 for a in open_actions
                             if not a.overdue(today) and a.due_on <= today + DUE_SOON),
        actions_overdue=sum(1 for a in open_actions if a.overdue(today)),
        panels_waiting=sum(1 for state, _ in pairs if state == "awaiting_scores"))
