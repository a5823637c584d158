"""The case lifecycle: every state, gate and transition of a case, declared once.

A case is at one gate (the next to complete, or `closed`) in one state. `TRANSITIONS` is the
whole lifecycle: each row is (source gate and state, event, target gate and state, who may cause
it). Every change of a case's gate or state goes through `transition()` — gate commits
(cases/commits.py), people's submissions (cases/submissions.py) and the sweeper
(cases/sweeping.py) — and an undeclared one is refused with nothing written. The database
constrains the states and gates to these tables too (cases/models.py, the migrations), and
docs/lifecycle.md is generated from here (`python -m cases.lifecycle`; a test keeps it fresh).

A later wait (disposal approval, deadlines, reserves) is one more state in STATES and a few more
rows in TRANSITIONS, plus the migration that widens the database's constraint on states (a test
compares the constraint with STATES): gate code names events, never states.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from cases.errors import WrongState

Gate = Literal["intake", "triage", "lab_test", "panel", "assessment", "disposal", "follow_up",
               "closure", "closed"]
# In order; "closed" is where a case is once it has passed closure.
GATES: tuple[Gate, ...] = ("intake", "triage", "lab_test", "panel", "assessment", "disposal",
                           "follow_up", "closure", "closed")
WORK_GATES: tuple[Gate, ...] = GATES[:-1]  # the gates that have a step and a report
CLOSED: Gate = "closed"

State = Literal["active", "awaiting_lab", "awaiting_scores", "awaiting_information",
                "awaiting_panel", "awaiting_staff", "awaiting_approval", "awaiting_actions",
                "closed"]
STATES: dict[State, str] = {
    "active": "a flow run may advance it now",
    "awaiting_lab": "lab test commissioned, results not yet entered",
    "awaiting_scores": "a scoring round is open; experts are scoring",
    "awaiting_information": "triage asked for more information",
    "awaiting_panel": "the open round can no longer reach its quorum (experts left or did not "
                      "answer, no reserve is left): staff seat experts or extend the round",
    "awaiting_staff": "the gate cannot go on by itself (e.g. no eligible panel); staff must act "
                      "or the sweeper retries when the reason is gone",
    "awaiting_approval": "the disposal rulebook proposed measures; an approver who did not open "
                         "the case approves them or overrides them with a justification",
    "awaiting_actions": "each measure is a follow-up action; the case goes on when every action "
                        "is completed or staff close the follow-up with a reason",
    "closed": "done",
}
ACTIVE: State = "active"

# Who may cause a transition: the case's flow run, an expert's score, risk-centre staff or an
# approver (accounts with those roles, cases/roles.py; from the console or the CLI's --as), or
# the sweeper deployment.
Actor = Literal["flow", "expert", "staff", "approver", "sweeper"]
ACTORS: tuple[Actor, ...] = ("flow", "expert", "staff", "approver", "sweeper")


class Event(StrEnum):
    INTAKE_DONE = "intake.done"
    TRIAGE_CLOSE = "triage.close"
    TRIAGE_MORE_INFO = "triage.more_info"
    TRIAGE_LAB_TEST = "triage.lab_test"
    TRIAGE_FAST_TRACK = "triage.fast_track"
    TRIAGE_EXPERT_PANEL = "triage.expert_panel"
    INFORMATION_ADDED = "information.added"
    SIGNALS_REGROUPED = "signals.regrouped"
    LAB_COMMISSIONED = "lab.commissioned"
    LAB_RESULTS = "lab.results"
    LAB_DONE = "lab.done"
    PANEL_SEATED = "panel.seated"
    PANEL_UNAVAILABLE = "panel.unavailable"
    SCORES_QUORUM = "scores.quorum"
    QUORUM_LOST = "round.quorum_lost"
    ROUND_EXTENDED = "round.extended"
    PANEL_RESEATED = "panel.reseated"
    ASSESSMENT_NEXT_ROUND = "assessment.next_round"
    ASSESSMENT_DONE = "assessment.done"
    DISPOSAL_PROPOSED = "disposal.proposed"
    DISPOSAL_APPROVED = "disposal.approved"
    DISPOSAL_OVERRIDDEN = "disposal.overridden"
    DISPOSAL_DONE = "disposal.done"
    FOLLOW_UP_TRACKING = "follow_up.tracking"
    ACTIONS_COMPLETED = "follow_up.actions_completed"
    FOLLOW_UP_CLOSED = "follow_up.closed_by_staff"
    FOLLOW_UP_DONE = "follow_up.done"
    CLOSURE_DONE = "closure.done"
    RUNS_FAILED = "case.runs_failed"
    RETRY = "case.retry"


@dataclass(frozen=True)
class Transition:
    """One declared transition. `completes` means the source gate is done (a gate record and
    its report are written with it); `route` is the triage outcome (`next_gate`) that picks
    it, for the triage rows."""

    source: tuple[Gate, State]
    event: Event
    target: tuple[Gate, State]
    by: frozenset[Actor]
    completes: bool = False
    route: str | None = None

    @property
    def name(self) -> str:
        return self.event.value


FAST_TRACK = "fast_track"  # the triage route of a presumed serious risk (interim warning)


def _row(source: tuple[Gate, State], event: Event, target: tuple[Gate, State],
         *by: Actor, completes: bool = False, route: str | None = None) -> Transition:
    return Transition(source, event, target, frozenset(by), completes, route)


TRANSITIONS: tuple[Transition, ...] = (
    _row(("intake", "active"), Event.INTAKE_DONE, ("triage", "active"), "flow", completes=True),
    # triage routes the case by its decision's next gate (the rulebook's `next_gate` outcome)
    _row(("triage", "active"), Event.TRIAGE_CLOSE, ("closure", "active"), "flow",
         completes=True, route="close"),
    _row(("triage", "active"), Event.TRIAGE_MORE_INFO, ("triage", "awaiting_information"),
         "flow", completes=True, route="more_info"),
    _row(("triage", "active"), Event.TRIAGE_LAB_TEST, ("lab_test", "active"), "flow",
         completes=True, route="lab_test"),
    _row(("triage", "active"), Event.TRIAGE_FAST_TRACK, ("panel", "active"), "flow",
         completes=True, route=FAST_TRACK),
    _row(("triage", "active"), Event.TRIAGE_EXPERT_PANEL, ("panel", "active"), "flow",
         completes=True, route="expert_panel"),
    _row(("triage", "awaiting_information"), Event.INFORMATION_ADDED, ("triage", "active"),
         "staff"),
    # staff moved a signal into or out of the case (cases/regroup.py): triage decides again
    _row(("triage", "awaiting_information"), Event.SIGNALS_REGROUPED, ("triage", "active"),
         "staff"),
    _row(("lab_test", "active"), Event.LAB_COMMISSIONED, ("lab_test", "awaiting_lab"), "flow"),
    _row(("lab_test", "awaiting_lab"), Event.LAB_RESULTS, ("lab_test", "active"), "staff"),
    _row(("lab_test", "active"), Event.LAB_DONE, ("panel", "active"), "flow", completes=True),
    _row(("panel", "active"), Event.PANEL_SEATED, ("assessment", "awaiting_scores"), "flow",
         completes=True),
    _row(("panel", "active"), Event.PANEL_UNAVAILABLE, ("panel", "awaiting_staff"), "flow"),
    _row(("assessment", "awaiting_scores"), Event.SCORES_QUORUM, ("assessment", "active"),
         "expert", "sweeper"),  # the quorum's last score; or its deadline, quorum in
    _row(("assessment", "awaiting_scores"), Event.QUORUM_LOST, ("assessment", "awaiting_panel"),
         "sweeper"),
    _row(("assessment", "awaiting_panel"), Event.ROUND_EXTENDED,
         ("assessment", "awaiting_scores"), "staff"),
    _row(("assessment", "awaiting_panel"), Event.PANEL_RESEATED,
         ("assessment", "awaiting_scores"), "staff"),  # staff seat experts from the roster
    _row(("assessment", "active"), Event.ASSESSMENT_NEXT_ROUND,
         ("assessment", "awaiting_scores"), "flow"),
    _row(("assessment", "active"), Event.ASSESSMENT_DONE, ("disposal", "active"), "flow",
         completes=True),
    # four-eyes: the rulebook proposes, an approver (not the opener) decides, the gate completes
    _row(("disposal", "active"), Event.DISPOSAL_PROPOSED, ("disposal", "awaiting_approval"),
         "flow"),
    _row(("disposal", "awaiting_approval"), Event.DISPOSAL_APPROVED, ("disposal", "active"),
         "approver"),
    _row(("disposal", "awaiting_approval"), Event.DISPOSAL_OVERRIDDEN, ("disposal", "active"),
         "approver"),
    _row(("disposal", "active"), Event.DISPOSAL_DONE, ("follow_up", "active"), "flow",
         completes=True),
    # each measure a tracked action; the last completed, or staff closing with a reason, ends it
    _row(("follow_up", "active"), Event.FOLLOW_UP_TRACKING, ("follow_up", "awaiting_actions"),
         "flow"),
    _row(("follow_up", "awaiting_actions"), Event.ACTIONS_COMPLETED, ("follow_up", "active"),
         "staff"),
    _row(("follow_up", "awaiting_actions"), Event.FOLLOW_UP_CLOSED, ("follow_up", "active"),
         "staff"),
    _row(("follow_up", "active"), Event.FOLLOW_UP_DONE, ("closure", "active"), "flow",
         completes=True),
    _row(("closure", "active"), Event.CLOSURE_DONE, ("closed", "closed"), "flow",
         completes=True),
    # At any gate: a case whose runs keep failing the same way (a bug, a rulebook edited without
    # a new version) is handed to staff instead of being retried forever; staff (or the
    # sweeper, once the reason is gone: experts free for a panel) take it up again.
    *(_row((gate, "active"), Event.RUNS_FAILED, (gate, "awaiting_staff"), "sweeper")
      for gate in WORK_GATES),
    *(_row((gate, "awaiting_staff"), Event.RETRY, (gate, "active"), "staff", "sweeper")
      for gate in WORK_GATES),
)
INITIAL: tuple[Gate, State] = ("intake", "active")  # where `case.opened` puts a new case

_BY_SOURCE_EVENT = {(t.source, t.event): t for t in TRANSITIONS}
TRIAGE_ROUTES: dict[str, Transition] = {t.route: t for t in TRANSITIONS if t.route}


class IllegalTransition(WrongState):
    """A transition the lifecycle does not declare, or by someone who may not cause it."""


def transition(gate: str, state: str, event: Event, actor: Actor) -> Transition:
    """The declared transition for `event` from (gate, state), if `actor` may cause it."""
    row = _BY_SOURCE_EVENT.get(((gate, state), event))  # type: ignore[arg-type]
    if row is None:
        allowed = [t.name for t in TRANSITIONS if t.source == (gate, state)]
        raise IllegalTransition(
            f"{event.value} is not a transition of a case at gate {gate} in state {state} "
            f"(declared from there: {', '.join(allowed) or 'none'})")
    if actor not in row.by:
        raise IllegalTransition(f"{event.value} is caused by {' or '.join(sorted(row.by))}, "
                                f"not by {actor}")
    return row


def source_of(event: Event, gate: str) -> tuple[Gate, State] | None:
    """The (gate, state) from which `event` leaves a case at `gate`, if it is declared."""
    return next((t.source for t in TRANSITIONS if t.event == event and t.source[0] == gate),
                None)


def triage_route(next_gate: str) -> Transition:
    """The transition a triage decision's next gate picks."""
    try:
        return TRIAGE_ROUTES[next_gate]
    except KeyError:
        raise ValueError(f"unknown triage next gate {next_gate!r}; expected one of "
                         + ", ".join(TRIAGE_ROUTES)) from None


