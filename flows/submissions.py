"""The one code path for people's submissions: the CLI, the demo's simulated experts and the
web portal all call these, so a simulated score is stored and checked exactly like a real one.

Validation (the expert's form) → one transaction in the store, which may claim the case's
transition and owe it a continuation (cases/outbox.py) → if so, the continuation is started
(flows/handover.py). A start that fails leaves the continuation owed; the sweeper starts it
when Prefect answers again, so a stored submission never loses its hand-over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from cases import actions, approvals, outbox
from cases.accounts import Person
from cases.config import Settings
from cases.db import database
from cases.errors import InvalidInput, describe_validation_error
from cases.signals import LabResultIn, SignalIn
from cases.submissions import (
    Claim,
    ScoreReceipt,
    add_information,
    launch,
    record_lab_results,
    record_score,
)
from experts.scoring import read_score
from flows.handover import start_owed


@dataclass(frozen=True)
class Submitted:
    claim: Claim
    flow_run_id: str | None
    receipt: ScoreReceipt | None = None

    @property
    def owed(self) -> bool:
        """Claimed, but its flow run is not started yet (Prefect unreachable): the sweeper
        will start it."""
        return self.claim.claimed and self.flow_run_id is None


Prepare = Callable[[], object] | None


def start_claimed(settings: Settings, claim: Claim, prepare: Prepare = None) -> str | None:
    """Start the continuation if this submission won the claim. `prepare` (the CLI's "start
    the local stack") runs only then, so a refused or non-final submission needs no server."""
    if not claim.claimed or claim.continuation_id is None:
        return None
    owed = outbox.Owed(claim.continuation_id, claim.case_id, claim.key, "", None, 0)
    return start_owed(settings, owed, prepare)


def submit_score(settings: Settings, case_id: str, expert_id: str, round_no: int, form: dict,
                 *, actor: str | None = None, prepare: Prepare = None) -> Submitted:
    score = read_score(form, source="score")
    receipt = record_score(database(settings.database_url), case_id, expert_id, round_no,
                           score.to_record(), actor=actor or f"expert:{expert_id}")
    return Submitted(receipt.claim, start_claimed(settings, receipt.claim, prepare), receipt)


def submit_lab_results(settings: Settings, case_id: str, results: list[dict], *,
                       actor: str, prepare: Prepare = None) -> Submitted:
    try:
        parsed = [LabResultIn.model_validate(r) for r in results]
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source="lab result")) from None
    claim = record_lab_results(database(settings.database_url), case_id, parsed, actor=actor)
    return Submitted(claim, start_claimed(settings, claim, prepare))


def submit_information(settings: Settings, case_id: str, signal: SignalIn, *,
                       actor: str, prepare: Prepare = None) -> Submitted:
    claim = add_information(database(settings.database_url), case_id, signal, actor=actor)
    return Submitted(claim, start_claimed(settings, claim, prepare))


def launch_case(settings: Settings, case_id: str, *, actor: str,
                prepare: Prepare = None) -> Submitted:
    """Staff launch an active case's flow run (through the outbox, like every run)."""
    claim = launch(database(settings.database_url), case_id, actor=actor)
    return Submitted(claim, start_claimed(settings, claim, prepare))


def decide_disposal(settings: Settings, case_id: str, person: Person, *,
                    measures: list[str] | None = None, justification: str = "",
                    prepare: Prepare = None) -> Submitted:
    """An approver approves (`measures` None) or overrides the proposed disposal; the case
    continues (the console's form, the CLI and the demo's simulated approver all come here)."""
    decided = approvals.decide(database(settings.database_url), case_id, person,
                               measures=measures, justification=justification)
    return Submitted(decided.claim, start_claimed(settings, decided.claim, prepare))


def update_action(settings: Settings, case_id: str, number: int, person: Person,
                  data: dict, *, prepare: Prepare = None) -> Submitted | None:
    """Staff record a follow-up action's progress; completing the last one continues the case
    (a Submitted then; None while actions remain)."""
    update = actions.parse_update(data, source=f"action {number}")
    updated = actions.update_action(database(settings.database_url), case_id, number, person,
                                    update)
    if updated.claim is None:
        return None
    return Submitted(updated.claim, start_claimed(settings, updated.claim, prepare))


def close_follow_up(settings: Settings, case_id: str, person: Person, reason: str, *,
                    prepare: Prepare = None) -> Submitted:
    """Staff close the follow-up with a reason; the case goes on to closure."""
    claim = actions.close_follow_up(database(settings.database_url), case_id, person, reason)
    return Submitted(claim, start_claimed(settings, claim, prepare))
