"""The sweeper: takes up every hand-over left behind. It runs as a scheduled deployment
(flows/sweep_flow.py, prefect.yaml), once when the runner starts (flows/runner.py) and on
demand (`riskgate sweep`). What it decides is in cases/sweeping.py; this module asks Prefect
what it needs and starts the runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cases import actions, approvals, lease, mail, outbox, panel_changes, store, sweeping
from cases.config import Settings
from cases.db import database
from cases.lifecycle import Event
from cases.models import utcnow
from cases.panels import could_seat
from flows.handover import start_owed
from flows.intake_launch import launch_queued
from flows.launcher import run_states


@dataclass
class Swept:
    started: list[str] = field(default_factory=list)  # continuation keys started
    unreachable: list[str] = field(default_factory=list)  # still owed: Prefect did not answer
    retaken: list[str] = field(default_factory=list)  # case ids whose dead run was replaced
    panels_retried: list[str] = field(default_factory=list)
    handed_to_staff: list[str] = field(default_factory=list)  # runs kept failing
    reminded: list[str] = field(default_factory=list)  # "case:expert" reminded of a deadline
    replaced: list[str] = field(default_factory=list)  # "case:expert" left after the deadline
    reserves_called: list[str] = field(default_factory=list)  # "case:expert"
    rounds_closed: list[str] = field(default_factory=list)  # case ids, deadline with quorum
    quorum_lost: list[str] = field(default_factory=list)  # case ids now waiting for staff
    approvals_escalated: list[str] = field(default_factory=list)  # case ids, approval overdue
    actions_overdue: list[str] = field(default_factory=list)  # "case:number" flagged overdue
    queued_launched: list[str] = field(default_factory=list)  # import cases launched in turn
    mail_sent: int = 0
    mail_failed: int = 0

    def to_dict(self) -> dict:
        return {"started": self.started, "unreachable": self.unreachable,
                "retaken": self.retaken, "panels_retried": self.panels_retried,
                "handed_to_staff": self.handed_to_staff, "reminded": self.reminded,
                "replaced": self.replaced, "reserves_called": self.reserves_called,
                "rounds_closed": self.rounds_closed, "quorum_lost": self.quorum_lost,
                "approvals_escalated": self.approvals_escalated,
                "actions_overdue": self.actions_overdue,
                "queued_launched": self.queued_launched, "mail_sent": self.mail_sent,
                "mail_failed": self.mail_failed}


Starter = Callable[[Settings, outbox.Owed], str | None]
States = Callable[[list[str]], dict[str, str]]


def start_once(settings: Settings, owed: outbox.Owed) -> str | None:
    return start_owed(settings, owed, attempts=1)


def sweep_once(settings: Settings, *, start: Starter = start_once,
               states_of: States = run_states, now: datetime | None = None,
               via: mail.Transport | None = None) -> Swept:
    """One sweep. `start` and `states_of` talk to Prefect, `now` is the clock for deadlines
    and `via` the mail transport; tests of the decisions alone give their own."""
    db = database(settings.database_url)
    swept = Swept()

    def _start(settings: Settings, owed: outbox.Owed, swept: Swept) -> None:
        if start(settings, owed):
            swept.started.append(owed.key)
        else:
            swept.unreachable.append(owed.key)

    for owed in outbox.unstarted(db):
        _start(settings, owed, swept)

    active = sweeping.active_cases(db)
    wanted = [i for c in active for i in (c.latest.flow_run_id if c.latest else None,
                                          lease.holder_run(c.lease_owner)) if i]
    states = states_of(wanted) if wanted else {}
    moment = now or utcnow()
    for case in active:
        retake = sweeping.retake_for(case, states.get, moment)
        if retake is None:
            continue
        claim = sweeping.owe_retake(db, retake)
        if claim is not None and not claim.claimed:
            swept.handed_to_staff.append(case.case_id)
        elif claim is not None and claim.continuation_id is not None:
            swept.retaken.append(case.case_id)
            _start(settings, outbox.Owed(claim.continuation_id, case.case_id, claim.key,
                                         "sweeper.retake", None, 0), swept)

    for case_id in sweeping.cases_waiting_for_staff(db, "panel"):
        dossier = store.load_dossier(db, case_id)
        if dossier.case.waiting_reason.startswith(sweeping.RUNS_FAILED_PREFIX) \
                or not could_seat(db, dossier):
            continue  # a case handed over after failing runs waits for staff themselves
        claim = sweeping.retry(db, case_id, actor=sweeping.SWEEPER_ACTOR, by="sweeper",
                               why="enough eligible experts again")
        if claim is not None and claim.continuation_id is not None:
            swept.panels_retried.append(case_id)
            _start(settings, outbox.Owed(claim.continuation_id, case_id, claim.key,
                                         Event.RETRY.value, None, 0), swept)

    for change in panel_changes.sweep_deadlines(db, settings, moment):
        swept.reminded += [f"{change.case_id}:{e}" for e in change.reminded]
        swept.replaced += [f"{change.case_id}:{e}" for e in change.left]
        swept.reserves_called += [f"{change.case_id}:{e}" for e in change.called]
        if change.quorum_lost:
            swept.quorum_lost.append(change.case_id)
        closed = change.closed_round
        if closed is not None and closed.continuation_id is not None:
            swept.rounds_closed.append(change.case_id)
            _start(settings, outbox.Owed(closed.continuation_id, change.case_id, closed.key,
                                         Event.SCORES_QUORUM.value, None, 0), swept)

    swept.queued_launched = [case_id for case_id, _ in
                             launch_queued(settings, start=start).started]

    swept.approvals_escalated = approvals.escalate_overdue(db, moment)
    swept.actions_overdue = actions.flag_overdue(db, moment)

    delivered = mail.deliver(db, settings, via=via)
    swept.mail_sent, swept.mail_failed = delivered.sent, delivered.failed
    return swept
