"""Intake (受理): the case's signals merged into one profile, and the intake report (for an
escalation case, with the pattern and the cases behind it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from cases import escalation
from cases.commits import GateCommit
from cases.db import Database
from cases.facts import Profile, merge_signals
from cases.lifecycle import Event
from cases.store import Dossier
from flows.gates.common import StepContext, StepResult, commit, write_report


def outcome_of(d: Dossier, profile: Profile) -> dict[str, Any]:
    """What the intake gate records (here, and for an import's cases in bulk)."""
    return {"signals": len(d.signals), "channel": profile.channel,
            "missing_info": profile.missing_info}


def report_context(db: Database, d: Dossier) -> dict[str, Any]:
    """The intake report's content, from what is stored (so a report owed by a bulk triage
    is rendered later exactly as this step renders it)."""
    return {"signals": [s.model_dump(mode="json") for s in d.signals],
            "profile": dataclasses.asdict(merge_signals(d.signals)),
            "escalation": escalation.report_of(db, d.case.id)}


def step(ctx: StepContext, d: Dossier) -> StepResult:
    profile = merge_signals(d.signals)
    report = write_report(ctx, d, "intake", 1, d.case.opened_by,
                          **report_context(ctx.db, d))
    return commit(ctx, d, GateCommit(case_id=d.case.id, event=Event.INTAKE_DONE,
                                     owner=ctx.owner, actor=d.case.opened_by,
                                     outcome=outcome_of(d, profile), report=report))
