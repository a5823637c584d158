"""The follow-up plan of a disposal: one tracked action per measure, one notice per department.

Deadlines follow the case's triage priority. The plan is recorded with the follow-up gate; tracking
actions to completion (recall progress, delisting confirmed) is a later capability, so actions
are recorded as `open` and notices as `recorded` — nothing here claims to have been sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.domain import domain

DEADLINE_DAYS = {"P1": 3, "P2": 7, "P3": 15, "P4": 30}


def plan(measures: list[str], notify: list[str], priority: str | None,
         start: datetime) -> dict:
    days = DEADLINE_DAYS.get(priority or "P4", 30)
    vocab = domain().measures
    return {
        "deadline_days": days,
        "actions": [{"measure": code,
                     "lead": {"zh": vocab.attr(code, "lead_zh"), "en": vocab.attr(code, "lead_en")},
                     "due": (start + timedelta(days=days)).date().isoformat(),
                     "status": "open"} for code in measures],
        "notifications": [{"authority": code, "status": "recorded"} for code in notify],
    }
