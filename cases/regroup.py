"""Staff correct intake's grouping: move a signal to another case, or split signals off a case.

Grouping (cases/intake.py, cases/grouping.py) is a rule, and a rule is sometimes wrong: two
reports on different products grouped as "similar", a report that belongs with an open case but
named the product differently. Staff move such a signal — to an open case, or to a new case
opened from it exactly as intake opens one — or split several signals off into one new case.

When it is allowed (docs/intake.md, "Moving signals and splitting cases"):

* both cases are still at intake or triage (`REGROUPABLE_GATES`, in any state there). Once
  triage routed a case on (lab test, panel, …, closed), its recorded decisions rest on its
  signals: moving evidence then would invalidate them, so it is refused with the reason;
* no flow run is advancing either case (its lease): the run would decide on the signals it
  read, so staff try again when it has finished;
* a case keeps at least one signal: RiskGate has no "withdrawn" case, and a case without
  signals would have nothing to triage. Moving the last signal is refused (split others off, or
  move signals into this case instead);
* a reason is given (plain text, 4 to 1,000 characters).

What it does, in one transaction: each signal's `case_id` and `grouping` (`how` moved or split,
`from`, `by`, `reason`, `at`); both cases' hazards recomputed from their signals; a case that
triage asked for more information (and so has a recorded triage decision) goes back to triage
through the lifecycle (`signals.regrouped`) and is owed a triage run; one audit event on each
case naming the person, with the signal rows (a moved signal's case is the one change the chain
allows on a signal, cases/records.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from cases import audit, lifecycle, outbox
from cases.accounts import Person, require
from cases.db import Database
from cases.errors import CaseBusy, FieldErrors, WrongState
from cases.intake import free_case_id, known_code, new_case
from cases.lifecycle import Event
from cases.models import Case, Signal, utcnow
from cases.roles import Action
from cases.signals import enterprise_key, product_key, stored_signal
from cases.store import require_case, vocabulary
from cases.submissions import Claim, claim
from cases.text import reason_text
from rules.domain import Lang

REGROUPABLE_GATES: tuple[str, ...] = ("intake", "triage")
MIN_REASON, MAX_REASON = 4, 1000
MAX_SPLIT = 1000  # signals split off at once


@dataclass(frozen=True)
class Regrouped:
    """What changed: the signals, the case they left and the case they joined."""

    how: str  # moved | split
    signal_ids: tuple[int, ...]
    from_case: str
    to_case: str
    new_case: bool
    hazards: dict[str, list[str]]  # each case's hazards after the change
    back_to_triage: tuple[str, ...] = ()  # cases that go back to triage
    claims: tuple[Claim, ...] = field(default=())  # their owed triage runs, to start

    def as_dict(self) -> dict[str, Any]:
        return {"how": self.how, "signals": list(self.signal_ids), "from_case": self.from_case,
                "to_case": self.to_case, "new_case": self.new_case, "hazards": self.hazards,
                "back_to_triage": list(self.back_to_triage),
                "continuations": [c.key for c in self.claims]}


def check_reason(reason: str) -> str:
    return reason_text(reason, least=MIN_REASON, most=MAX_REASON)


def move_signal(db: Database, signal_id: int, *, to_case: str | None, actor: Person,
                reason: str, from_case: str | None = None) -> Regrouped:
    """Move one signal to the open case `to_case`, or (None) to a new case opened from it.
    `from_case`, when given (the case page the form was on), must be the signal's case."""
    require(actor, Action.REGROUP)
    text = check_reason(reason)
    with db.session() as session:
        # an id past the store's integers is no signal (not an overflow in the driver)
        row = session.get(Signal, signal_id) if 0 < signal_id < 2**63 else None
        if row is None:
            raise FieldErrors({"signal": ("signal_unknown", {"signal": signal_id},
                                          f"no signal {signal_id}")})
        source_id = row.case_id
        if from_case is not None and source_id != from_case:
            raise FieldErrors({"signal": ("signal_elsewhere", {"signal": signal_id,
                                                               "case_id": from_case},
                                          f"signal {signal_id} is not in case {from_case}")})
        target_id = to_case.strip() if to_case is not None else None
        if target_id == "":
            raise FieldErrors({"to": ("case_needed", {},
                                      "give the id of the case to move it to")})
        if target_id is not None and target_id == source_id:
            raise FieldErrors({"to": ("same_case", {"case_id": source_id},
                                      f"signal {signal_id} is in case {source_id} already")})
        source, target = _locked(db, session, source_id, target_id)
        session.refresh(row)
        if row.case_id != source_id:
            raise WrongState(f"signal {signal_id} was moved to case {row.case_id} meanwhile; "
                             "reload and try again", code="moved_meanwhile",
                             case_id=row.case_id)
        return _regroup(db, session, "moved", source, [row], target, actor, text)


