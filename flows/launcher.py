"""Starting case flow runs through the deployment, and waiting for them.

A continuation is started with `run_deployment(..., timeout=0, idempotency_key=…)`: the key is
its outbox row's (`<case>:<what>[#n]`, cases/outbox.py), so a retried request can never start
the same continuation twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cases.errors import RiskGateError

FINAL_WAIT_SECONDS = 600.0


class RunFailed(RiskGateError):
    exit_code = 6


@dataclass(frozen=True)
class RunOutcome:
    flow_run_id: str
    state: str  # Prefect state name: Completed, Failed, Crashed, …
    message: str


def start_case_run(case_id: str, *, key: str | None = None) -> str:
    """Schedule an advance-case run for the case; returns the flow run id at once.

    Prefect's client answers a 503 (its SQLite store busy: the runner's polls write every
    second) by sleeping 2, 4, 8 … s before it tries again; a hand-over measured 18 s that way.
    Its own retries are off here: the caller retries within a fraction of a second
    (flows/handover.py), which the idempotency key makes safe.
    """
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from flows.deployments import case_deployment_name

    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
        run = run_deployment(case_deployment_name(), parameters={"case_id": case_id},
                             timeout=0, idempotency_key=key, as_subflow=False,
                             tags=[f"case:{case_id}"])
    return str(run.id)


def run_state(flow_run_id: str) -> RunOutcome | None:
    """The run's final outcome, or None while it is scheduled or running."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    if state is None or not state.is_final():
        return None
    return RunOutcome(flow_run_id, state.name, state.message or "")


def run_states(flow_run_ids: list[str]) -> dict[str, str]:
    """Prefect's state type (COMPLETED, CRASHED, RUNNING, …) of each known flow run."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    found: dict[str, str] = {}
    ids = [UUID(i) for i in dict.fromkeys(flow_run_ids)]
    with get_client(sync_client=True) as client:
        for start in range(0, len(ids), 200):
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids[start:start + 200])),
                limit=200, offset=0, sort=FlowRunSort.ID_DESC)
            for run in runs:
                if run.state is not None:
                    found[str(run.id)] = run.state.type.value
    return found


def wait_for_run(flow_run_id: str, timeout: float = FINAL_WAIT_SECONDS) -> RunOutcome:
    deadline = time.monotonic() + timeout
    while True:
        outcome = run_state(flow_run_id)
        if outcome is not None:
            return outcome
        if time.monotonic() > deadline:
            raise RunFailed(f"flow run {flow_run_id} did not finish within {timeout:.0f} s")
        time.sleep(0.3)
