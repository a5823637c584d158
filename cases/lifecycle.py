"""Gates and states of a case: the state machine, as pure data and functions.

A case is always at one gate (the next to complete, or "closed") in one state:

    active                 a flow run may advance it now
    awaiting_lab           lab test commissioned, results not yet entered
    awaiting_scores        a scoring round is open; experts are scoring
    awaiting_information   triage asked for more information
    closed                 done

Only `active` cases are advanced by flows. A person's action (scores reaching the quorum, lab
results, more information) moves a waiting case back to `active` with one compare-and-set and
starts the continuation: no process ever waits for a person.
"""

from __future__ import annotations

from typing import Literal

Gate = Literal["intake", "triage", "lab_test", "panel", "assessment", "disposal", "follow_up",
               "closure"]
GATES: tuple[Gate, ...] = ("intake", "triage", "lab_test", "panel", "assessment", "disposal",
                           "follow_up", "closure")
CLOSED = "closed"

State = Literal["active", "awaiting_lab", "awaiting_scores", "awaiting_information", "closed"]

# Where the case goes after triage, by the triage decision's next gate.
AFTER_TRIAGE: dict[str, tuple[Gate, State]] = {
    "close": ("closure", "active"),
    "more_info": ("triage", "awaiting_information"),
    "lab_test": ("lab_test", "active"),
    "fast_track": ("panel", "active"),
    "expert_panel": ("panel", "active"),
}
# Straight successors of the other gates.
NEXT_GATE: dict[Gate, Gate | str] = {
    "intake": "triage",
    "lab_test": "panel",
    "panel": "assessment",
    "assessment": "disposal",
    "disposal": "follow_up",
    "follow_up": "closure",
    "closure": CLOSED,
}


def after_triage(next_gate: str) -> tuple[Gate, State]:
    try:
        return AFTER_TRIAGE[next_gate]
    except KeyError:
        raise ValueError(f"unknown triage next gate {next_gate!r}") from None


def successor(gate: Gate) -> tuple[str, State]:
    """(gate, state) after completing a gate that has one fixed successor."""
    following = NEXT_GATE[gate]
    return following, ("closed" if following == CLOSED else "active")


def gate_number(gate: str) -> int:
    """1-based position, used to order report files (01-intake.docx …)."""
    return GATES.index(gate) + 1  # type: ignore[arg-type]
