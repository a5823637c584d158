"""The case flow: one Prefect flow run per stretch of gates between two human waits.

`advance_case` runs flows.gates.advance with every gate step as a Prefect task and leaves a
markdown artifact per gate, so a case's history reads in the Prefect UI. It ends when the case
waits for people (scores, lab results, information) or closes; the person's action starts the
next run through the deployment (flows/launcher.py). No process waits for anyone.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from cases.config import load_settings
from flows import gates
from reports.summary import gate_markdown


def _artifact_key(case_id: str, gate: str) -> str:
    # Artifact keys allow lower-case letters, digits and dashes only.
    return f"{case_id}-{gate}".lower().replace("_", "-")


def _as_task(gate: str, step, ctx: gates.StepContext, dossier) -> gates.StepResult:
    run = task(step, name=f"gate-{gate}", cache_policy=NO_CACHE, persist_result=False,
               retries=0)
    result = run(ctx, dossier)
    create_markdown_artifact(
        key=_artifact_key(ctx.case_id, gate),
        markdown=gate_markdown(ctx.case_id, result, dossier.case.lang),
        description=f"{ctx.case_id} · {gate}")
    get_run_logger().info("case %s: gate %s %s → %s/%s", ctx.case_id, gate,
                          "completed" if result.completed else "waiting", result.next_gate,
                          result.state)
    return result


@flow(name="advance-case", flow_run_name="case-{case_id}", log_prints=True,
      persist_result=False)
def advance_case(case_id: str) -> dict:
    """Advance one risk case from its first incomplete gate until it waits or closes."""
    settings = load_settings()
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    done = gates.advance(settings, case_id, run_step=_as_task, flow_run_id=flow_run_id)
    if done.busy:
        get_run_logger().info("case %s is being advanced by another run; nothing to do here",
                              case_id)
    return {"case_id": done.case_id, "state": done.state, "gate": done.gate,
            "gates": [s.gate for s in done.steps if s.completed], "busy": done.busy}