def split_case(db: Database, case_id: str, signal_ids: Sequence[int], *, actor: Person,
               reason: str) -> Regrouped:
    """Move the listed signals of a case together into one new case."""
    require(actor, Action.REGROUP)
    wanted = list(dict.fromkeys(signal_ids))
    if not wanted:
        raise FieldErrors({"signals": ("signals_none", {},
                                       "choose the signals to split off into a new case")})
    if len(wanted) > MAX_SPLIT:
        raise FieldErrors({"signals": ("signals_many", {"most": MAX_SPLIT},
                                       f"at most {MAX_SPLIT} signals at once")})
    text = check_reason(reason)
    with db.session() as session:
        source, _ = _locked(db, session, case_id, None)
        rows = {r.id: r for r in session.exec(select(Signal).where(
            col(Signal.id).in_(wanted))).all()}
        unknown = [i for i in wanted if i not in rows]
        if unknown:
            raise FieldErrors({"signals": ("signal_unknown", {"signal": unknown[0]},
                                           f"no signal {unknown[0]}")})
        elsewhere = [i for i in wanted if rows[i].case_id != case_id]
        if elsewhere:
            raise FieldErrors({"signals": (
                "signal_elsewhere", {"signal": elsewhere[0], "case_id": case_id},
                f"signal {elsewhere[0]} is not in case {case_id}")})
        return _regroup(db, session, "split", source, [rows[i] for i in sorted(wanted)], None,
                        actor, text)


# --------------------------------------------------------------------------------------------


def _locked(db: Database, session: Session, source_id: str,
            target_id: str | None) -> tuple[Case, Case | None]:
    """Both cases, locked in id order (two staff moving signals between the same two cases in
    opposite directions wait for each other instead of deadlocking), each checked open to
    regrouping."""
    for case_id in sorted({source_id, *([target_id] if target_id else [])}):
        db.lock_case(session, case_id)
    source = require_case(session, source_id)
    target = None
    if target_id is not None:
        target = session.get(Case, target_id)
        if target is None:
            raise FieldErrors({"to": ("case_unknown", {"case_id": target_id[:40]},
                                      f"no case {target_id[:40]}")})
    for case in (source, target):
        if case is not None:
            _check_open(case)
    return source, target


def _check_open(case: Case) -> None:
    if case.gate not in REGROUPABLE_GATES:
        what = "closed" if case.gate == lifecycle.CLOSED else f"at gate {case.gate}"
        raise WrongState(f"case {case.id} is {what}: signals move only while a case is at "
                         "intake or triage, before its triage decision sends it on (moving "
                         "evidence now would invalidate the decisions recorded on it)",
                         code="regroup_past_triage", case_id=case.id, gate=case.gate)
    if case.lease_owner and (case.lease_expires is None or case.lease_expires > utcnow()):
        raise CaseBusy(f"case {case.id} is being advanced by a flow run; try again when it has "
                       "finished (it waits for people or its run ends)", code="regroup_busy",
                       case_id=case.id)


