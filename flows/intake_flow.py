"""Bulk triage of an import's new cases as one Prefect flow run (`triage-intake`).

Orchestration only: which cases (cases/intake_queue.py), their triage (flows/gates/
bulk_triage.py), then the launch of the queue, P1 first (flows/intake_launch.py). The CLI runs
it in-process after an import; it reads in the Prefect UI as one run per import with a summary
artifact.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact

from cases import intake_queue
from cases.config import load_settings
from cases.db import database
from flows.gates.bulk_triage import triage_cases


@flow(name="triage-intake", flow_run_name="triage-{import_id}", persist_result=False,
      log_prints=False)
def triage_intake(import_id: str = "queue") -> dict:
    """Triage every queued, untriaged case in one run: the import's (it names the run) and
    any an earlier import left (one that stopped half-way, or crashed between its import and
    its triage)."""
    settings = load_settings()
    case_ids = intake_queue.untriaged(database(settings.database_url))
    run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    done = triage_cases(settings, case_ids, flow_run_id=run_id)
    summary = {"import": import_id, "triaged": len(done.priorities),
               "by_priority": done.by_priority(), "skipped": len(done.skipped)}
    lines = "\n".join(f"| {p} | {n} |" for p, n in summary["by_priority"].items())
    create_markdown_artifact(
        key=f"triage-{import_id.lower()}".replace("_", "-"),
        markdown=f"# Bulk triage {import_id}\n\n{len(done.priorities)} cases triaged, "
                 f"{len(done.skipped)} skipped.\n\n| priority | cases |\n|---|---|\n{lines}\n",
        description=f"triage of import {import_id}")
    get_run_logger().info("bulk triage: %s", summary)
    return summary
