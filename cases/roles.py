"""Who may do what: the roles of accounts and the one table of what each action needs.

The web app's routes and the CLI's commands name an action from `ACTIONS`; the server checks the
signed-in account (or the CLI's `--as` account) against it, so both refuse exactly alike. A
person may hold several roles. Auditors read everything and change nothing: no changing action
lists them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Role = Literal["staff", "approver", "auditor", "admin"]
ROLES: dict[Role, str] = {
    "staff": "open cases, launch flows, describe injury scenarios, answer triage and the lab, "
             "manage panels, follow up",
    "approver": "approve or override disposals (never of a case they opened)",
    "auditor": "read everything, change nothing",
    "admin": "accounts and the expert roster",
}


class Action(StrEnum):
    READ_CASES = "cases.read"  # the console, case pages, reports, the credit file
    OPEN_CASE = "case.open"
    LAUNCH = "case.launch"
    DESCRIBE_SCENARIOS = "case.scenarios"
    ADD_INFORMATION = "case.information"
    REGROUP = "case.regroup"  # move a signal to another case, split a case
    ENTER_LAB = "case.lab"
    RETRY = "case.retry"
    MANAGE_PANEL = "panel.manage"  # seat experts, extend a round, expert links
    ENTER_SCORE = "score.enter"  # a score an expert gave outside the portal
    DECIDE_DISPOSAL = "disposal.decide"
    FOLLOW_UP = "follow_up.update"
    READ_AUDIT = "audit.read"  # the auditor view: verification, the audit log, replays
    MANAGE_ACCOUNTS = "accounts.manage"
    MANAGE_ROSTER = "roster.manage"


_READERS: frozenset[Role] = frozenset({"staff", "approver", "auditor"})
_STAFF: frozenset[Role] = frozenset({"staff"})
ACTIONS: dict[Action, frozenset[Role]] = {
    Action.READ_CASES: _READERS,
    Action.OPEN_CASE: _STAFF,
    Action.LAUNCH: _STAFF,
    Action.DESCRIBE_SCENARIOS: _STAFF,
    Action.ADD_INFORMATION: _STAFF,
    Action.REGROUP: _STAFF,
    Action.ENTER_LAB: _STAFF,
    Action.RETRY: _STAFF,
    Action.MANAGE_PANEL: _STAFF,
    Action.ENTER_SCORE: _STAFF,
    Action.DECIDE_DISPOSAL: frozenset({"approver"}),
    Action.FOLLOW_UP: _STAFF,
    Action.READ_AUDIT: frozenset({"auditor"}),
    Action.MANAGE_ACCOUNTS: frozenset({"admin"}),
    Action.MANAGE_ROSTER: frozenset({"admin"}),
}
assert set(ACTIONS) == set(Action)
# Actions that change nothing stored about a case (auditors may hold only these).
READING: frozenset[Action] = frozenset({Action.READ_CASES, Action.READ_AUDIT})
assert all("auditor" not in roles for action, roles in ACTIONS.items() if action not in READING)


def allows(roles: frozenset[str] | set[str] | list[str], action: Action) -> bool:
    return bool(ACTIONS[action] & set(roles))
