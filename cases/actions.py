"""Follow-up to completion: each disposal measure becomes a tracked action.

An action has a lead department, a due date by the case's priority and a status (open,
in progress, completed; withdrawn when staff close the case with actions still open), and the
progress its measure records (rules/domain.yaml `progress`: units recovered of units affected
for a recall, listings removed for a delisting, where and when a warning was published, …).
Completing an action needs all of its progress fields and an outcome in words. The update that
completes the last open action, or staff closing the follow-up with a reason, claims the
lifecycle's transition and owes the case its continuation in the same transaction (the closure
report is written by that run), exactly as a quorum of scores does.

Every update is one audited transaction; completing an action (and an action found overdue by
the sweeper) is also written to the enterprise's credit file (cases/credit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from sqlmodel import Session, col, select

from cases import audit, credit, outbox
from cases.accounts import Person, require
from cases.db import Database
from cases.errors import FieldErrors, NotFound, WrongState
from cases.lifecycle import Event
from cases.models import Case, utcnow
from cases.models_oversight import FollowUpAction
from cases.roles import Action
from cases.submissions import Claim, claim, waiting_case
from cases.text import CONTROL_BUT_LINES, reason_text
from rules.domain import Lang, domain

DEADLINE_DAYS = {"P1": 3, "P2": 7, "P3": 15, "P4": 30}  # days to complete, by priority
STATUSES = ("open", "in_progress", "completed", "withdrawn")
FINAL = ("completed", "withdrawn")
MAX_TEXT, MAX_OUTCOME, MAX_COUNT = 500, 2000, 10**12
CENTRE_ZONE = ZoneInfo("Asia/Shanghai")


def today(now: datetime | None = None) -> date:
    """The centre's date: due dates are days in Beijing time."""
    return (now or utcnow()).astimezone(CENTRE_ZONE).date()


def due_date(priority: str | None, start: datetime) -> date:
    return today(start) + timedelta(days=DEADLINE_DAYS.get(priority or "P4", 30))


def planned(measures: list[str], notify: list[str], priority: str | None, start: datetime,
            lang: Lang) -> dict[str, Any]:
    """The follow-up plan of a disposal: one action per measure, one notice per department."""
    vocab = domain().measures
    due = due_date(priority, start)
    return {
        "deadline_days": DEADLINE_DAYS.get(priority or "P4", 30),
        "actions": [{"number": n, "measure": code, "lead": vocab.attr(code, f"lead_{lang}"),
                     "due_on": due.isoformat()} for n, code in enumerate(measures, start=1)],
        "notifications": list(notify),
    }


def _text(value: object, most: int) -> str:
    text = str(value).strip()
    if CONTROL_BUT_LINES.search(text):
        raise PydanticCustomError("control_characters", "no control characters")
    if len(text) > most:
        raise PydanticCustomError("string_too_long", "at most {max_length} characters",
                                  {"max_length": most})
    return text


def _progress_value(kind: str, raw: str) -> int | str:
    text = _text(raw, MAX_TEXT)
    if kind == "count":
        if not (text.isascii() and text.isdigit()) or len(text) > 13 or int(text) > MAX_COUNT:
            raise PydanticCustomError("count", "expected a whole number from 0 to {most}",
                                      {"most": MAX_COUNT})
        return int(text)
    if kind == "date":
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise PydanticCustomError("date", "expected a date as YYYY-MM-DD") from None
        if not 1970 <= day.year <= 2100:
            raise PydanticCustomError("date", "expected a date as YYYY-MM-DD")
        return day.isoformat()
    return text


