"""Changes to a seated panel: an expert declares a conflict of interest, a member does not
answer by the deadline and a reserve is called in, the round can no longer reach its quorum.

Each change is one transaction that writes the seats, the links and mails it owes (cases/notify.py)
and an audit event. The sweeper drives the deadlines (`sweep_deadlines`, with the clock passed
in so tests control time): a reminder before a member's deadline, once per round; after it, the
member leaves and the first reserve is called in with a fresh deadline; a round that cannot reach
its quorum any more waits for staff (`awaiting_panel`, with the reason); a round whose deadline
passed with the quorum in closes and its case continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cases import audit, lifecycle, notify, outbox
from cases.config import Settings
from cases.db import Database
from cases.errors import InvalidInput, NotFound, WrongState
from cases.lifecycle import Event
from cases.models import VOTING_ROLES, Case, Expert, PanelSeat, ScoringRound, utcnow
from cases.panels import CONFLICT_PREFIX, NO_ANSWER_PREFIX, profiles, request_for
from cases.store import load_dossier, require_case, seat_counts
from cases.submissions import Claim, claim, latest_scores, voting_experts
from experts.notices import Notice, notice
from experts.protocol import Protocol
from rules.domain import Lang

PANEL_ACTOR = "riskgate sweeper"
MAX_REASON = 1000


@dataclass
class Change:
    """What one change did to the panel."""

    case_id: str
    left: list[str] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    new_chair: str | None = None
    reminded: list[str] = field(default_factory=list)
    quorum_lost: bool = False
    closed_round: Claim | None = None


def _lang(case: Case) -> Lang:
    return "en" if case.lang == "en" else "zh"


def _open_round(session: Session, case: Case) -> ScoringRound | None:
    return session.exec(select(ScoringRound).where(
        ScoringRound.case_id == case.id, ScoringRound.round_no == case.scoring_round,
        ScoringRound.status == "open")).first()


def _notice(session: Session, settings: Settings, kind: str, case: Case, seat: PanelSeat,
            deadline: datetime | None) -> Notice:
    expert = session.get(Expert, seat.expert_id)
    return notice(kind, lang=_lang(case), expert_id=seat.expert_id,
                  expert_name=expert.name if expert else seat.expert_id, case_id=case.id,
                  title=case.title, round_no=case.scoring_round, deadline=deadline,
                  role=seat.role, link_days=settings.link_days)


def _leave(session: Session, settings: Settings, case: Case, seat: PanelSeat, reason: str,
           now: datetime, change: Change) -> tuple[list[Any], list[Notice]]:
    """The seat leaves; the first reserve is called in (a voting seat left); a chair who left
    is followed by the most senior voting member."""
    rows: list[Any] = [seat]
    notices: list[Notice] = []
    voting = seat.role in VOTING_ROLES
    was_chair = seat.role == "chair"
    seat.active, seat.left_reason, seat.left_at = False, reason, now
    change.left.append(seat.expert_id)
    if not voting:
        return rows, notices
    current = _open_round(session, case)
    protocol = Protocol.from_dict(current.protocol) if current else Protocol()
    reserve = session.exec(select(PanelSeat).where(
        PanelSeat.case_id == case.id, PanelSeat.role == "reserve",
        col(PanelSeat.active).is_(True)).order_by(col(PanelSeat.id))).first()
    if reserve is not None:
        reserve.role, reserve.called_at = "member", now
        reserve.deadline_at = now + timedelta(days=protocol.round_days) if current else None
        rows.append(reserve)
        change.called.append(reserve.expert_id)
        notices.append(_notice(session, settings, "reserve_called", case, reserve,
                               reserve.deadline_at))
    if was_chair:
        members = session.exec(select(PanelSeat).where(
            PanelSeat.case_id == case.id, col(PanelSeat.active).is_(True),
            col(PanelSeat.role).in_(VOTING_ROLES))).all()
        seniority = {e.id: e.seniority for e in session.exec(select(Expert).where(
            col(Expert.id).in_([m.expert_id for m in members]))).all()}
        if members:
            chair = min(members, key=lambda m: (-seniority.get(m.expert_id, 0), m.expert_id))
            chair.role = "chair"
            rows.append(chair)
            change.new_chair = chair.expert_id
    return rows, notices


def declare_conflict(db: Database, settings: Settings, case_id: str, expert_id: str,
                     reason: str, *, now: datetime | None = None) -> Change:
    """An expert declares a conflict of interest with the case: their seat goes to a reserve
    (notified), and the case record (seats, audit) shows it with the reason."""
    text = " ".join(reason.split())
    if not 4 <= len(text) <= MAX_REASON:
        raise InvalidInput(f"give the reason for the conflict of interest in 4 to "
                           f"{MAX_REASON} characters")
    moment = now or utcnow()
    change = Change(case_id)
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        if case.state == "closed":
            raise WrongState(f"case {case_id} is closed")
        seat = session.exec(select(PanelSeat).where(PanelSeat.case_id == case_id,
                                                    PanelSeat.expert_id == expert_id)).first()
        if seat is None or not seat.active:
            raise NotFound(f"expert {expert_id} holds no seat on case {case_id}")
        rows, notices = _leave(session, settings, case, seat, f"{CONFLICT_PREFIX}{text}",
                               moment, change)
        session.flush()
        rows += notify.send(session, settings, notices, case_id=case_id,
                            by=f"expert:{expert_id}")
        audit.append(db, session, actor=f"expert:{expert_id}",
                     action="panel.conflict_declared", case_id=case_id, rows=rows,
                     detail={"expert": expert_id, "reason": text, "called": change.called,
                             "new_chair": change.new_chair, "round": case.scoring_round,
                             "at": moment.isoformat()})
    return change


def _round_state(session: Session, case: Case, now: datetime) -> tuple[int, int, int]:
    """(scores in, voting seats still able to answer, quorum) of the open round."""
    current = _open_round(session, case)
    if current is None:
        return 0, 0, 0
    voters = voting_experts(session, case.id)
    scored = {e for e in latest_scores(session, case.id, current.round_no) if e in voters}
    seats = session.exec(select(PanelSeat).where(
        PanelSeat.case_id == case.id, col(PanelSeat.active).is_(True),
        col(PanelSeat.role).in_(VOTING_ROLES))).all()
    pending = sum(1 for s in seats if s.expert_id not in scored
                  and (s.deadline_at is None or s.deadline_at > now))
    return len(scored), pending, current.quorum


def sweep_case(db: Database, settings: Settings, case_id: str, now: datetime) -> Change:
    """The deadline duties for one case waiting for scores."""
    change = Change(case_id)
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        if (case.gate, case.state) != lifecycle.source_of(Event.SCORES_QUORUM, case.gate):
            return change
        current = _open_round(session, case)
        if current is None:
            return change
        protocol = Protocol.from_dict(current.protocol)
        scored = set(latest_scores(session, case.id, current.round_no))
        rows: list[Any] = []
        notices: list[Notice] = []
        seats = session.exec(select(PanelSeat).where(
            PanelSeat.case_id == case.id, col(PanelSeat.active).is_(True),
            col(PanelSeat.role).in_(VOTING_ROLES)).order_by(col(PanelSeat.id))).all()
        for seat in seats:
            if seat.expert_id in scored or seat.deadline_at is None:
                continue
            if seat.deadline_at <= now:
                left, owed = _leave(session, settings, case, seat,
                                    f"{NO_ANSWER_PREFIX}{current.round_no}",
                                    now, change)
                rows += left
                notices += owed
            elif (seat.reminded_round < current.round_no
                  and seat.deadline_at - now <= timedelta(hours=protocol.remind_hours)):
                seat.reminded_round = current.round_no
                rows.append(seat)
                change.reminded.append(seat.expert_id)
                notices.append(_notice(session, settings, "reminder", case, seat,
                                       seat.deadline_at))
        session.flush()
        rows += notify.send(session, settings, notices, case_id=case.id, by=PANEL_ACTOR)
        submitted, pending, quorum = _round_state(session, case, now)
        deadline_passed = current.deadline_at is not None and current.deadline_at <= now
        if submitted >= quorum and (deadline_passed or pending == 0):
            claim(session, case, Event.SCORES_QUORUM, "sweeper")
            current.status, current.closed_at = "closed", now
            rows.append(current)
            owed_run = outbox.owe(session, case.id, f"scores:r{current.round_no}",
                                  Event.SCORES_QUORUM.value)
            change.closed_round = Claim(case.id, True, owed_run.key, owed_run.id)
        elif submitted + pending < quorum:
            claim(session, case, Event.QUORUM_LOST, "sweeper")
            case.waiting_reason = (f"round {current.round_no} can no longer reach its quorum "
                                   f"of {quorum}: {submitted} scores in, {pending} experts "
                                   "still able to answer, no reserve left; seat experts or "
                                   f"extend the round (`riskgate case extend {case.id}`)")
            session.add(case)
            change.quorum_lost = True
        if rows or change.quorum_lost:
            audit.append(db, session, actor=PANEL_ACTOR, action="panel.deadlines",
                         case_id=case.id, rows=rows,
                         detail={"round": current.round_no, "left": change.left,
                                 "called": change.called, "reminded": change.reminded,
                                 "quorum_lost": change.quorum_lost,
                                 "closed": change.closed_round is not None,
                                 "at": now.isoformat()})
    return change


def waiting_for_scores(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(session.exec(select(Case.id).where(Case.state == "awaiting_scores")
                                 .order_by(col(Case.updated_at))).all())


def sweep_deadlines(db: Database, settings: Settings, now: datetime) -> list[Change]:
    return [sweep_case(db, settings, case_id, now) for case_id in waiting_for_scores(db)]


def extend_round(db: Database, settings: Settings, case_id: str, *, days: int, by: str,
                 now: datetime | None = None) -> Change:
    """Staff give a round that lost its quorum more time: every voting member still seated
    gets a new deadline (and a mail), and the round waits for scores again."""
    if not 1 <= days <= 90:
        raise InvalidInput(f"--days {days}: give 1 to 90 days")
    moment = now or utcnow()
    change = Change(case_id)
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        current = _open_round(session, case)
        if current is None or lifecycle.source_of(Event.ROUND_EXTENDED, case.gate) \
                != (case.gate, case.state):
            raise WrongState(f"case {case_id} is not waiting for its panel (state "
                             f"{case.state}, gate {case.gate})", code="not_waiting",
                             case_id=case_id, state=case.state, gate=case.gate)
        deadline = moment + timedelta(days=days)
        current.deadline_at = deadline
        rows: list[Any] = [current]
        notices: list[Notice] = []
        scored = set(latest_scores(session, case.id, current.round_no))
        for seat in session.exec(select(PanelSeat).where(
                PanelSeat.case_id == case.id, col(PanelSeat.active).is_(True),
                col(PanelSeat.role).in_(VOTING_ROLES))).all():
            seat.deadline_at, seat.reminded_round = deadline, 0
            rows.append(seat)
            if seat.expert_id not in scored:
                notices.append(_notice(session, settings, "reminder", case, seat, deadline))
        claim(session, case, Event.ROUND_EXTENDED, "staff")
        case.waiting_reason = ""
        session.add(case)
        session.flush()
        rows += notify.send(session, settings, notices, case_id=case.id, by=by)
        audit.append(db, session, actor=by, action=Event.ROUND_EXTENDED.value,
                     case_id=case.id, rows=rows,
                     detail={"round": current.round_no, "days": days,
                             "at": moment.isoformat()})
    return change


def seat_more(db: Database, settings: Settings, case_id: str, *, by: str,
              now: datetime | None = None) -> Change:
    """Staff seat experts from the roster on a round that can no longer reach its quorum: as
    many as the quorum lacks, the best eligible experts who have not sat on this panel (a
    senior first if none sits, then someone for each hazard no one sitting knows:
    experts.assignment.best_eligible), each mailed. The round gets a fresh deadline, for the
    members still to answer as well, and waits for scores again. Too few eligible experts:
    nothing changes, and the error says why."""
    from experts.assignment import best_eligible  # pulls in scipy; only seating needs it

    moment = now or utcnow()
    dossier = load_dossier(db, case_id)
    request = request_for(db, dossier)
    roster = profiles(db)
    change = Change(case_id)
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        current = _open_round(session, case)
        if current is None or lifecycle.source_of(Event.PANEL_RESEATED, case.gate) \
                != (case.gate, case.state):
            raise WrongState(f"case {case_id} is not waiting for its panel (state "
                             f"{case.state}, gate {case.gate})", code="not_waiting",
                             case_id=case_id, state=case.state, gate=case.gate)
        protocol = Protocol.from_dict(current.protocol)
        submitted, pending, quorum = _round_state(session, case, moment)
        needed = max(1, quorum - submitted - pending)
        held = session.exec(select(PanelSeat).where(PanelSeat.case_id == case_id)).all()
        taken = frozenset(s.expert_id for s in held)
        sitting_ids = {s.expert_id for s in held if s.active and s.role in VOTING_ROLES}
        sitting = [e for e in roster if e.id in sitting_ids]
        db.lock_key(session, "riskgate:roster-workload")  # as a panel's commit: caps hold
        seats, excluded = best_eligible(request, roster, seat_counts(session), protocol,
                                        on=moment.date(), count=needed, taken=taken,
                                        sitting=sitting)
        if len(seats) < needed:
            why = ", ".join(sorted({e.reason for e in excluded})) or "none excluded"
            raise InvalidInput(
                f"case {case_id}: the round needs {needed} more expert(s) for its quorum of "
                f"{quorum}, but only {len(seats)} eligible expert(s) have not sat on this panel "
                f"(others excluded: {why}); add experts (`riskgate experts import`) or extend "
                f"the round (`riskgate case extend {case_id}`)")
        deadline = moment + timedelta(days=protocol.round_days)
        current.deadline_at = deadline
        rows: list[Any] = [current]
        notices: list[Notice] = []
        scored = set(latest_scores(session, case_id, current.round_no))
        for member in held:  # who still has to answer gets the round's new deadline too
            if member.expert_id in sitting_ids and member.expert_id not in scored:
                member.deadline_at, member.reminded_round = deadline, 0
                rows.append(member)
        chairless = not any(s.active and s.role == "chair" for s in held)
        seniority = {e.id: e.seniority for e in roster}
        for seat in sorted(seats, key=lambda s: -seniority.get(s.expert_id, 0)):
            role = "chair" if chairless else seat.role  # no chair left: the most senior chairs
            chairless = False
            row = PanelSeat(case_id=case_id, expert_id=seat.expert_id, role=role,
                            match=seat.match, reasons=list(seat.reasons), seated_at=moment,
                            called_at=moment, deadline_at=deadline)
            session.add(row)
            rows.append(row)
            change.called.append(seat.expert_id)
            notices.append(_notice(session, settings, "seated", case, row, deadline))
        claim(session, case, Event.PANEL_RESEATED, "staff")
        case.waiting_reason = ""
        session.add(case)
        session.flush()
        rows += notify.send(session, settings, notices, case_id=case_id, by=by)
        audit.append(db, session, actor=by, action=Event.PANEL_RESEATED.value, case_id=case_id,
                     rows=rows, detail={"round": current.round_no, "seated": change.called,
                                        "needed": needed, "at": moment.isoformat()})
    return change