def _regroup(db: Database, session: Session, how: str, source: Case, rows: list[Signal],
             target: Case | None, actor: Person, reason: str) -> Regrouped:
    moving = {r.id for r in rows}
    left = session.exec(select(Signal.id).where(Signal.case_id == source.id)).all()
    if not set(left) - moving:
        only = rows[0].id if len(rows) == 1 else None
        raise FieldErrors({"signals" if how == "split" else "signal": (
            "last_signal", {"case_id": source.id},
            (f"signal {only} is the only signal of case {source.id}" if only is not None
             else f"these are all the signals of case {source.id}")
            + ": a case keeps at least one signal (split the others off, or move signals "
              "into this case instead)")})
    now = utcnow()
    opened = target is None
    if target is None:
        target = _open_from(db, session, rows[0], source, actor, now)
    grouping = {"how": how, "from": source.id, "by": actor.actor, "reason": reason,
                "at": now.isoformat(timespec="seconds"),
                "why": f"{how} from case {source.id} by {actor.actor}: {reason}"}
    for row in rows:
        row.case_id, row.grouping = target.id, dict(grouping)
        session.add(row)
    session.flush()
    for case in (source, target):
        case.hazards = _hazards(session, case.id)
        case.updated_at = now
        session.add(case)
    session.flush()
    owed = [c for case in (source, target) for c in _back_to_triage(session, case)]
    ids = [r.id for r in rows if r.id is not None]
    detail = {"signals": ids, "references": [f"{r.channel}/{r.reference}" for r in rows],
              "reason": reason, "from": source.id, "to": target.id, "new_case": opened}
    back = {c.case_id: c.key for c in owed}

    def note(case: Case) -> dict[str, Any]:
        return {**detail, "hazards": list(case.hazards),
                **({"back_to_triage": back[case.id]} if case.id in back else {})}

    audit.append(db, session, actor=actor.actor, case_id=source.id, rows=rows,
                 action="case.split" if how == "split" else "signal.moved_out",
                 detail=note(source))
    audit.append(db, session, actor=actor.actor, case_id=target.id, rows=rows,
                 action="case.opened" if opened else "signal.moved_in", detail=note(target))
    return Regrouped(how, tuple(ids), source.id, target.id, opened,
                     {source.id: list(source.hazards), target.id: list(target.hazards)},
                     tuple(back), tuple(owed))


def _open_from(db: Database, session: Session, row: Signal, source: Case, actor: Person,
               now: datetime) -> Case:
    """A new case opened from a stored signal, as intake opens one (in the source's
    language)."""
    signal = stored_signal(row.payload, vocabulary(session, row.vocabulary_sha256))
    code = known_code(session, signal)
    lang: Lang = "en" if source.lang == "en" else "zh"
    case = new_case(free_case_id(session), signal, product_key(signal, code),
                    enterprise_key(signal, code), actor=actor.actor, lang=lang, now=now)
    session.add(case)
    session.flush()
    return case


def _hazards(session: Session, case_id: str) -> list[str]:
    """A case's hazards: its signals', in the order they came in (as intake grows them)."""
    payloads = session.exec(select(Signal.payload).where(Signal.case_id == case_id)
                            .order_by(col(Signal.id))).all()
    return list(dict.fromkeys(h for p in payloads for h in (p or {}).get("hazards", [])))


def _back_to_triage(session: Session, case: Case) -> list[Claim]:
    """A case triage already decided on (it asked for more information) whose signals
    changed goes back to triage and is owed a triage run."""
    if lifecycle.source_of(Event.SIGNALS_REGROUPED, case.gate) != (case.gate, case.state):
        return []
    claim(session, case, Event.SIGNALS_REGROUPED, "staff")
    owed = outbox.owe(session, case.id, f"triage:r{case.triage_round + 1}",
                      Event.SIGNALS_REGROUPED.value)
    return [Claim(case.id, True, owed.key, owed.id)]


def targets(db: Database, *, except_case: str, limit: int = 50) -> list[tuple[str, str]]:
    """Open cases a signal could be moved to (id, title), newest first: the console's list."""
    with db.read_session() as session:
        rows = session.exec(select(Case.id, Case.title).where(
            col(Case.gate).in_(REGROUPABLE_GATES), Case.id != except_case)
            .order_by(col(Case.created_at).desc()).limit(limit)).all()
    return [(case_id, title) for case_id, title in rows]


def regroupable(case: Case) -> bool:
    """Whether the case page offers moving and splitting (the store checks again)."""
    return case.gate in REGROUPABLE_GATES

