"""The demo's people at the centre: its accounts, and the simulated approver and staff who
decide disposals and complete follow-up actions through the same calls as the console's forms
(flows/submissions.py), so every role and four-eyes check applies to them as to anyone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cases import accounts, actions
from cases.accounts import Person
from cases.config import Settings
from cases.db import database
from flows.submissions import Submitted, decide_disposal, update_action
from rules.domain import domain

# name → roles; the demo resets their passwords on every run and prints them
DEMO_ACCOUNTS = {"demo-staff": ["staff"], "demo-approver": ["approver"],
                 "demo-auditor": ["auditor"], "demo-admin": ["admin"]}
DEMO_CREATOR = "riskgate demo"


@dataclass(frozen=True)
class DemoAccount:
    name: str
    roles: list[str]
    password: str


def demo_accounts(settings: Settings) -> dict[str, DemoAccount]:
    """Create the demo's accounts (or give them fresh passwords): staff, approver, auditor,
    admin."""
    db = database(settings.database_url)
    existing = {a.name for a in accounts.listing(db)}
    made: dict[str, DemoAccount] = {}
    for name, roles in DEMO_ACCOUNTS.items():
        password = secrets.token_urlsafe(12)
        if name not in existing:
            accounts.add(db, name, roles, by=DEMO_CREATOR, password=password)
        else:
            accounts.update(db, name, by=DEMO_CREATOR, roles=roles, password=password,
                            active=True)
        made[name] = DemoAccount(name, roles, password)
    return made


def person(name: str) -> Person:
    return Person(name, frozenset(DEMO_ACCOUNTS[name]))


def approve(settings: Settings, case_id: str) -> Submitted:
    """The simulated approver approves the proposal as it stands."""
    return decide_disposal(settings, case_id, person("demo-approver"))


SAMPLE_PROGRESS = {"count": "1200", "date": "2026-12-01",
                   "text": {"zh": "见附件（演示）", "en": "see the attachment (demo)"}}
RECOVERED = {"units_recovered": "1150"}
OUTCOME = {"zh": "演示：已按期办结", "en": "Demo: completed on time"}


def sample_update(measure: str, lang: str) -> dict:
    """A plausible completion of a measure's action (every progress field filled)."""
    vocab = domain()
    shown = "en" if lang == "en" else "zh"

    def sample(name: str) -> str:
        value = SAMPLE_PROGRESS[vocab.progress.attr(name, "kind")]
        return RECOVERED.get(name, value[shown] if isinstance(value, dict) else value)

    return {"status": "completed",
            "progress": {name: sample(name) for name in vocab.progress_fields(measure)},
            "outcome": OUTCOME[shown]}


def complete_follow_up(settings: Settings, case_id: str) -> Submitted | None:
    """Simulated staff complete each open action with plausible progress; the last one
    continues the case."""
    done: Submitted | None = None
    for action in actions.list_actions(database(settings.database_url), case_id):
        if action.status not in actions.FINAL:
            done = update_action(settings, case_id, action.number, person("demo-staff"),
                                 sample_update(action.measure, settings.lang))
    return done
