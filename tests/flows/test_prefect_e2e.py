"""Cases through a real Prefect server and runner, driven with the CLI as staff and experts do.

One stack for the module (server + runner started by `riskgate server start` on a free port in
a temporary RISKGATE_HOME, about 15 s), stopped at the end. Prefect's own REST API is read to
check that the runs, their idempotency keys and the gate artifacts really exist.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cases import failpoints
from flows.demo_staff import sample_update
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.prefect

SEVEN_GATES = ["intake", "triage", "panel", "assessment", "disposal", "follow_up", "closure"]
STAFF, APPROVER = "tester", "approver"
# a case's flow runs after the panel: the approval's and the completed follow-up's
AFTER_THE_PANEL = [("disposal:decided", "COMPLETED"), ("follow_up:done", "COMPLETED")]
SWEEP_SECONDS = 15  # the served sweeper's schedule in these tests (60 s in prefect.yaml)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, home: Path, port: int):
        self.home, self.port = home, port
        self.api = f"http://127.0.0.1:{port}/api"
        self.env = {**os.environ, "RISKGATE_HOME": str(home), "RISKGATE_PREFECT_PORT": str(port),
                    "RISKGATE_FAILPOINTS": "on", "COLUMNS": "200",
                    "RISKGATE_SWEEP_SECONDS": str(SWEEP_SECONDS), "RISKGATE_USER": STAFF}

    def cli(self, *args: str, check: bool = True, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "flows.cli", *args],
                              env={**self.env, **(env or {})}, cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"riskgate {' '.join(args)} → {done.returncode}\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def json(self, *args: str) -> dict:
        return json.loads(self.cli(*args, "--json").stdout)

    def add_people(self) -> None:
        """The accounts commands act as: staff (who opens cases, RISKGATE_USER) and another
        person who approves their disposals (four-eyes)."""
        self.cli("users", "add", STAFF, "--role", "staff", "--role", "admin", "--no-password")
        self.cli("users", "add", APPROVER, "--role", "approver", "--no-password")

    def approve_and_follow_up(self, case_id: str, timeout: float = 90) -> dict:
        """The approver approves the proposed disposal; staff complete every follow-up action
        (through the CLI, as people would); the case closes through its flow runs."""
        self.wait_for(case_id, "awaiting_approval", timeout=timeout)
        self.cli("disposal", "approve", case_id, "--as", APPROVER)
        self.wait_for(case_id, "awaiting_actions", timeout=timeout)
        for action in json.loads(self.cli("follow-up", "list", case_id, "--json").stdout):
            update = sample_update(action["measure"], "zh")
            progress = [f"--progress={k}={v}" for k, v in update["progress"].items()]
            self.cli("follow-up", "update", case_id, str(action["number"]), "--status",
                     "completed", *progress, "--outcome", update["outcome"])
        return self.wait_for(case_id, "closed", timeout=timeout)

    def wait_for(self, case_id: str, state: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.json("case", "show", case_id)
            if shown["state"] == state:
                return shown
            assert time.monotonic() < deadline, f"{case_id} stuck in {shown['state']}"
            time.sleep(0.5)

    def runs_of(self, case_id: str) -> list[dict]:
        body = {"flow_runs": {"tags": {"all_": [f"case:{case_id}"]}}, "limit": 50, "offset": 0,
                "sort": "EXPECTED_START_TIME_ASC"}
        return httpx.post(f"{self.api}/flow_runs/filter", json=body, timeout=10,
                          auth=self.auth).json()

    @property
    def auth(self) -> tuple[str, str]:
        user, _, password = (self.home / "prefect-auth").read_text().strip().partition(":")
        return user, password

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for_run_state(self, run_id: str, wanted: set[str], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = httpx.get(f"{self.api}/flow_runs/{run_id}", timeout=10,
                              auth=self.auth).json()["state"]
            if state and state["type"] in wanted:
                return state["type"]
            assert time.monotonic() < deadline, f"run {run_id} still {state}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    running = Stack(tmp_path_factory.mktemp("stack") / "home", free_port())
    running.cli("server", "start", timeout=240)
    running.add_people()
    running.cli("experts", "seed")
    yield running
    running.cli("server", "stop", check=False)


def open_sample(stack: Stack, reference: str) -> str:
    data = json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8"))
    data["reference"] = reference
    data["product"]["model"] = reference  # its own product: no grouping with other tests
    path = stack.home / f"{reference}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    opened = stack.json("case", "open", str(path))
    assert set(opened) == {"id", "grouped"} and not opened["grouped"]
    return opened["id"]


def score(stack: Stack, case_id: str, expert: str, severity: int = 4, check: bool = True,
          env: dict | None = None, round_no: int = 1):
    return stack.cli("score", "submit", "--case", case_id, "--expert", expert, "--round",
                     str(round_no), "--severity", str(severity), "--probability", "1/50",
                     "--measures", "recall,consumer_warning", "--rationale",
                     "小珠子可致婴幼儿气道阻塞", check=check, env=env)


def voting_panel(shown: dict) -> list[str]:
    return sorted(p["expert_id"] for p in shown["panel"] if p["role"] != "reserve")


def keys_and_states(stack: Stack, case_id: str) -> list[tuple[str, str]]:
    return [(r["idempotency_key"].removeprefix(f"{case_id}:"), r["state"]["type"])
            for r in stack.runs_of(case_id)]


def test_a_case_waits_for_its_panel_and_the_quorum_resumes_it(stack):
    case_id = open_sample(stack, "e2e-1")
    waiting = stack.json("case", "run", case_id)
    assert (waiting["state"], waiting["gate"]) == ("awaiting_scores", "assessment")
    assert waiting["gates_completed"] == ["intake", "triage", "panel"]
    assert {"id", "state", "gate", "risk_level", "measures", "panel", "reports"} <= set(waiting)
    voting = voting_panel(waiting)
    assert len(voting) == 5 and all(set(p) == {"expert_id", "role"} for p in waiting["panel"])

    for expert in voting[:3]:
        assert "quorum reached" not in score(stack, case_id, expert).stdout
    assert len(stack.runs_of(case_id)) == 1  # no process started while it waits
    fourth = score(stack, case_id, voting[3]).stdout
    assert "quorum reached" in fourth

    closed = stack.approve_and_follow_up(case_id)
    assert closed["gate"] == "closed" and closed["risk_level"] == "serious"
    assert "recall" in closed["measures"]
    assert [r["gate"] for r in closed["reports"]] == SEVEN_GATES
    assert Path(closed["home"]) == stack.home.resolve()
    for report in closed["reports"]:
        assert (stack.home / report["path"]).is_file() and len(report["sha256"]) == 64

    late = score(stack, case_id, voting[4], check=False)
    assert late.returncode == 4 and late.stdout == ""
    assert late.stderr == (f"error: case {case_id} is not waiting for scores (state closed, gate "
                           "closed)\n")

    runs = stack.runs_of(case_id)
    assert keys_and_states(stack, case_id) == [("launch", "COMPLETED"),
                                                ("scores:r1", "COMPLETED"), *AFTER_THE_PANEL]
    assert all(r["deployment_id"] for r in runs)
    artifacts = httpx.post(f"{stack.api}/artifacts/filter", timeout=10, auth=stack.auth, json={
        "artifacts": {"flow_run_id": {"any_": [r["id"] for r in runs]}}, "limit": 50,
        "offset": 0, "sort": "CREATED_DESC"}).json()
    # one artifact per gate step: the disposal and the follow-up each have two, one before and
    # one after the people they wait for (the proposal, then the decision; tracking, then done)
    steps = [*SEVEN_GATES, "disposal", "follow_up"]
    assert sorted(a["key"] for a in artifacts) == sorted(
        f"{case_id.lower()}-{g.replace('_', '-')}" for g in steps)
    assert stack.cli("audit", "verify").returncode == 0


def test_a_continuation_killed_mid_gate_is_finished_by_the_sweeper(stack):
    case_id = open_sample(stack, "e2e-2")
    voting = voting_panel(stack.json("case", "run", case_id))
    failpoints.arm(stack.home, "disposal.before_commit")
    for expert in voting[:4]:
        score(stack, case_id, expert)
    continuation = stack.runs_of(case_id)[-1]
    assert stack.wait_for_run_state(continuation["id"], {"CRASHED", "FAILED"}) == "CRASHED"
    # nobody runs `case run`: the scheduled sweeper sees the crashed run and takes the case up
    stack.wait_for(case_id, "awaiting_approval", timeout=SWEEP_SECONDS * 4 + 60)
    closed = stack.approve_and_follow_up(case_id)
    assert [r["gate"] for r in closed["reports"]] == SEVEN_GATES
    assert keys_and_states(stack, case_id) == [("launch", "COMPLETED"),
                                                ("scores:r1", "CRASHED"),
                                                ("retake", "COMPLETED"), *AFTER_THE_PANEL]
    assert stack.cli("audit", "verify").returncode == 0


def test_prefect_unreachable_at_the_claim_then_back_completes_with_one_continuation(stack):
    case_id = open_sample(stack, "e2e-owed")
    voting = voting_panel(stack.json("case", "run", case_id))
    for expert in voting[:3]:
        score(stack, case_id, expert)
    stack.cli("server", "stop")
    assert not stack.healthy()
    # The submitter may not restart the server: Prefect is simply not there at the claim.
    owed = score(stack, case_id, voting[3], env={"PREFECT_API_URL": stack.api})
    assert owed.returncode == 0, owed.stderr
    assert "warning: stored, and the case is ready to continue, but Prefect could not be " \
           "reached" in owed.stderr and "the sweeper starts it" in owed.stderr
    shown = stack.json("case", "show", case_id)
    assert (shown["state"], shown["gate"]) == ("active", "assessment")
    stack.cli("server", "start", timeout=240)  # Prefect is back; the runner sweeps at start
    stack.wait_for(case_id, "awaiting_approval", timeout=SWEEP_SECONDS * 3 + 90)
    closed = stack.approve_and_follow_up(case_id)
    assert [r["gate"] for r in closed["reports"]] == SEVEN_GATES
    assert keys_and_states(stack, case_id) == [("launch", "COMPLETED"),
                                                ("scores:r1", "COMPLETED"), *AFTER_THE_PANEL]
    assert stack.cli("audit", "verify").returncode == 0


def test_a_run_that_loses_its_lease_fails_naming_the_case_and_the_holder(stack):
    import sqlite3

    case_id = open_sample(stack, "e2e-lease")
    failpoints.arm(stack.home, "triage.before_commit", "hang:6")
    running = subprocess.Popen([sys.executable, "-m", "flows.cli", "case", "run", case_id],
                               env=stack.env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (stack.home / "failpoints" / "triage.before_commit").exists():
        assert time.monotonic() < deadline, "the run never reached triage"
        time.sleep(0.2)
    thief = "elsewhere:4242:cafebabe"
    with sqlite3.connect(stack.home / "riskgate.db") as conn:  # another run took the case
        conn.execute('UPDATE "case" SET lease_owner = ?, lease_expires = ? WHERE id = ?',
                     (thief, "2999-01-01 00:00:00.000000", case_id))
    out, err = running.communicate(timeout=120)
    assert running.returncode == 6, out + err
    assert f"lost its lease to {thief}" in err and case_id in err
    (run,) = stack.runs_of(case_id)
    assert run["state"]["type"] == "FAILED"
    assert f"case {case_id}" in run["state"]["message"] and thief in run["state"]["message"]
    shown = stack.json("case", "show", case_id)
    assert shown["gates_completed"] == ["intake"] and "triage" not in [
        r["gate"] for r in shown["reports"]]
    assert not list((stack.home / "reports" / case_id).glob("02-triage*"))
    with sqlite3.connect(stack.home / "riskgate.db") as conn:  # let the case go on
        conn.execute('UPDATE "case" SET lease_owner = NULL, lease_expires = NULL WHERE id = ?',
                     (case_id,))
    assert stack.cli("audit", "verify").returncode == 0


def test_demo_runs_every_archetype_through_the_deployments(stack):
    out = json.loads(stack.cli("demo", "--cases", "5", "--json", timeout=600).stdout)
    rows = {row["key"]: row for row in out["cases"]}
    assert set(rows) == {"toy_choking", "heater_shock", "cosmetic_banned_substance",
                         "labelling_defect", "out_of_scope_food"}
    # the demo leaves the last assessed case waiting for a person's approval
    assert rows["labelling_defect"]["state"] == "awaiting_approval"
    assert all(row["state"] == "closed" for key, row in rows.items()
               if key != "labelling_defect")
    assert rows["out_of_scope_food"]["gates"] == ["intake", "triage", "closure"]
    assert rows["out_of_scope_food"]["reports"] == 3
    for key in ("toy_choking", "heater_shock", "cosmetic_banned_substance"):
        assert rows[key]["gates"] == SEVEN_GATES and rows[key]["reports"] == 7
    assert rows["labelling_defect"]["gates"] == SEVEN_GATES[:4]
    assert rows["toy_choking"]["risk_level"] == "serious"
    assert rows["labelling_defect"]["risk_level"] == "low"
    proposed = stack.json("disposal", "show", rows["labelling_defect"]["case_id"])
    assert proposed["status"] == "pending" and proposed["proposed"] == ["hazard_disclosure"]
    people = out["console"]["accounts"]
    assert {"demo-staff", "demo-approver", "demo-auditor", "demo-admin"} <= set(people)
    assert all(len(p["password"]) >= 10 for p in people.values())
    assert rows["heater_shock"]["rounds"] == 2
    assert sum(row["late_scores"] for row in rows.values()) >= 4
    channels = {row["channel"] for row in rows.values()}
    assert channels == {"complaint_12365", "supervision_sampling", "foreign_regulator",
                        "consumer_association", "online_opinion"}


def test_the_prefect_api_requires_this_homes_secret(stack):
    """An unprivileged local user could PATCH the case deployment with a shell pull step and
    run commands as RiskGate's account; now every API call needs the secret."""
    body = {"limit": 5, "offset": 0}
    assert httpx.post(f"{stack.api}/deployments/filter", json=body, timeout=10).status_code \
        == 401
    deployment = httpx.get(f"{stack.api}/deployments/name/advance-case/riskgate", timeout=10,
                           auth=stack.auth).json()
    hijack = {"pull_steps": [{"prefect.deployments.steps.run_shell_script": {
        "script": "touch /tmp/riskgate-pwned"}}]}
    assert httpx.patch(f"{stack.api}/deployments/{deployment['id']}", json=hijack,
                       timeout=10).status_code == 401
    assert httpx.patch(f"{stack.api}/deployments/{deployment['id']}", json=hijack,
                       timeout=10, auth=("riskgate", "guess")).status_code == 401
    assert httpx.get(f"{stack.api}/health", timeout=10).status_code == 200  # probes stay open
    ui = httpx.get(f"{stack.api.removesuffix('/api')}/ui-settings", timeout=10).json()
    assert ui["auth"] == "BASIC"  # the UI asks for the credentials
    assert (stack.home / "prefect-auth").stat().st_mode & 0o777 == 0o600
    assert stack.home.stat().st_mode & 0o777 == 0o700
    secret = stack.cli("server", "auth").stdout.strip()
    assert secret == ":".join(stack.auth) and len(secret) > 30


