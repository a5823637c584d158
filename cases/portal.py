"""What the expert portal lets one expert see: their own assignments and, for a case they vote
on, its dossier — never another expert's score in an open round.

Every query here is scoped by the expert first, so a page cannot reach what the expert may not:
a case the expert has no seat on, a seat they left, or a reserve seat that was not called in
reads as "no such assignment" (the same answer whether the case exists or not). Group results
of earlier rounds appear only as the anonymised feedback the next round opened with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cases.db import Database
from cases.errors import NotFound
from cases.models import (
    VOTING_ROLES,
    Case,
    Expert,
    InjuryScenario,
    LabResult,
    PanelSeat,
    RuleDecision,
    Score,
    ScoringRound,
    Signal,
)
from cases.panels import why_left


@dataclass(frozen=True)
class Assignment:
    case_id: str
    title: str
    role: str
    active: bool
    left_reason: str  # as stored; `left` is its kind and detail for the page
    round_no: int
    round_open: bool
    deadline_at: datetime | None
    submitted_version: int | None  # my latest version in the open round
    state: str

    @property
    def left(self) -> tuple[str, str]:
        return why_left(self.left_reason)

    @property
    def can_open(self) -> bool:
        return self.active and self.role in VOTING_ROLES


def _expert(session: Session, expert_id: str) -> Expert:
    expert = session.get(Expert, expert_id)
    if expert is None:
        raise NotFound(f"unknown expert {expert_id}")
    return expert


def _open_round(session: Session, case: Case) -> ScoringRound | None:
    return session.exec(select(ScoringRound).where(
        ScoringRound.case_id == case.id, ScoringRound.round_no == case.scoring_round,
        ScoringRound.status == "open")).first()


def _own_versions(session: Session, case_id: str, expert_id: str,
                  round_no: int) -> list[Score]:
    return list(session.exec(select(Score).where(
        Score.case_id == case_id, Score.expert_id == expert_id, Score.round_no == round_no)
        .order_by(col(Score.version))).all())


def assignments(db: Database, expert_id: str) -> list[Assignment]:
    """Every seat the expert holds or held, newest case first."""
    found: list[Assignment] = []
    with db.read_session() as session:
        _expert(session, expert_id)
        seats = session.exec(select(PanelSeat).where(PanelSeat.expert_id == expert_id)
                             .order_by(col(PanelSeat.id).desc())).all()
        for seat in seats:
            case = session.get(Case, seat.case_id)
            if case is None:
                continue
            current = _open_round(session, case)
            versions = (_own_versions(session, case.id, expert_id, current.round_no)
                        if current else [])
            found.append(Assignment(
                case.id, case.title, seat.role, seat.active, seat.left_reason,
                case.scoring_round, current is not None,
                seat.deadline_at if current else None,
                versions[-1].version if versions else None, case.state))
    return found


@dataclass(frozen=True)
class ExpertView:
    """One case as a voting expert sees it."""

    case: Case
    seat: PanelSeat
    signals: list[dict[str, Any]]
    lab_results: list[LabResult]
    triage: RuleDecision | None
    scenarios: list[InjuryScenario]
    open_round: ScoringRound | None
    feedback: list[dict[str, Any]]  # the anonymised feedback of each earlier round
    my_versions: list[Score]  # mine, in the open round, oldest first
    my_previous: Score | None  # mine, in the round before the open one

    @property
    def latest(self) -> Score | None:
        return self.my_versions[-1] if self.my_versions else None


def seat_of(session: Session, case_id: str, expert_id: str) -> PanelSeat:
    """The expert's voting seat on the case; NotFound for every other situation alike."""
    seat = session.exec(select(PanelSeat).where(PanelSeat.case_id == case_id,
                                                PanelSeat.expert_id == expert_id)).first()
    if seat is None or not seat.active or seat.role not in VOTING_ROLES:
        raise NotFound(f"no assignment {case_id} for expert {expert_id}")
    return seat


@dataclass(frozen=True)
class FormTarget:
    """What a score post needs to know about the case: the open round and the scenarios."""

    round_no: int | None  # None: no round is open
    scenarios: list[int]


def form_target(db: Database, expert_id: str, case_id: str) -> FormTarget:
    """The open round and scenario numbers of a case the expert sits on (NotFound as in
    expert_view): a score post reads this much, not the whole dossier."""
    with db.read_session() as session:
        seat_of(session, case_id, expert_id)
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no assignment {case_id} for expert {expert_id}")
        current = _open_round(session, case)
        numbers = list(session.exec(select(InjuryScenario.number).where(
            InjuryScenario.case_id == case_id).order_by(col(InjuryScenario.number))).all())
        return FormTarget(current.round_no if current else None, numbers)


def expert_view(db: Database, expert_id: str, case_id: str) -> ExpertView:
    with db.read_session() as session:
        _expert(session, expert_id)
        seat = seat_of(session, case_id, expert_id)
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no assignment {case_id} for expert {expert_id}")
        signals = [row.payload for row in session.exec(
            select(Signal).where(Signal.case_id == case_id).order_by(col(Signal.id))).all()]
        lab = list(session.exec(select(LabResult).where(LabResult.case_id == case_id)
                                .order_by(col(LabResult.id))).all())
        triage = session.exec(select(RuleDecision).where(
            RuleDecision.case_id == case_id, RuleDecision.gate == "triage")
            .order_by(col(RuleDecision.round).desc())).first()
        scenarios = list(session.exec(select(InjuryScenario).where(
            InjuryScenario.case_id == case_id).order_by(col(InjuryScenario.number))).all())
        current = _open_round(session, case)
        rounds = session.exec(select(ScoringRound).where(ScoringRound.case_id == case_id)
                              .order_by(col(ScoringRound.round_no))).all()
        feedback = [r.feedback for r in rounds if r.feedback]
        mine = _own_versions(session, case_id, expert_id, case.scoring_round) if current else []
        previous = _own_versions(session, case_id, expert_id, case.scoring_round - 1)
        for row in (seat, case, *lab, *scenarios, *rounds, *mine, *previous):
            session.expunge(row)
        if triage is not None:
            session.expunge(triage)
        return ExpertView(case, seat, signals, lab, triage, scenarios, current, feedback,
                          mine, previous[-1] if previous else None)
