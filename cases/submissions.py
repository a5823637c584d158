"""What people submit to a waiting case: expert scores, lab results, more information.

Each submission is one transaction. It checks everything first (the case exists and is waiting
for exactly this, the expert holds a voting seat, …) so that a refused submission changes
nothing. When the submission completes what the case waits for, the same transaction claims the
transition with a compare-and-set on the case's state; only the caller that wins the claim starts
the continuation, so a late, duplicate or concurrent submission starts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from cases import audit
from cases.db import Database
from cases.errors import InvalidInput, NotFound, WrongState
from cases.models import Case, Expert, LabResult, PanelSeat, Score, ScoringRound, Signal, utcnow
from cases.signals import LabResultIn, SignalIn
from cases.store import require_case


@dataclass(frozen=True)
class Claim:
    """The result of a submission: `claimed` means this caller must start the continuation."""

    case_id: str
    claimed: bool
    key: str  # idempotency key of the continuation this claim may start


def _claim(session, case_id: str, waiting: str) -> bool:
    return session.exec(update(Case).where(Case.id == case_id, Case.state == waiting)
                        .values(state="active", updated_at=utcnow())).rowcount == 1


def _waiting_case(db: Database, session, case_id: str, waiting: str, what: str) -> Case:
    db.lock_case(session, case_id)
    case = require_case(session, case_id)
    if case.state != waiting:
        raise WrongState(f"case {case_id} is not waiting for {what} "
                         f"(state {case.state}, gate {case.gate})")
    return case


@dataclass(frozen=True)
class ScoreReceipt:
    case_id: str
    expert_id: str
    round_no: int
    submitted: int
    quorum: int
    change: str  # new | revised | unchanged
    claim: Claim


SCORE_FIELDS = ("severity", "band", "probability", "probability_exact", "measures", "rationale",
                "vulnerable_users", "spread", "confidence")


def record_score(db: Database, case_id: str, expert_id: str, record: dict, *,
                 actor: str) -> ScoreReceipt:
    """Store one expert's score for the case's open round (`record`: ScoreForm.to_record())."""
    with db.session() as session:
        if session.get(Expert, expert_id) is None:
            raise NotFound(f"unknown expert {expert_id}")
        case = _waiting_case(db, session, case_id, "awaiting_scores", "scores")
        round_no = case.scoring_round
        round_row = session.exec(select(ScoringRound).where(
            ScoringRound.case_id == case_id, ScoringRound.round_no == round_no)).first()
        if round_row is None or round_row.status != "open":
            raise WrongState(f"case {case_id} has no open scoring round")
        seat = session.exec(select(PanelSeat).where(
            PanelSeat.case_id == case_id, PanelSeat.expert_id == expert_id)).first()
        if seat is None:
            raise WrongState(f"expert {expert_id} is not on the panel of case {case_id}")
        if seat.role == "reserve":
            raise WrongState(f"expert {expert_id} is a reserve on case {case_id}; reserves "
                             "score only when called in to replace a member")
        values = {key: record[key] for key in SCORE_FIELDS}
        existing = session.exec(select(Score).where(
            Score.case_id == case_id, Score.round_no == round_no,
            Score.expert_id == expert_id)).first()
        if existing is None:
            change = "new"
            session.add(Score(case_id=case_id, round_no=round_no, expert_id=expert_id,
                              submitted_at=utcnow(), **values))
        elif all(getattr(existing, key) == value for key, value in values.items()):
            change = "unchanged"
        else:
            change = "revised"
            for key, value in values.items():
                setattr(existing, key, value)
            existing.revisions += 1
            existing.submitted_at = utcnow()
            session.add(existing)
        session.flush()
        submitted = len(session.exec(select(Score.id).where(
            Score.case_id == case_id, Score.round_no == round_no)).all())
        claimed = False
        if submitted >= round_row.quorum:
            claimed = _claim(session, case_id, "awaiting_scores")
            if claimed:
                round_row.status, round_row.closed_at = "closed", utcnow()
                session.add(round_row)
        if change != "unchanged":
            audit.append(db, session, actor=actor, action=f"score.{change}", case_id=case_id,
                         detail={"expert": expert_id, "round": round_no,
                                 "submitted": submitted, "quorum": round_row.quorum,
                                 "round_closed": claimed})
    return ScoreReceipt(case_id, expert_id, round_no, submitted, round_row.quorum, change,
                        Claim(case_id, claimed, f"{case_id}:scores:r{round_no}"))


def record_lab_results(db: Database, case_id: str, results: list[LabResultIn], *,
                       actor: str) -> Claim:
    if not results:
        raise InvalidInput("give at least one lab result")
    with db.session() as session:
        _waiting_case(db, session, case_id, "awaiting_lab", "lab results")
        now = utcnow()
        for result in results:
            session.add(LabResult(case_id=case_id, source="submitted", recorded_at=now,
                                  **result.model_dump()))
        claimed = _claim(session, case_id, "awaiting_lab")
        audit.append(db, session, actor=actor, action="lab.results", case_id=case_id,
                     detail={"items": [r.item for r in results]})
    return Claim(case_id, claimed, f"{case_id}:lab")


def add_information(db: Database, case_id: str, signal: SignalIn, *, actor: str) -> Claim:
    """A further signal answering triage's request for information; triage runs again."""
    try:
        with db.session() as session:
            case = _waiting_case(db, session, case_id, "awaiting_information",
                                 "more information")
            row = Signal(case_id=case_id, channel=signal.channel, reference=signal.reference,
                         received_at=signal.received_at, payload=signal.model_dump(mode="json"),
                         imported_at=utcnow())
            session.add(row)
            session.flush()
            claimed = _claim(session, case_id, "awaiting_information")
            audit.append(db, session, actor=actor, action="information.added", case_id=case_id,
                         detail={"signal": row.id, "reference": signal.reference})
            triage_round = case.triage_round
    except IntegrityError:
        raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already taken in") \
            from None
    return Claim(case_id, claimed, f"{case_id}:triage:r{triage_round + 1}")
