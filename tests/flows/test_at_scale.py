"""The at-scale mode, as the README describes it: a Prefect server on PostgreSQL, the
deployments from prefect.yaml deployed to a process work pool with `prefect deploy --all`, two
`prefect worker start --pool riskgate` processes, and the case store on PostgreSQL.

Twenty cases are taken in and played to closure by `riskgate demo` (simulated experts, lab and
staff through the same code paths as people). Then: every case closed exactly once, no gate ran
twice (every gate task that ran completed, once per recorded step), every flow run completed, and
`riskgate audit verify` is clean. Marked slow; CI runs it (a few minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from cases.lifecycle import TRANSITIONS
from tests.conftest import REPO, _postgres_url
from tests.flows.test_prefect_e2e import free_port
from tests.helpers import wait_until_answers

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.postgres]
CASES = 20
CATEGORIES = ("toys", "childcare", "cosmetics", "electrical_appliances", "lighting")
HAZARDS = ("choking", "suffocation", "strangulation", "electric_shock", "fire", "burns",
           "chemical", "injuries", "labelling", "damage_to_sight", "entrapment", "other")


@pytest.fixture
def at_scale(tmp_path):
    base = _postgres_url()
    if not base:
        pytest.skip("RISKGATE_TEST_POSTGRES_URL not set")
    url = sa.engine.make_url(base)
    prefect_db, schema = f"prefect_{uuid.uuid4().hex[:10]}", f"s_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{prefect_db}"'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "shared-home"  # the shared volume every worker writes reports to
    secret = f"riskgate:{uuid.uuid4().hex}"
    env = {**os.environ,
           "PREFECT_SERVER_API_AUTH_STRING": secret, "PREFECT_API_AUTH_STRING": secret,
           "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_API_DATABASE_CONNECTION_URL": url.set(
               drivername="postgresql+asyncpg", database=prefect_db,
               query={}).render_as_string(hide_password=False),
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
           "RISKGATE_HOME": str(home), "RISKGATE_CODE_DIR": str(REPO),
           "RISKGATE_USER": "tester",  # the account the CLI acts as
           "RISKGATE_WEB_PORT": str(free_port()),  # the portal the demo starts, ours alone
           "RISKGATE_DATABASE_URL": f"{base}{'&' if '?' in base else '?'}"
                                    f"options=-csearch_path%3D{schema}",
           "COLUMNS": "200"}
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen] = []

    def start(name: str, *command: str) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(list(command), env={**env, "PREFECT_LOGGING_LEVEL": "INFO"},
                                   cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        processes.append(process)
        return process

    server_env_only = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host",
                               "127.0.0.1"], env=server_env_only, cwd=REPO,
                              stdout=open(logs / "server.log", "wb"),  # noqa: SIM115
                              stderr=subprocess.STDOUT, start_new_session=True)
    processes.append(server)
    env["PREFECT_API_URL"] = api
    try:
        wait_until_answers(f"{api}/health", server, "the Prefect server", 180)
        yield {"env": env, "api": api, "home": home, "start": start, "logs": logs,
               "auth": tuple(secret.split(":", 1))}
    finally:
        subprocess.run([sys.executable, "-m", "flows.cli", "server", "stop"], env=env, cwd=REPO,
                       capture_output=True, timeout=60)  # the portal the demo started
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(sa.text(f'DROP DATABASE "{prefect_db}" WITH (FORCE)'))
        admin.dispose()


def run(stack: dict, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(list(command), env=stack["env"], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} → {done.returncode}\n{done.stdout}\n" \
                                 f"{done.stderr}"
    return done


def riskgate(stack: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run(stack, sys.executable, "-m", "flows.cli", *args, timeout=timeout)


def roster_file(path: Path) -> Path:
    """Enough experts for twenty panels at once (the demo roster seats about six)."""
    experts = [{"id": f"S{i:03d}", "name": f"专家{i:03d}", "affiliation": f"检测机构{i % 9}",
                "seniority": 5 + i % 20, "categories": [CATEGORIES[i % 5], CATEGORIES[(i + 2) % 5]],
                "hazards": list(HAZARDS), "email": f"s{i:03d}@example.test"}
               for i in range(40)]
    path.write_text(yaml.safe_dump({"experts": experts}, allow_unicode=True), encoding="utf-8")
    return path


def api_post(stack: dict, path: str, body: dict) -> list:
    """Every object the filter matches, page by page."""
    found: list = []
    while True:
        page = httpx.post(f"{stack['api']}{path}", json={**body, "limit": 200,
                                                         "offset": len(found)},
                          timeout=30, auth=stack["auth"]).json()
        found += page
        if len(page) < 200:
            return found


def recorded_tasks(stack: dict, run_case: dict[str, str], steps: Counter,
                   timeout: float = 90) -> tuple[list, Counter]:
    """The server's task runs for these flow runs, once its recorder has caught up.

    Prefect 3 creates task runs in the worker's process and the server records them from
    events (`task_run_recorder`), so right after the last flow run completes its tasks may be
    missing or still shown running. Wait until the recorded gate tasks match the audit's steps
    and all are completed, or the deadline passes; the caller asserts on what was last seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        tasks = api_post(stack, "/task_runs/filter", {
            "task_runs": {"flow_run_id": {"any_": list(run_case)}},
            "sort": "EXPECTED_START_TIME_ASC"})
        gate_tasks = Counter(run_case[t["flow_run_id"]] for t in tasks
                             if t["name"].startswith("gate-"))
        settled = {t["state"]["type"] for t in tasks} == {"COMPLETED"}
        if (gate_tasks == steps and settled) or time.monotonic() > deadline:
            return tasks, gate_tasks
        time.sleep(2)


