"""The local runner: `python -m flows.runner` serves prefect.yaml's deployments.

Started in the background by `riskgate server start` (flows/stack.py). Each flow run executes in
its own subprocess, so a run killed mid-gate takes down only itself. Once the deployments are
registered, the runner sweeps once (flows/sweep.py), so hand-overs left behind while it was
down are taken up at once rather than at the next scheduled sweep.
"""

from __future__ import annotations

import logging
import threading
import time

from prefect import serve

from flows.deployments import served_deployments

# Enough for a handful of cases advancing at once on a 2-core machine; more only queue.
CONCURRENT_RUNS = 8
STARTUP_SWEEP_WAIT = 60.0

log = logging.getLogger("riskgate.runner")


def _sweep_when_served() -> None:
    """Wait for the case deployment to exist, then sweep once."""
    from cases.config import load_settings
    from flows.deployments import case_deployment_name
    from flows.sweep import sweep_once

    deadline = time.monotonic() + STARTUP_SWEEP_WAIT
    while time.monotonic() < deadline:
        try:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                client.read_deployment_by_name(case_deployment_name())
            break
        except Exception:  # not registered yet
            time.sleep(0.5)
    try:
        done = sweep_once(load_settings())
        log.warning("startup sweep: %s", done.to_dict())
    except Exception:
        log.exception("startup sweep failed; the scheduled sweep will try again")


def main() -> None:
    from cases.config import load_settings, make_private

    make_private(load_settings())  # the flow runs it starts write owner-only files too
    threading.Thread(target=_sweep_when_served, name="startup-sweep", daemon=True).start()
    serve(*served_deployments(), limit=CONCURRENT_RUNS)


if __name__ == "__main__":
    main()