class ActionUpdate(BaseModel):
    """What staff post for one action: its new status, progress, a note and, to complete it,
    the outcome. Progress fields are those of the action's measure; blank ones stay as they
    were."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: str
    progress: dict[str, str] = {}
    note: str = ""
    outcome: str = ""

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in STATUSES[:3]:
            raise PydanticCustomError("status", "expected open, in_progress or completed")
        return value

    @field_validator("note")
    @classmethod
    def _note(cls, value: str) -> str:
        return _text(value, MAX_TEXT)

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: str) -> str:
        return _text(value, MAX_OUTCOME)


def _validated(action: FollowUpAction, update: ActionUpdate) -> dict[str, Any]:
    """The action's progress after the update, checked field by field: FieldErrors names every
    field refused (`progress.<name>`, `outcome`)."""
    vocab = domain()
    names = vocab.progress_fields(action.measure)
    errors: dict[str, tuple[str, dict, str]] = {}
    unknown = [name for name in update.progress if name not in names]
    for name in unknown:
        errors[f"progress.{name}"] = ("progress_unknown", {},
                                      f"{action.measure} records no {name!r}")
    details = dict(action.details)
    for name in names:
        raw = update.progress.get(name, "")
        if not str(raw).strip():
            continue
        try:
            details[name] = _progress_value(vocab.progress.attr(name, "kind"), raw)
        except PydanticCustomError as refused:
            errors[f"progress.{name}"] = (refused.type, refused.context or {}, refused.message())
    if action.measure == "recall" and "units_affected" in details \
            and details.get("units_recovered", 0) > details["units_affected"]:
        errors["progress.units_recovered"] = (
            "recovered_over_affected", {},
            "more units recovered than affected: correct the units affected")
    if update.status == "completed" and not errors:
        for name in names:
            if details.get(name) in (None, ""):
                errors[f"progress.{name}"] = ("progress_needed", {},
                                              "needed to complete the action")
        if not update.outcome:
            errors["outcome"] = ("outcome_needed", {}, "say what was achieved to complete it")
    if errors:
        raise FieldErrors(errors, source=f"action {action.number} ({action.measure})")
    return details


def parse_update(data: dict[str, Any], *, source: str = "action") -> ActionUpdate:
    try:
        return ActionUpdate.model_validate(data)
    except ValidationError as exc:
        raise FieldErrors.from_validation(exc, source=source) from None


def actions_of(session: Session, case_id: str) -> list[FollowUpAction]:
    return list(session.exec(select(FollowUpAction).where(FollowUpAction.case_id == case_id)
                             .order_by(col(FollowUpAction.number))).all())


def list_actions(db: Database, case_id: str) -> list[FollowUpAction]:
    with db.read_session() as session:
        return actions_of(session, case_id)


@dataclass(frozen=True)
class Updated:
    action: FollowUpAction
    claim: Claim | None  # the follow-up is complete: the case is owed its continuation


def update_action(db: Database, case_id: str, number: int, person: Person,
                  update: ActionUpdate) -> Updated:
    """Record an action's progress; completing the last open one completes the follow-up."""
    require(person, Action.FOLLOW_UP)
    with db.session() as session:
        case = waiting_case(db, session, case_id, Event.ACTIONS_COMPLETED, "follow-up updates")
        actions = actions_of(session, case_id)
        action = next((a for a in actions if a.number == number), None)
        if action is None:
            raise NotFound(f"case {case_id} has no follow-up action {number}")
        if action.status in FINAL:
            raise WrongState(f"action {number} of case {case_id} is {action.status} already")
        details = _validated(action, update)
        now = utcnow()
        before = action.status
        action.status, action.details = update.status, details
        action.note = update.note or action.note
        action.outcome = update.outcome or action.outcome
        action.updated_at, action.updated_by = now, person.actor
        if update.status == "completed":
            action.completed_at = now
        session.add(action)
        rows: list[Any] = [action]
        if update.status == "completed":
            rows += credit.record(session, case, "action_completed", now,
                                  {"measure": action.measure, "outcome": action.outcome,
                                   "overdue": action.overdue_at is not None})
        owed = None
        if all(a.status == "completed" for a in actions):
            claim(session, case, Event.ACTIONS_COMPLETED, "staff")
            owed = outbox.owe(session, case_id, "follow_up:done", Event.ACTIONS_COMPLETED.value)
        audit.append(db, session, actor=person.actor, action="action.updated", case_id=case_id,
                     rows=rows, detail={"action": number, "measure": action.measure,
                                        "from": before, "to": action.status,
                                        "follow_up_complete": owed is not None})
        session.flush()
        session.expunge(action)
    return Updated(action, Claim(case_id, True, owed.key, owed.id) if owed else None)