def routes_to_assessment(next_gate: str) -> bool:
    """Whether a triage route leads on towards the panel's assessment (and then disposal)."""
    target_gate = triage_route(next_gate).target[0]
    return GATES.index("triage") < GATES.index(target_gate) <= GATES.index("assessment")


def gate_number(gate: str) -> int:
    """1-based position, used to order report files (01-intake.docx …)."""
    return GATES.index(gate) + 1


def is_live(gate: str, state: str) -> bool:
    """A case a flow run may advance now."""
    return state == ACTIVE and gate != CLOSED


def pairs() -> tuple[tuple[Gate, State], ...]:
    """Every (gate, state) a case can be in, in order of first appearance."""
    seen: dict[tuple[Gate, State], None] = {}
    for t in TRANSITIONS:
        seen.setdefault(t.source)
        seen.setdefault(t.target)
    return tuple(seen)


# --------------------------------------------------------------------------------------------
# the diagram in docs/lifecycle.md


def _node(pair: tuple[str, str]) -> str:
    return f"{pair[0]}_{pair[1]}"


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram (GitHub renders it)."""
    lines = ["stateDiagram-v2", "    direction TB"]
    for gate, state in pairs():
        lines.append(f"    {_node((gate, state))} : {gate} · {state}")
    lines.append(f"    [*] --> {_node(INITIAL)} : case.opened [staff]")
    for t in TRANSITIONS:
        by = ", ".join(a for a in ACTORS if a in t.by)
        done = " ✓" if t.completes else ""
        lines.append(f"    {_node(t.source)} --> {_node(t.target)} : {t.name}{done} [{by}]")
    lines.append(f"    {_node(('closed', 'closed'))} --> [*]")
    return "\n".join(lines)


def document() -> str:
    """docs/lifecycle.md, generated: do not edit by hand."""
    states = "\n".join(f"| `{name}` | {meaning} |" for name, meaning in STATES.items())
    rows = "\n".join(
        f"| {t.source[0]} · {t.source[1]} | `{t.name}` | {t.target[0]} · {t.target[1]} | "
        f"{', '.join(a for a in ACTORS if a in t.by)} | {'yes' if t.completes else ''} |"
        for t in TRANSITIONS)
    return (
        "# The case lifecycle\n\n"
        "<!-- Generated by `python -m cases.lifecycle > docs/lifecycle.md` from\n"
        "     cases/lifecycle.py; tests/cases/test_lifecycle.py fails when it is stale. -->\n\n"
        "Every state a case can be in and every transition between them. A case is at one gate\n"
        "(the next to complete) in one state; ✓ marks a transition that completes its gate\n"
        "(a gate record and a report are written with it). In brackets: who may cause it.\n\n"
        f"```mermaid\n{mermaid()}\n```\n\n"
        f"| state | meaning |\n| --- | --- |\n{states}\n\n"
        "| from (gate · state) | event | to (gate · state) | caused by | completes the gate |\n"
        f"| --- | --- | --- | --- | --- |\n{rows}\n")


if __name__ == "__main__":
    sys.stdout.write(document())
