"""Intake (受理): the case's signals merged into one profile, and the intake report."""

from __future__ import annotations

import dataclasses

from cases.commits import GateCommit
from cases.facts import merge_signals
from cases.lifecycle import Event
from cases.store import Dossier
from flows.gates.common import StepContext, StepResult, commit, write_report


def step(ctx: StepContext, d: Dossier) -> StepResult:
    profile = merge_signals(d.signals)
    report = write_report(ctx, d, "intake", 1, d.case.opened_by,
                          signals=[s.model_dump(mode="json") for s in d.signals],
                          profile=dataclasses.asdict(profile))
    outcome = {"signals": len(d.signals), "channel": profile.channel,
               "missing_info": profile.missing_info}
    return commit(ctx, d, GateCommit(case_id=d.case.id, event=Event.INTAKE_DONE,
                                     owner=ctx.owner, actor=d.case.opened_by, outcome=outcome,
                                     report=report))
