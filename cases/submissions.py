"""What people submit to a waiting case: expert scores, lab results, more information.

Each submission is one transaction. It checks everything first (the case exists and is waiting
for exactly this, the expert holds a voting seat, the score answers the open round, …) so that a
refused submission changes nothing. When the submission completes what the case waits for, the
same transaction claims the lifecycle's transition (a compare-and-set on the case's gate and
state) and writes the continuation it owes to the outbox (cases/outbox.py); only the caller that
won the claim starts it, so a late, duplicate or concurrent submission starts nothing, and a
start that fails is retried by the sweeper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from cases import audit, lifecycle, names, outbox
from cases.commits import current_vocabulary
from cases.db import Database
from cases.errors import InvalidInput, NotFound, WrongState
from cases.lifecycle import Actor, Event
from cases.models import (
    VOTING_ROLES,
    Case,
    Expert,
    LabResult,
    PanelSeat,
    Score,
    ScoringRound,
    Signal,
    utcnow,
)
from cases.signals import LabResultIn, SignalIn
from cases.store import require_case
from rules.risk_matrix import LEVELS, level


@dataclass(frozen=True)
class Claim:
    """The result of a submission: `claimed` means this caller must start the continuation."""

    case_id: str
    claimed: bool
    key: str  # idempotency key of the continuation this claim may start
    continuation_id: int | None = None


def claim(session: Session, case: Case, event: Event, actor: Actor) -> lifecycle.Transition:
    """Move the case along a declared transition with a compare-and-set on (gate, state).
    The caller holds the case's lock, so the set succeeds when the read state matches."""
    step = lifecycle.transition(case.gate, case.state, event, actor)
    gate, state = step.source
    done = session.exec(update(Case).where(col(Case.id) == case.id, col(Case.gate) == gate,
                                           col(Case.state) == state)
                        .values(gate=step.target[0], state=step.target[1],
                                updated_at=utcnow())).rowcount
    if done != 1:
        raise WrongState(f"case {case.id} changed while {event.value} was being claimed")
    session.refresh(case)
    return step


def waiting_case(db: Database, session: Session, case_id: str, event: Event,
                  what: str) -> Case:
    """The case, locked, if it waits for what `event` completes; WrongState otherwise."""
    db.lock_case(session, case_id)
    case = require_case(session, case_id)
    waiting = next(t.source for t in lifecycle.TRANSITIONS if t.event == event)
    if (case.gate, case.state) != waiting:
        raise WrongState(f"case {case_id} is not waiting for {what} "
                         f"(state {case.state}, gate {case.gate})", code="not_waiting",
                         case_id=case_id, state=case.state, gate=case.gate)
    return case


@dataclass(frozen=True)
class ScoreReceipt:
    case_id: str
    expert_id: str
    round_no: int
    version: int
    submitted: int
    quorum: int
    change: str  # new | revised | unchanged
    claim: Claim


SCORE_FIELDS = ("severity", "band", "probability", "probability_exact", "measures", "rationale",
                "vulnerable_users", "spread", "confidence", "scenarios", "dissent")


def latest_scores(session: Session, case_id: str, round_no: int) -> dict[str, Score]:
    """Each expert's current (latest) version in a round."""
    newest = (select(Score.expert_id, func.max(Score.version).label("version"))
              .where(Score.case_id == case_id, Score.round_no == round_no)
              .group_by(col(Score.expert_id)).subquery())
    rows = session.exec(select(Score).join(newest, (col(Score.expert_id) == newest.c.expert_id)
                                           & (col(Score.version) == newest.c.version))
                        .where(Score.case_id == case_id, Score.round_no == round_no)).all()
    return {row.expert_id: row for row in rows}


def voting_experts(session: Session, case_id: str) -> set[str]:
    """Who votes on the case now: active chair and member seats (a reserve called in is a
    member; an expert who left — a declared conflict, no answer — votes no more)."""
    return set(session.exec(select(PanelSeat.expert_id).where(
        PanelSeat.case_id == case_id, col(PanelSeat.active).is_(True),
        col(PanelSeat.role).in_(VOTING_ROLES))).all())


class DissentRequired(InvalidInput):
    """An outlier's score without a dissent; carries what the form needs to say why."""

    def __init__(self, own: str, median: str, distance: int, round_no: int):
        super().__init__(f"you score {own} risk, {distance} levels from the panel's median "
                         f"of round {round_no - 1} ({median}): give your reasons as dissent "
                         "(they are recorded beside your score)")
        self.own, self.median, self.distance = own, median, distance


