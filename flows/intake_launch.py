"""Launching queued import cases: P1 first, within the concurrency limit (cases/intake_queue.py).

Each launch goes through the outbox like every run (cases/submissions.launch, then the
deployment): a start Prefect does not confirm stays owed for the sweeper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cases import intake_queue, outbox
from cases.config import Settings
from cases.db import database
from cases.submissions import launch
from flows.handover import start_owed
from flows.submissions import Prepare

Starter = Callable[[Settings, outbox.Owed], str | None]

LAUNCH_ACTOR = "system:intake"


@dataclass
class Launched:
    started: list[tuple[str, str | None]] = field(default_factory=list)  # (case, flow run)
    waiting: int = 0  # triaged cases left queued (no place free, or held)


def launch_queued(settings: Settings, *, include_held: bool = False,
                  limit: int | None = None, prepare: Prepare = None,
                  start: Starter | None = None) -> Launched:
    """Launch as many queued cases as there are free places (or `limit`, if lower). `start`
    starts a continuation (the sweeper passes its own); by default through the deployment."""
    db = database(settings.database_url)
    intake_queue.settle_ended(db)
    free = settings.launch_concurrency - intake_queue.running(db)
    if limit is not None:
        free = min(free, limit)
    done = Launched()
    for case_id in intake_queue.next_to_launch(db, free, include_held=include_held):
        claim = launch(db, case_id, actor=LAUNCH_ACTOR, reason="intake.launched",
                       only_if=intake_queue.claim(db, case_id, settings.launch_concurrency))
        if not claim.claimed or claim.continuation_id is None:
            continue  # another launcher took it, or the places filled meanwhile
        owed = outbox.Owed(claim.continuation_id, case_id, claim.key, "", None, 0)
        run_id = (start or (lambda s, o: start_owed(s, o, prepare)))(settings, owed)
        if run_id:
            intake_queue.started(db, case_id, run_id)
        done.started.append((case_id, run_id))  # unconfirmed: owed to the sweeper
    status = intake_queue.status(db)
    done.waiting = sum(status.waiting.values()) + status.held
    return done
