"""The sweeper as a Prefect flow: the `sweep` deployment in prefect.yaml runs it on a schedule."""

from __future__ import annotations

from prefect import flow, get_run_logger

from cases.config import load_settings
from flows.sweep import sweep_once


@flow(name="sweep", log_prints=False, persist_result=False)
def sweep() -> dict:
    """Start owed continuations, take up cases whose run died, retry panels waiting for staff."""
    done = sweep_once(load_settings()).to_dict()
    if any(done.values()):
        get_run_logger().info("sweep: %s", done)
    return done
