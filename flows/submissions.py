"""The one code path for people's submissions: the CLI, the demo's simulated experts and the
web portal all call these, so a simulated score is stored and checked exactly like a real one.

Validation (the expert's form) → one transaction in the store (which may claim the case's
transition) → if claimed, the continuation is started through the deployment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from cases.config import Settings
from cases.db import database
from cases.errors import InvalidInput, RiskGateError, describe_validation_error
from cases.signals import LabResultIn, SignalIn
from cases.submissions import Claim, ScoreReceipt, add_information, record_lab_results, record_score
from experts.scoring import read_score
from flows.launcher import start_case_run


class ContinuationNotStarted(RiskGateError):
    """The submission is stored and claimed the transition, but Prefect could not be reached."""

    exit_code = 5


@dataclass(frozen=True)
class Submitted:
    claim: Claim
    flow_run_id: str | None
    receipt: ScoreReceipt | None = None


Prepare = Callable[[], object] | None


def _continue(claim: Claim, prepare: Prepare) -> str | None:
    """Start the continuation if this submission won the claim. `prepare` (the CLI's "start
    the local stack") runs only then, so a refused or non-final submission needs no server."""
    if not claim.claimed:
        return None
    try:
        if prepare is not None:
            prepare()
        return start_case_run(claim.case_id, key=claim.key)
    except Exception as exc:
        raise ContinuationNotStarted(
            f"stored; case {claim.case_id} is ready to continue but its flow run could not be "
            f"started ({type(exc).__name__}: {str(exc)[:120]}); run `riskgate case run "
            f"{claim.case_id}`") from None


def submit_score(settings: Settings, case_id: str, expert_id: str, form: dict, *,
                 actor: str | None = None, prepare: Prepare = None) -> Submitted:
    score = read_score(form, source="score")
    receipt = record_score(database(settings.database_url), case_id, expert_id,
                           score.to_record(), actor=actor or f"expert:{expert_id}")
    return Submitted(receipt.claim, _continue(receipt.claim, prepare), receipt)


def submit_lab_results(settings: Settings, case_id: str, results: list[dict], *,
                       actor: str, prepare: Prepare = None) -> Submitted:
    try:
        parsed = [LabResultIn.model_validate(r) for r in results]
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source="lab result")) from None
    claim = record_lab_results(database(settings.database_url), case_id, parsed, actor=actor)
    return Submitted(claim, _continue(claim, prepare))


def submit_information(settings: Settings, case_id: str, signal: SignalIn, *,
                       actor: str, prepare: Prepare = None) -> Submitted:
    claim = add_information(database(settings.database_url), case_id, signal, actor=actor)
    return Submitted(claim, _continue(claim, prepare))