def test_twenty_cases_through_two_process_workers_on_postgres(at_scale, tmp_path):
    started = time.monotonic()
    assert httpx.post(f"{at_scale['api']}/deployments/filter", json={"limit": 1, "offset": 0},
                      timeout=10).status_code == 401  # protected at scale too
    run(at_scale, sys.executable, "-m", "prefect", "work-pool", "create", "riskgate",
        "--type", "process")
    run(at_scale, sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all")
    for n in (1, 2):
        at_scale["start"](f"worker-{n}", sys.executable, "-m", "prefect", "worker", "start",
                          "--pool", "riskgate", "--name", f"worker-{n}")
    riskgate(at_scale, "users", "add", "tester", "--role", "staff", "--role", "admin",
             "--no-password")
    riskgate(at_scale, "experts", "seed")
    riskgate(at_scale, "experts", "seed", str(roster_file(tmp_path / "roster.yaml")))
    demo = json.loads(riskgate(at_scale, "demo", "--cases", str(CASES), "--json",
                               timeout=1200).stdout)
    elapsed = time.monotonic() - started
    rows = demo["cases"]
    # The demo's approver approves every disposal but the last one a panel assessed, which it
    # leaves for a person on the console; its staff complete every follow-up.
    waiting = [r["case_id"] for r in rows if r["state"] == "awaiting_approval"]
    assert len(rows) == CASES and len(waiting) == 1
    assert all(r["state"] == "closed" for r in rows if r["case_id"] not in waiting)

    # The demo leaves one more case open for a person to score in the portal: its flow ran to
    # the panel and waits for the last score.
    portal_case = demo["portal"]["case_id"]
    assert json.loads(riskgate(at_scale, "case", "show", portal_case, "--json").stdout)[
        "state"] == "awaiting_scores"
    case_ids = [r["case_id"] for r in rows] + [portal_case]
    runs = api_post(at_scale, "/flow_runs/filter", {
        "flow_runs": {"tags": {"any_": [f"case:{c}" for c in case_ids]}},
        "sort": "EXPECTED_START_TIME_ASC"})
    assert runs and {r["state"]["type"] for r in runs} == {"COMPLETED"}
    by_case: dict[str, list[str]] = {}
    for r in runs:
        case = next(t.split(":", 1)[1] for t in r["tags"] if t.startswith("case:"))
        by_case.setdefault(case, []).append(r["id"])
    store = sa.create_engine(at_scale["env"]["RISKGATE_DATABASE_URL"])
    with store.connect() as conn:
        closures = Counter(row[0] for row in conn.execute(sa.text(
            "SELECT case_id FROM gaterecord WHERE gate = 'closure'")))
        flow_steps = sorted(t.name for t in TRANSITIONS if "flow" in t.by)
        steps = Counter(row[0] for row in conn.execute(
            sa.text("SELECT case_id FROM auditevent WHERE action IN :steps")
            .bindparams(sa.bindparam("steps", expanding=True)), {"steps": flow_steps}))
    store.dispose()
    assert closures == dict.fromkeys([c for c in case_ids[:-1] if c not in waiting], 1)
    run_case = {run_id: case for case, ids in by_case.items() for run_id in ids}
    tasks, gate_tasks = recorded_tasks(at_scale, run_case, steps)
    assert {t["state"]["type"] for t in tasks} == {"COMPLETED"}, "a gate task failed or ran twice"
    assert gate_tasks == steps  # each gate step ran once: one task per recorded step
    riskgate(at_scale, "audit", "verify")
    submitted = [(at_scale["logs"] / f"worker-{n}.log").read_text(errors="replace")
                 .count("submitting flow run") for n in (1, 2)]
    assert all(submitted) and sum(submitted) >= len(runs), submitted  # both workers worked
    print(f"\nat-scale: {CASES} cases, {len(runs)} flow runs, {len(tasks)} task runs, "
          f"{elapsed:.0f} s from work pool to audit")