def test_a_second_home_is_refused_on_a_server_another_home_serves(stack, tmp_path):
    """Two stores behind one server's deployments would take each other's flow runs (seen: a
    case opened in the second home failed with "no case" in the first home's runner)."""
    other = Stack(tmp_path / "other-home", stack.port)
    refused = other.cli("server", "start", check=False)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "was not started by this RISKGATE_HOME and refuses its secret" in refused.stderr
    assert f"RISKGATE_PREFECT_PORT (e.g. {stack.port + 1})" in refused.stderr
    assert not (other.home / "run" / "runner.json").exists()
    # The first home is untouched: its runner still takes its cases.
    case_id = open_sample(stack, "SECOND-HOME-REFUSED")
    stack.cli("case", "run", case_id)
    assert stack.json("case", "show", case_id)["gate"] == "assessment"


def test_an_import_is_triaged_in_one_flow_run_and_launched_p1_first(stack):
    """Issue 12: a channel's file imported, its new cases triaged by one `triage-intake` run,
    launched P1 first within the concurrency limit; each case's first run renders the two
    reports the bulk triage owed."""
    sample = REPO / "docs" / "samples" / "intake" / "complaint_12365.csv"
    done = json.loads(stack.cli("intake", "import", "--channel", "complaint_12365", str(sample),
                                "--json", env={"RISKGATE_LAUNCH_CONCURRENCY": "2"}).stdout)
    counts, cases = done["counts"], done["cases"]
    assert counts["read"] == 12 and counts["rejected"] == 0 and done["rejects"] == []
    assert counts["new_cases"] == len(cases) >= 3
    assert done["triage"]["triaged"] == len(cases) and not done["triage"]["skipped"]

    runs = httpx.post(f"{stack.api}/flow_runs/filter", timeout=10, auth=stack.auth, json={
        "flow_runs": {"name": {"any_": [f"triage-{done['import']}"]}}, "limit": 5,
        "offset": 0, "sort": "EXPECTED_START_TIME_ASC"}).json()
    assert [r["state"]["type"] for r in runs] == ["COMPLETED"]  # one run for the whole file

    shown = {c: stack.json("case", "show", c) for c in cases}
    priority = {c: s["priority"] for c, s in shown.items() if s["gate"] != "closed"}
    launched = done["launched"]
    assert 1 <= len(launched) <= 2  # the limit given to this import
    best = min(priority.values())  # of the cases triage did not close
    assert all(priority[c] == best for c in launched), (launched, priority)

    again = json.loads(stack.cli("intake", "import", "--channel", "complaint_12365",
                                 str(sample), "--json").stdout)
    assert again["status"] == "already" and again["counts"] == counts

    stack.cli("intake", "launch")
    # the sweeper (every 15 s here) launches the rest as places free: twelve cases, four at a
    # time, each a new flow run process on a loaded two-core machine
    deadline = time.monotonic() + 600
    while True:
        states = {c: stack.json("case", "show", c)["state"] for c in cases}
        if "active" not in states.values():
            break
        assert time.monotonic() < deadline, states
        time.sleep(2)
    first = stack.json("case", "show", launched[0])
    assert [r["gate"] for r in first["reports"]][:2] == ["intake", "triage"]
    assert stack.json("intake", "status")["untriaged"] == 0
    assert stack.cli("audit", "verify").returncode == 0