def require_dissent(session: Session, case_id: str, round_no: int, record: dict[str, Any],
                    protocol: Mapping[str, Any]) -> None:
    """An expert who scores as far from the previous round's median as an outlier is asked
    why; the reason is kept as their dissent (DESIGN: outliers are never dropped)."""
    if round_no < 2 or str(record.get("dissent") or "").strip():
        return
    previous = session.exec(select(ScoringRound).where(
        ScoringRound.case_id == case_id, ScoringRound.round_no == round_no - 1)).first()
    median = ((previous.result or {}) if previous else {}).get("median_level")
    if median not in LEVELS:
        return
    own = level(record["severity"], record["band"])
    distance = abs(LEVELS.index(own) - LEVELS.index(median))
    if distance >= int(protocol.get("outlier_distance", 2)):
        raise DissentRequired(own, median, distance, round_no)


def record_score(db: Database, case_id: str, expert_id: str, round_no: int,
                 record: dict[str, Any], *, actor: str) -> ScoreReceipt:
    """Store one expert's score for round `round_no` of the case (`record`:
    ScoreForm.to_record()). A score for any round but the open one is refused: an expert
    answers the round whose feedback they saw."""
    with db.session() as session:
        if session.get(Expert, expert_id) is None:
            raise NotFound(f"unknown expert {expert_id}")
        case = waiting_case(db, session, case_id, Event.SCORES_QUORUM, "scores")
        open_round = case.scoring_round
        if round_no != open_round:
            raise WrongState(f"case {case_id}: round {round_no} is "
                             + ("closed" if round_no < open_round else "not open")
                             + f"; the open round is {open_round} (read its feedback and score "
                             "it)")
        round_row = session.exec(select(ScoringRound).where(
            ScoringRound.case_id == case_id, ScoringRound.round_no == round_no)).first()
        if round_row is None or round_row.status != "open":
            raise WrongState(f"case {case_id} has no open scoring round")
        seat = session.exec(select(PanelSeat).where(
            PanelSeat.case_id == case_id, PanelSeat.expert_id == expert_id)).first()
        if seat is None:
            raise WrongState(f"expert {expert_id} is not on the panel of case {case_id}")
        if not seat.active:
            raise WrongState(f"expert {expert_id} left the panel of case {case_id} "
                             f"({seat.left_reason})")
        if seat.role == "reserve":
            raise WrongState(f"expert {expert_id} is a reserve on case {case_id}; reserves "
                             "score only when called in to replace a member")
        require_dissent(session, case_id, round_no, record, round_row.protocol)
        values: dict[str, Any] = {key: record[key] for key in SCORE_FIELDS}
        voters = voting_experts(session, case_id)
        current = {e: s for e, s in latest_scores(session, case_id, round_no).items()
                   if e in voters or e == expert_id}
        previous = current.get(expert_id)
        rows: list[Any] = []
        if previous is not None and all(getattr(previous, k) == v for k, v in values.items()):
            change, version = "unchanged", previous.version
        else:
            change = "new" if previous is None else "revised"
            version = 1 if previous is None else previous.version + 1
            score = Score(case_id=case_id, round_no=round_no, expert_id=expert_id,
                          version=version, submitted_at=utcnow(), **values)
            session.add(score)
            rows.append(score)
            current[expert_id] = score
        submitted = len(current)
        won: outbox.Owed | None = None
        if submitted >= round_row.quorum:
            claim(session, case, Event.SCORES_QUORUM, "expert")
            round_row.status, round_row.closed_at = "closed", utcnow()
            session.add(round_row)
            rows.append(round_row)
            won = outbox.owe(session, case_id, f"scores:r{round_no}", Event.SCORES_QUORUM.value)
        if rows:
            audit.append(db, session, actor=actor, action=f"score.{change}", case_id=case_id,
                         rows=rows,
                         detail={"expert": expert_id, "round": round_no, "version": version,
                                 "submitted": submitted, "quorum": round_row.quorum,
                                 "round_closed": won is not None})
    key = won.key if won else f"{case_id}:scores:r{round_no}"
    return ScoreReceipt(case_id, expert_id, round_no, version, submitted, round_row.quorum,
                        change, Claim(case_id, won is not None, key, won.id if won else None))


