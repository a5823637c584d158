"""The escalation watch as a Prefect flow: the `escalation-watch` deployment in prefect.yaml
runs it daily. What it decides is in cases/escalation.py; here the opened cases' first runs
are started through the outbox (flows/handover.py), as every case run is: a start that fails
stays owed and the sweeper starts it."""

from __future__ import annotations

from prefect import flow, get_run_logger

from cases.config import load_settings
from cases.db import database
from cases.escalation import THRESHOLD, WINDOW_DAYS, run_watch
from flows.handover import start_owed


@flow(name="escalation-watch", log_prints=False, persist_result=False)
def escalation_watch(window_days: int = WINDOW_DAYS, threshold: int = THRESHOLD) -> dict:
    """Open an escalation case for each new pattern, link new cases to open ones, and start
    each opened case's flow."""
    settings = load_settings()
    lang = "en" if settings.lang == "en" else "zh"
    result = run_watch(database(settings.database_url), window_days=window_days,
                       threshold=threshold, lang=lang, launch=True)
    started = {o.case_id: start_owed(settings, o.owed) for o in result.opened if o.owed}
    done = {**result.to_dict(), "started": {k: v for k, v in started.items() if v},
            "owed": sorted(k for k, v in started.items() if not v)}
    if result.opened or result.linked:
        get_run_logger().info("escalation watch: opened %s, linked %s",
                              [o.case_id for o in result.opened],
                              {x.case_id: list(x.linked) for x in result.linked})
    return done
