"""The local Prefect stack: a Prefect server and the RiskGate runner, started on demand.

With PREFECT_API_URL unset, the CLI starts (or reuses) a Prefect server on 127.0.0.1 with its
own home under RISKGATE_HOME (SQLite), and a runner (`python -m flows.runner`) that serves the
deployments so that continuations can be launched while no CLI process is running. With
PREFECT_API_URL set, that server is used and only the runner is started. Both run detached in
their own sessions; pid files and logs live under RISKGATE_HOME/run and RISKGATE_HOME/logs.
`riskgate server stop` stops them. Spawning, pid files and stopping are flows/processes.py.

Port: the server gets PREFECT_SERVER_API_PORT (not `--port`, which leaves the UI calling 4200;
prefect field notes §1.2).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from cases.config import Settings
from cases.errors import InvalidInput
from cases.secret_files import owner_only_secret
from flows.deployments import PREFECT_YAML
from flows.processes import (
    StackError,
    alive,
    answer,
    answers,
    log_tail,
    ours,
    read_pid,
    spawn,
    stop,
    wait_until_healthy,
)
from reports.render import TemplateError
from reports.template_check import check_templates, templates_fingerprint

SERVER_START_TIMEOUT = 120.0
RUNNER_READY_TIMEOUT = 90.0
RUNNER_POLL_SECONDS = "1"
# A runner that polled within this many seconds may still be alive; half of it is how long we
# watch whether it polls again (ours poll every second, and the server records it within ~2 s).
FOREIGN_RUNNER_WINDOW = 6.0


AUTH_USER = "riskgate"


def api_secret(settings: Settings) -> str:
    """`user:password` that the local Prefect server requires of every API request, generated
    once into the data directory, readable by its owner only. Without it any local user could
    change the case deployment's pull steps and run commands as this account (found by
    probing: a PATCH to /api/deployments and one flow run)."""
    return owner_only_secret(settings.prefect_auth_file, prefix=f"{AUTH_USER}:")


def _auth(settings: Settings) -> tuple[str, str] | None:
    """Credentials for our own HTTP calls to the API (None for an external server without a
    PREFECT_API_AUTH_STRING of the user's)."""
    text = os.environ.get("PREFECT_API_AUTH_STRING") if settings.prefect_api_url \
        else api_secret(settings)
    if not text or ":" not in text:
        return None
    user, _, password = text.partition(":")
    return user, password


def prefect_env(settings: Settings) -> dict[str, str]:
    """Settings every RiskGate process gives Prefect: our server, our home, no telemetry, and
    the local server's secret (an external server's is the user's PREFECT_API_AUTH_STRING)."""
    env = {
        "PREFECT_API_URL": settings.api_url,
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    if not settings.prefect_api_url:
        env["PREFECT_API_AUTH_STRING"] = api_secret(settings)
    return env


def apply_prefect_env(settings: Settings) -> None:
    """Point this process's Prefect client at the stack. Call before prefect is imported."""
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(prefect_env(settings))


@dataclass(frozen=True)
class Stack:
    api_url: str
    ui_url: str
    server: str  # started | reused | external
    runner: str  # started | reused | workers (deployed to a work pool, run by workers)


def _healthy(api_url: str) -> bool:
    return answers(f"{api_url}/health")


def _ensure_server(settings: Settings, say: Callable[[str], None]) -> str:
    if settings.prefect_api_url:
        if not _healthy(settings.api_url):
            raise StackError(f"PREFECT_API_URL={settings.api_url} is not answering /health")
        return "external"
    recorded = read_pid(settings, "prefect-server")
    if ours(recorded, "prefect-server") and recorded \
            and recorded.get("port") != settings.prefect_port:
        raise StackError(f"this RISKGATE_HOME's Prefect server runs on port "
                         f"{recorded.get('port')}, not {settings.prefect_port}: set "
                         f"RISKGATE_PREFECT_PORT={recorded.get('port')}, or `riskgate server "
                         "stop` it first")
    if _healthy(settings.api_url):
        mine = ours(recorded, "prefect-server")
        if mine and _protected(settings) is False:
            say("restarting this home's Prefect server: it was started without the API secret")
            stop(settings, "runner")
            stop(settings, "prefect-server")
            return _ensure_server(settings, say)
        if not _accepts_our_secret(settings):
            raise StackError(f"the Prefect server answering on {settings.api_url} was not "
                             f"started by this RISKGATE_HOME and refuses its secret (another "
                             f"home's server?): give this home its own server with "
                             f"RISKGATE_PREFECT_PORT (e.g. {settings.prefect_port + 1}), or stop "
                             f"the other with `RISKGATE_HOME=<its home> riskgate server stop`")
        if not mine:
            say(f"reusing the Prefect server already answering on {settings.api_url} (not "
                "started from this RISKGATE_HOME; `riskgate server stop` will not stop it)")
        return "reused"
    say(f"starting the Prefect server on 127.0.0.1:{settings.prefect_port} "
        "(first start takes about 10 s)")
    env = {**prefect_env(settings),
           "PREFECT_SERVER_API_HOST": "127.0.0.1",
           "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
           "PREFECT_SERVER_API_AUTH_STRING": api_secret(settings)}
    env.pop("PREFECT_API_URL")  # the server must not call itself
    pid = spawn(settings, "prefect-server",
                 [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"],
                 env, {"port": settings.prefect_port})
    wait_until_healthy(settings, "prefect-server", "the Prefect server", pid,
                        f"{settings.api_url}/health", SERVER_START_TIMEOUT)
    return "started"


def _runner_fingerprint(settings: Settings) -> str:
    """What the running runner must match: server, store and deployment declarations."""
    secret = "" if settings.prefect_api_url else api_secret(settings)
    text = f"{settings.api_url}|{settings.database_url}|{PREFECT_YAML.read_text()}|{secret}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _case_deployment(settings: Settings) -> dict | None:
    """The case deployment as the server has it, or None if it is not there (yet)."""
    from flows.deployments import case_deployment_name

    try:
        response = httpx.get(f"{settings.api_url}/deployments/name/{case_deployment_name()}",
                             timeout=2.0, auth=_auth(settings))
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _protected(settings: Settings) -> bool | None:
    """Whether the server refuses a request without credentials (None: it did not answer)."""
    try:
        response = httpx.post(f"{settings.api_url}/deployments/filter", timeout=2.0,
                              json={"limit": 1, "offset": 0})
    except httpx.HTTPError:
        return None
    return response.status_code == 401


def _accepts_our_secret(settings: Settings) -> bool:
    try:
        response = httpx.post(f"{settings.api_url}/deployments/filter", timeout=2.0,
                              json={"limit": 1, "offset": 0}, auth=_auth(settings))
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _last_polled(deployment: dict | None) -> float | None:
    """When a runner last asked for the deployment's runs (epoch seconds), if ever."""
    polled = (deployment or {}).get("last_polled")
    return datetime.fromisoformat(polled.replace("Z", "+00:00")).timestamp() if polled else None


def _deployment_ready(settings: Settings, since: float) -> bool:
    deployment = _case_deployment(settings)
    polled = _last_polled(deployment)
    return bool(deployment and deployment.get("status") == "READY" and polled
                and polled >= since - 1)


def _refuse_a_foreign_runner(settings: Settings) -> None:
    """Stop a second RISKGATE_HOME from serving the deployments of a server another home uses.

    Every home's runner serves the same deployment names; with two on one server either runner
    may take the other's flow runs, which then fail with "no case" in the wrong store. A runner
    this home did not start is polling if `last_polled` still advances after a few polls'
    time (ours poll every RUNNER_POLL_SECONDS; a runner that just died does not advance it).
    """
    first = _last_polled(_case_deployment(settings))
    if first is None or time.time() - first > FOREIGN_RUNNER_WINDOW:
        return
    time.sleep(FOREIGN_RUNNER_WINDOW / 2)
    again = _last_polled(_case_deployment(settings))
    if again is not None and again > first:
        raise StackError(
            f"something else already serves the case deployment on {settings.api_url} "
            f"(the runner of another RISKGATE_HOME, or workers of the deployed pool); two "
            f"stores on one Prefect server would take each other's flow runs. Give this home "
            f"its own server with RISKGATE_PREFECT_PORT (e.g. {settings.prefect_port + 1}), or "
            f"stop the other with `RISKGATE_HOME=<its home> riskgate server stop`")


def _ensure_runner(settings: Settings, say: Callable[[str], None]) -> str:
    if settings.prefect_api_url:
        deployment = _case_deployment(settings)
        if deployment and deployment.get("work_pool_name"):
            # `prefect deploy --all` put the deployments on a work pool: workers run them
            # (the at-scale mode); this machine starts no runner of its own.
            return "workers"
    fingerprint = _runner_fingerprint(settings)
    current = read_pid(settings, "runner")
    if ours(current, "runner") and current:
        if current.get("fingerprint") == fingerprint:
            return "reused"
        say("restarting the runner (its server, store or prefect.yaml changed)")
        stop(settings, "runner")
    _refuse_a_foreign_runner(settings)
    say("starting the RiskGate runner (serves the deployments in prefect.yaml)")
    env = {**prefect_env(settings), **settings.child_env(),
           "PREFECT_RUNNER_POLL_FREQUENCY": RUNNER_POLL_SECONDS}
    started = time.time()
    pid = spawn(settings, "runner", [sys.executable, "-m", "flows.runner"], env,
                 {"fingerprint": fingerprint})
    deadline = time.monotonic() + RUNNER_READY_TIMEOUT
    while time.monotonic() < deadline:
        if _deployment_ready(settings, started):
            return "started"
        if not alive(pid):
            raise StackError("the runner exited while starting: " + log_tail(settings, "runner")
                             + f" (log: {settings.logs_dir / 'runner.log'})")
        time.sleep(0.25)
    raise StackError(f"the runner did not serve its deployments within "
                     f"{RUNNER_READY_TIMEOUT:.0f} s (log: {settings.logs_dir / 'runner.log'})")


def check_report_templates(settings: Settings) -> None:
    """Refuse to start with a report template that would fail at its gate (RISKGATE_TEMPLATES:
    a centre's restyled copies), naming the file and the tag. The templates' versions of the
    last check that passed are kept in the run directory: unchanged templates are not checked
    again by every command (the check renders each one, about 2 s in all)."""
    stamp = settings.run_dir / "templates-checked"
    try:
        versions = templates_fingerprint()
        if stamp.is_file() and stamp.read_text(encoding="utf-8") == versions:
            return
        check_templates()
    except TemplateError as exc:
        raise InvalidInput(f"report template refused: {exc}") from None
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(versions, encoding="utf-8")


def ensure_stack(settings: Settings, say: Callable[[str], None] = lambda _: None) -> Stack:
    """Start or reuse the Prefect server and the runner; return where the UI is."""
    check_report_templates(settings)
    server = _ensure_server(settings, say)
    runner = _ensure_runner(settings, say)
    return Stack(api_url=settings.api_url, ui_url=settings.api_url.removesuffix("/api"),
                 server=server, runner=runner)


WEB_START_TIMEOUT = 30.0


def ensure_web(settings: Settings, say: Callable[[str], None] = lambda _: None) -> str:
    """Start the expert portal in the background (`riskgate web`), or reuse the one already
    answering on RISKGATE_WEB_URL; 'started' or 'reused'."""
    health = f"{settings.public_url}/healthz"
    answered = answer(health)
    if answered == f"ok {settings.portal_identity()}":
        return "reused"
    if answered is not None:
        raise StackError(f"{settings.public_url} is taken by another portal (another "
                         f"RISKGATE_HOME or case store); stop it, or set RISKGATE_WEB_PORT "
                         f"to a free port")
    say(f"starting the expert portal on {settings.public_url}")
    pid = spawn(settings, "web", [sys.executable, "-m", "flows.cli", "web"], {},
                 {"port": settings.web_port})
    wait_until_healthy(settings, "web", "the expert portal", pid, health, WEB_START_TIMEOUT)
    return "started"


def stop_stack(settings: Settings) -> list[str]:
    """Stop what this RISKGATE_HOME started (portal and runner first, then the server)."""
    return [name for name in ("web", "runner", "prefect-server") if stop(settings, name)]


def stack_status(settings: Settings) -> dict:
    status = {"api_url": settings.api_url, "server_healthy": _healthy(settings.api_url)}
    for name in ("prefect-server", "runner", "web"):
        current = read_pid(settings, name)
        status[name] = ({"pid": current["pid"], "alive": ours(current, name)}
                        if current else None)
    return status
