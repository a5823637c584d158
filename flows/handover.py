"""Starting the flow runs a case is owed (cases/outbox.py), until Prefect confirms them.

The submitter (CLI, portal, demo) tries a few times at once; whatever is still unstarted after
that is started by the sweeper (flows/sweep.py) once Prefect answers again. Each start uses the
continuation's key as the idempotency key, so a start retried after a timeout whose request did
reach Prefect returns the run that request created: one run per continuation, however often it
is started.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cases import outbox
from cases.config import Settings
from cases.db import database

# Quick retries: a busy Prefect server answers again within a fraction of a second; after about
# 4 s the continuation is left owed for the sweeper.
ATTEMPTS = 6
BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0)


def start_owed(settings: Settings, owed: outbox.Owed,
               prepare: Callable[[], object] | None = None, *,
               attempts: int = ATTEMPTS) -> str | None:
    """Start one owed continuation; its flow run id, or None if Prefect could not be reached
    (the row stays owed, with the error, for the sweeper)."""
    from flows.launcher import start_case_run

    db = database(settings.database_url)
    error = ""
    for attempt in range(attempts):
        try:
            if prepare is not None:
                prepare()
            run_id = start_case_run(owed.case_id, key=owed.key)
        except Exception as exc:  # Prefect unreachable, the stack not starting, a timeout
            error = f"{type(exc).__name__}: {exc}"
            if attempt < attempts - 1:
                time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
            continue
        outbox.started(db, owed.id, run_id)
        return run_id
    outbox.failed(db, owed.id, error)
    return None