MIN_REASON = 10


def close_follow_up(db: Database, case_id: str, person: Person, reason: str) -> Claim:
    """Staff close the follow-up with a reason: every action still open is withdrawn with that
    reason as its outcome, and the case goes on to closure."""
    require(person, Action.FOLLOW_UP)
    reason = reason_text(reason, least=MIN_REASON, most=MAX_OUTCOME, source="close")
    with db.session() as session:
        case = waiting_case(db, session, case_id, Event.FOLLOW_UP_CLOSED, "follow-up updates")
        now = utcnow()
        withdrawn = []
        for action in actions_of(session, case_id):
            if action.status in FINAL:
                continue
            action.status, action.outcome = "withdrawn", reason
            action.updated_at, action.updated_by = now, person.actor
            session.add(action)
            withdrawn.append(action)
        claim(session, case, Event.FOLLOW_UP_CLOSED, "staff")
        owed = outbox.owe(session, case_id, "follow_up:closed", Event.FOLLOW_UP_CLOSED.value)
        audit.append(db, session, actor=person.actor, action=Event.FOLLOW_UP_CLOSED.value,
                     case_id=case_id, rows=withdrawn,
                     detail={"reason": reason, "withdrawn": [a.number for a in withdrawn]})
    return Claim(case_id, True, owed.key, owed.id)


@dataclass(frozen=True)
class DueAction:
    case_id: str
    title: str
    number: int
    measure: str
    lead: str
    due_on: date
    status: str

    def overdue(self, on: date) -> bool:
        return self.due_on < on


def open_actions(db: Database) -> list[DueAction]:
    """Every action not yet completed or withdrawn, the earliest due first."""
    with db.read_session() as session:
        rows = session.exec(select(FollowUpAction, Case.title)
                            .join(Case, col(Case.id) == FollowUpAction.case_id)
                            .where(col(FollowUpAction.status).in_(("open", "in_progress")))
                            .order_by(col(FollowUpAction.due_on), col(FollowUpAction.id))).all()
    return [DueAction(a.case_id, title, a.number, a.measure, a.lead, a.due_on, a.status)
            for a, title in rows]


def flag_overdue(db: Database, now: datetime) -> list[str]:
    """The sweeper: flag each open action past its due date once (an audit event and an entry
    in the enterprise's credit file); returns `case:number` of those flagged now."""
    flagged: list[str] = []
    with db.session() as session:
        late = session.exec(select(FollowUpAction).where(
            col(FollowUpAction.status).in_(("open", "in_progress")),
            col(FollowUpAction.overdue_at).is_(None),
            col(FollowUpAction.due_on) < today(now))).all()
        for action in late:
            case = session.get(Case, action.case_id)
            if case is None:
                continue
            action.overdue_at = now
            session.add(action)
            rows: list[Any] = [action, *credit.record(
                session, case, "action_overdue", now,
                {"measure": action.measure, "due_on": action.due_on.isoformat()})]
            audit.append(db, session, actor="riskgate sweeper", action="action.overdue",
                         case_id=case.id, rows=rows,
                         detail={"action": action.number, "measure": action.measure,
                                 "due_on": action.due_on.isoformat()})
            flagged.append(f"{case.id}:{action.number}")
    return flagged


def outcome_rows(actions: list[FollowUpAction]) -> list[dict[str, Any]]:
    """Each action and its outcome, for the follow-up and closure reports."""
    return [{"number": a.number, "measure": a.measure, "lead": a.lead,
             "due_on": a.due_on.isoformat(), "status": a.status, "progress": dict(a.details),
             "outcome": a.outcome, "note": a.note, "by": a.updated_by,
             "completed_at": a.completed_at.isoformat() if a.completed_at else None,
             "overdue": a.overdue_at is not None} for a in actions]