def record_lab_results(db: Database, case_id: str, results: list[LabResultIn], *,
                       actor: str) -> Claim:
    if not results:
        raise InvalidInput("give at least one lab result")
    with db.session() as session:
        case = waiting_case(db, session, case_id, Event.LAB_RESULTS, "lab results")
        now = utcnow()
        rows = [LabResult(case_id=case_id, source="submitted", recorded_at=now,
                          **result.model_dump()) for result in results]
        for row in rows:
            session.add(row)
        claim(session, case, Event.LAB_RESULTS, "staff")
        owed = outbox.owe(session, case_id, "lab", Event.LAB_RESULTS.value)
        audit.append(db, session, actor=actor, action="lab.results", case_id=case_id,
                     rows=rows, detail={"items": [r.item for r in results]})
    return Claim(case_id, True, owed.key, owed.id)


def signal_values(case_id: str, signal: SignalIn, vocabulary: str, *,
                  grouping: dict | None = None, import_id: str | None = None,
                  line: int | None = None) -> dict[str, Any]:
    """A stored signal's columns: the validated payload, its enterprise keys and its
    vocabulary, why it is in its case (cases/grouping.py) and, for an imported one, where it
    came from. (An import inserts these directly, cases/importer.py.)"""
    return {"case_id": case_id, "channel": signal.channel, "reference": signal.reference,
            "received_at": signal.received_at, "payload": signal.model_dump(mode="json"),
            "imported_at": utcnow(),
            "enterprise_code": names.code_key(signal.enterprise.credit_code),
            "enterprise_name": names.name_key(signal.enterprise.name),
            "vocabulary_sha256": vocabulary, "grouping": grouping, "import_id": import_id,
            "line": line}


def signal_row(session: Session, db: Database, case_id: str, signal: SignalIn, *,
               grouping: dict | None = None) -> Signal:
    """A stored signal (see `signal_values`)."""
    return Signal(**signal_values(case_id, signal, current_vocabulary(db, session),
                                  grouping=grouping))


def add_information(db: Database, case_id: str, signal: SignalIn, *, actor: str) -> Claim:
    """A further signal answering triage's request for information; triage runs again."""
    try:
        with db.session() as session:
            case = waiting_case(db, session, case_id, Event.INFORMATION_ADDED,
                                 "more information")
            duplicate = session.exec(select(Signal.case_id).where(
                Signal.channel == signal.channel, Signal.reference == signal.reference)).first()
            if duplicate is not None:
                raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already "
                                   f"taken in (case {duplicate})", code="duplicate",
                                   reference=signal.reference, case_id=duplicate)
            row = signal_row(session, db, case_id, signal)
            session.add(row)
            claim(session, case, Event.INFORMATION_ADDED, "staff")
            owed = outbox.owe(session, case_id, f"triage:r{case.triage_round + 1}",
                              Event.INFORMATION_ADDED.value)
            audit.append(db, session, actor=actor, action="information.added", case_id=case_id,
                         rows=[row], detail={"reference": signal.reference})
    except IntegrityError:
        raise InvalidInput(f"signal {signal.channel}/{signal.reference} was already taken in") \
            from None
    return Claim(case_id, True, owed.key, owed.id)


def launch(db: Database, case_id: str, *, actor: str, reason: str = "case.launched",
           only_if: Callable[[Session], bool] | None = None) -> Claim:
    """Staff launch (or relaunch) an active case's flow: owe it a run. A case that is waiting
    or closed is not launched; `claimed` is False then — and when `only_if`, asked in the same
    transaction, says no (the launch queue's claim of its place)."""
    with db.session() as session:
        db.lock_case(session, case_id)
        case = require_case(session, case_id)
        if not lifecycle.is_live(case.gate, case.state) \
                or (only_if is not None and not only_if(session)):
            return Claim(case_id, False, "")
        owed = outbox.owe(session, case_id, "launch", reason)
        audit.append(db, session, actor=actor, action="case.launched", case_id=case_id,
                     detail={"continuation": owed.key})
    return Claim(case_id, True, owed.key, owed.id)


def count_signals(session: Session, case_id: str) -> int:
    return session.exec(select(func.count()).select_from(Signal)
                        .where(Signal.case_id == case_id)).one()
