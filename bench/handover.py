"""How long a hand-over takes, against a bare Prefect deployment run on the same server.

`handover_s`: from the expert's score that completes the quorum, submitted in a running process
as the portal does, to the case's next wait — the approval of its disposal, after two gate
steps (the assessment and the disposal's proposal) in the continuation's flow run. `handover_cli_s`:
the same from `riskgate score submit` (a new process, as a person at a terminal).
`bare_run_s`: a deployment run of a no-op flow on the same local server, served with the same
poll interval, from `run_deployment` to Completed.

Both are medians over the same number of runs, taken alternately in one process against one
server, so machine speed cancels out in `ratio`. Run it after `pip install -e '.[test]'`:

    python bench/handover.py [--runs 5]

The last line is one JSON object: handover_s, bare_run_s, ratio, and the parts of a hand-over.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NOOP_FLOW = '''
from prefect import flow, serve

@flow(name="bench-noop")
def noop() -> None:
    pass

if __name__ == "__main__":
    serve(noop.to_deployment(name="noop"))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="riskgate-bench-"))
    os.environ.update({"RISKGATE_HOME": str(home), "RISKGATE_PREFECT_PORT": str(free_port()),
                       "PREFECT_LOGGING_LEVEL": "WARNING"})
    os.environ.pop("PREFECT_API_URL", None)
    from cases.config import load_settings
    from flows.stack import apply_prefect_env, ensure_stack, prefect_env, stop_stack

    settings = load_settings()
    apply_prefect_env(settings)
    ensure_stack(settings)
    noop_file = home / "noop_flow.py"
    noop_file.write_text(NOOP_FLOW)
    from flows.stack import RUNNER_POLL_SECONDS

    noop = subprocess.Popen([sys.executable, str(noop_file)], cwd=home,
                            env={**os.environ, **prefect_env(settings),
                                 "PREFECT_RUNNER_POLL_FREQUENCY": RUNNER_POLL_SECONDS},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        results = measure(settings, args.runs)
    finally:
        noop.terminate()
        stop_stack(settings)
    median = {key: statistics.median(values) for key, values in results.items()}
    for key, what in (("bare", "bare no-op deployment run, request to Completed"),
                      ("handover", "hand-over, in-process submission (the portal) → next wait"),
                      ("submit", "  of which the submission (store + start the run)"),
                      ("queued", "  of which Prefect: run created → its flow starts"),
                      ("gates", "  of which two gate steps: flow start → awaiting approval"),
                      ("handover_cli", "hand-over, `riskgate score submit` → next wait"),
                      ("submit_cli", "  of which the CLI process")):
        print(f"{what:<60} median {median[key]:6.2f} s  "
              f"({', '.join(f'{t:.2f}' for t in results[key])})")
    handover, bare = median["handover"], median["bare"]
    print(json.dumps({"handover_s": round(handover, 3), "bare_run_s": round(bare, 3),
                      "ratio": round(handover / bare, 2),
                      "handover_cli_s": round(median["handover_cli"], 3),
                      "ratio_cli": round(median["handover_cli"] / bare, 2),
                      "submit_s": round(median["submit"], 3),
                      "queued_s": round(median["queued"], 3),
                      "gates_s": round(median["gates"], 3),
                      "submit_cli_s": round(median["submit_cli"], 3), "runs": args.runs}))


def _wait_completed(flow_run_id: str, timeout: float = 120) -> None:
    from flows.launcher import run_state

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = run_state(flow_run_id)
        if outcome is not None:
            assert outcome.state == "Completed", outcome
            return
        time.sleep(0.05)
    raise TimeoutError(flow_run_id)


def _run_times(flow_run_id: str) -> tuple[float, float]:
    """(created, started) of a flow run, as Prefect recorded them (epoch seconds)."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
    assert run.created is not None and run.start_time is not None
    return run.created.timestamp(), run.start_time.timestamp()


def _waiting_case(settings, db, n: int, truth) -> tuple[str, str, dict]:
    """A case at the scoring gate with three of the four scores needed in; the fourth form."""
    from cases import store
    from experts.simulation import simulated_score
    from flows import gates
    from tests.helpers import open_archetype, score_round

    case_id, _ = open_archetype(db, "toy_choking", tag=f"bench-{n}-{time.time_ns()}")
    gates.advance(settings, case_id)  # to the scoring gate, in this process
    assert not score_round(db, case_id, truth, limit=3)[-1].claim.claimed
    panel = sorted(s.expert_id for s in store.load_dossier(db, case_id).voting_seats())
    return case_id, panel[3], simulated_score(truth, panel[3], 1, None, seed="test",
                                              panel=panel)


def _until_waiting(db, case_id: str) -> float:
    """When the continuation has taken the case to its next human wait."""
    from cases import store

    while store.get_case(db, case_id).state != "awaiting_approval":
        time.sleep(0.01)
    return time.time()


def measure(settings, runs: int) -> dict[str, list[float]]:
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from cases import accounts, outbox
    from cases.db import database
    from flows.demo import seed_roster
    from flows.submissions import submit_score
    from tests.helpers import archetypes

    db = database(settings.database_url)
    seed_roster(settings)
    accounts.add(db, "bench", ["staff"], by="riskgate bench", password=None)
    os.environ["RISKGATE_USER"] = "bench"  # the account `riskgate score submit` acts as
    truth = archetypes()["toy_choking"].truth
    deadline = time.monotonic() + 60
    while True:  # the no-op flow's serve() registers its deployment
        try:
            warm = run_deployment("bench-noop/noop", timeout=0)
            break
        except ObjectNotFound:
            assert time.monotonic() < deadline, "the no-op deployment never appeared"
            time.sleep(0.5)
    _wait_completed(str(warm.id))
    results: dict[str, list[float]] = {k: [] for k in (
        "bare", "handover", "handover_cli", "submit", "submit_cli", "queued", "gates")}
    for n in range(runs):
        started = time.monotonic()
        _wait_completed(str(run_deployment("bench-noop/noop", timeout=0).id))
        results["bare"].append(time.monotonic() - started)

        # the portal's path: the submission in a process that is already running
        case_id, expert, form = _waiting_case(settings, db, n, truth)
        started = time.time()
        done = submit_score(settings, case_id, expert, 1, form)
        submitted = time.time()
        assert done.flow_run_id
        waiting = _until_waiting(db, case_id)
        created, began = _run_times(done.flow_run_id)
        results["handover"].append(waiting - started)
        results["submit"].append(submitted - started)
        results["queued"].append(began - created)
        results["gates"].append(waiting - began)

        # a person's path: `riskgate score submit`, a new process
        case_id, expert, form = _waiting_case(settings, db, n, truth)
        command = [sys.executable, "-m", "flows.cli", "score", "submit", "--case", case_id,
                   "--expert", expert, "--round", "1", "--severity", str(form["severity"]),
                   "--probability", form["probability"], "--measures",
                   ",".join(form["measures"]), "--rationale", form["rationale"]]
        started = time.time()
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
        results["submit_cli"].append(time.time() - started)
        results["handover_cli"].append(_until_waiting(db, case_id) - started)
        assert [o.flow_run_id is not None for o in outbox.of_case(db, case_id)] == [True]
    return results


if __name__ == "__main__":
    main()
