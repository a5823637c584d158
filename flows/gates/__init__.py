"""The gate steps and the loop that advances a case: plain Python, no Prefect.

One module per gate (intake, triage, lab_test, panel, assessment, disposal, follow_up,
closure), each a few lines that compose `cases`, `rules`, `experts` and `reports`. `advance`
runs steps until the case waits for people or closes; the Prefect flow (flows/case_flow.py)
runs exactly this loop with each step as a task, so everything here is testable without
Prefect.

Crash safety: a step renders its report into a staging file and its commit moves it into place
(cases/commits.py); a crash before the commit leaves the gate incomplete and the next run does
it again. A run that loses its lease stops with `LeaseLost`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cases import lease, lifecycle, store
from cases.config import Settings
from cases.db import database
from cases.errors import CaseBusy
from cases.models import utcnow
from cases.store import Dossier
from flows.gates import (
    assessment,
    closure,
    disposal,
    follow_up,
    intake,
    lab_test,
    owed,
    panel,
    triage,
)
from flows.gates.common import SYSTEM_ACTOR, StepContext, StepResult

__all__ = ["GATE_STEPS", "SYSTEM_ACTOR", "Advanced", "StepContext", "StepResult", "advance"]

Step = Callable[[StepContext, Dossier], StepResult]
GATE_STEPS: dict[str, Step] = {
    "intake": intake.step,
    "triage": triage.step,
    "lab_test": lab_test.step,
    "panel": panel.step,
    "assessment": assessment.step,
    "disposal": disposal.step,
    "follow_up": follow_up.step,
    "closure": closure.step,
}
assert tuple(GATE_STEPS) == lifecycle.WORK_GATES

StepRunner = Callable[[str, Step, StepContext, Dossier], StepResult]


def run_directly(gate: str, step: Step, ctx: StepContext, dossier: Dossier) -> StepResult:
    return step(ctx, dossier)


@dataclass(frozen=True)
class Advanced:
    case_id: str
    state: str
    gate: str
    steps: list[StepResult]
    started_at: datetime
    finished_at: datetime
    busy: bool = False  # another run held the case; it will advance it


def advance(settings: Settings, case_id: str, *, run_step: StepRunner = run_directly,
            flow_run_id: str | None = None) -> Advanced:
    """Run the case's gates from the first incomplete one until it waits or closes.

    A person's submission can make the case active again at any moment, including between this
    run's last look at the state and the release of its lease — when a continuation started by
    that submission finds the lease taken and ends. So the state is checked again after each
    release, and this run goes on if the case became active meanwhile. A run that finds the
    case held by another live run ends quietly (`busy`); a run that loses its lease on the way
    raises LeaseLost.
    """
    db = database(settings.database_url)
    started = utcnow()
    steps: list[StepResult] = []
    owner = lease.new_owner(flow_run_id)
    while True:
        try:
            lease.acquire(db, case_id, owner)
        except CaseBusy:
            case = store.get_case(db, case_id)
            return Advanced(case_id, case.state, case.gate, steps, started, utcnow(),
                            busy=True)
        try:
            ctx = StepContext(settings=settings, db=db, case_id=case_id, owner=owner,
                              flow_run_id=flow_run_id)
            owed.render_owed(ctx, store.load_dossier(db, case_id))
            while True:
                dossier = store.load_dossier(db, case_id)
                case = dossier.case
                if not lifecycle.is_live(case.gate, case.state):
                    break
                steps.append(run_step(case.gate, GATE_STEPS[case.gate], ctx, dossier))
                lease.renew(db, case_id, owner)
        finally:
            lease.release(db, case_id, owner)
        case = store.get_case(db, case_id)
        if not lifecycle.is_live(case.gate, case.state):
            return Advanced(case_id, case.state, case.gate, steps, started, utcnow())
