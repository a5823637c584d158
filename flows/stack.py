"""The local Prefect stack: a Prefect server and the RiskGate runner, started on demand.

With PREFECT_API_URL unset, the CLI starts (or reuses) a Prefect server on 127.0.0.1 with its
own home under RISKGATE_HOME (SQLite), and a runner (`python -m flows.runner`) that serves the
deployments so that continuations can be launched while no CLI process is running. With
PREFECT_API_URL set, that server is used and only the runner is started. Both run detached in
their own sessions; pid files and logs live under RISKGATE_HOME/run and RISKGATE_HOME/logs.
`riskgate server stop` stops them.

Port: the server gets PREFECT_SERVER_API_PORT (not `--port`, which leaves the UI calling 4200;
prefect field notes §1.2).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from cases.config import Settings
from cases.errors import RiskGateError
from cases.secret_files import owner_only_secret
from flows.deployments import PREFECT_YAML, REPO_ROOT

SERVER_START_TIMEOUT = 120.0
RUNNER_READY_TIMEOUT = 90.0
RUNNER_POLL_SECONDS = "1"
# A runner that polled within this many seconds may still be alive; half of it is how long we
# watch whether it polls again (ours poll every second, and the server records it within ~2 s).
FOREIGN_RUNNER_WINDOW = 6.0


class StackError(RiskGateError):
    exit_code = 5


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


def _answer(url: str) -> str | None:
    """The body of a 200 answer within 2 s (a health check), None for no such answer."""
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def _answers(url: str) -> bool:
    return _answer(url) is not None


def _healthy(api_url: str) -> bool:
    return _answers(f"{api_url}/health")


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.json"


def _read_pid(settings: Settings, name: str) -> dict | None:
    try:
        record = json.loads(_pid_file(settings, name).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


# What the command line of each process we start contains: a pid file whose pid now belongs to
# another program (the pid was reused after a reboot or a crash) is not ours to signal.
MARKERS = {"prefect-server": "prefect server start", "runner": "flows.runner",
           "web": "flows.cli web"}


def _started_at(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22): with the
    pid, it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _ours(record: dict | None, name: str) -> bool:
    """The pid file's process is alive and is the one this home started: same start time and
    the expected command line. Where /proc is missing, an alive pid is taken as ours."""
    if not record or not _alive(record["pid"]):
        return False
    if not Path("/proc").is_dir():
        return True
    started = _started_at(record["pid"])
    return (started is not None and started == record.get("started")
            and MARKERS[name] in _command_line(record["pid"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


LOG_ROTATE_BYTES = 10_000_000  # a process's log is rotated when it starts past this size


def _spawn(settings: Settings, name: str, command: list[str], env: dict[str, str],
           extra: dict) -> int:
    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _ours(_read_pid(settings, name), name):  # never overwrite the record of a live one
        raise StackError(f"this RISKGATE_HOME's {name} is running already (pid file "
                         f"{_pid_file(settings, name)}); `riskgate server stop` first")
    log_path = settings.logs_dir / f"{name}.log"
    if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
        log_path.replace(log_path.with_suffix(".log.1"))
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, env={**os.environ, **env},
                               cwd=REPO_ROOT, start_new_session=True)
    log.close()
    record = {"pid": process.pid, "started": _started_at(process.pid), **extra}
    _pid_file(settings, name).write_text(json.dumps(record))
    return process.pid


def _log_tail(settings: Settings, name: str, lines: int = 5) -> str:
    try:
        text = (settings.logs_dir / f"{name}.log").read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)[-400:]


def _ensure_server(settings: Settings, say: Callable[[str], None]) -> str:
    if settings.prefect_api_url:
        if not _healthy(settings.api_url):
            raise StackError(f"PREFECT_API_URL={settings.api_url} is not answering /health")
        return "external"
    ours = _read_pid(settings, "prefect-server")
    if _ours(ours, "prefect-server") and ours and ours.get("port") != settings.prefect_port:
        raise StackError(f"this RISKGATE_HOME's Prefect server runs on port {ours.get('port')}, "
                         f"not {settings.prefect_port}: set RISKGATE_PREFECT_PORT="
                         f"{ours.get('port')}, or `riskgate server stop` it first")
    if _healthy(settings.api_url):
        mine = _ours(ours, "prefect-server")
        if mine and _protected(settings) is False:
            say("restarting this home's Prefect server: it was started without the API secret")
            _stop(settings, "runner")
            _stop(settings, "prefect-server")
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
    pid = _spawn(settings, "prefect-server",
                 [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"],
                 env, {"port": settings.prefect_port})
    _wait_until_healthy(settings, "prefect-server", "the Prefect server", pid,
                        f"{settings.api_url}/health", SERVER_START_TIMEOUT)
    return "started"


def _wait_until_healthy(settings: Settings, name: str, what: str, pid: int, health: str,
                        timeout: float) -> None:
    """Wait for a process this home just spawned to answer its health URL; a process that
    exits, or does not answer in time, is a StackError naming its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(health):
            return
        if not _alive(pid):
            raise StackError(f"{what} exited while starting: " + _log_tail(settings, name)
                             + f" (log: {settings.logs_dir / f'{name}.log'})")
        time.sleep(0.25)
    raise StackError(f"{what} did not answer within {timeout:.0f} s "
                     f"(log: {settings.logs_dir / f'{name}.log'})")


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
    current = _read_pid(settings, "runner")
    if _ours(current, "runner") and current:
        if current.get("fingerprint") == fingerprint:
            return "reused"
        say("restarting the runner (its server, store or prefect.yaml changed)")
        _stop(settings, "runner")
    _refuse_a_foreign_runner(settings)
    say("starting the RiskGate runner (serves the deployments in prefect.yaml)")
    env = {**prefect_env(settings), **settings.child_env(),
           "PREFECT_RUNNER_POLL_FREQUENCY": RUNNER_POLL_SECONDS}
    started = time.time()
    pid = _spawn(settings, "runner", [sys.executable, "-m", "flows.runner"], env,
                 {"fingerprint": fingerprint})
    deadline = time.monotonic() + RUNNER_READY_TIMEOUT
    while time.monotonic() < deadline:
        if _deployment_ready(settings, started):
            return "started"
        if not _alive(pid):
            raise StackError("the runner exited while starting: " + _log_tail(settings, "runner")
                             + f" (log: {settings.logs_dir / 'runner.log'})")
        time.sleep(0.25)
    raise StackError(f"the runner did not serve its deployments within "
                     f"{RUNNER_READY_TIMEOUT:.0f} s (log: {settings.logs_dir / 'runner.log'})")


def ensure_stack(settings: Settings, say: Callable[[str], None] = lambda _: None) -> Stack:
    """Start or reuse the Prefect server and the runner; return where the UI is."""
    server = _ensure_server(settings, say)
    runner = _ensure_runner(settings, say)
    return Stack(api_url=settings.api_url, ui_url=settings.api_url.removesuffix("/api"),
                 server=server, runner=runner)


def _stop(settings: Settings, name: str, timeout: float = 15.0) -> bool:
    """Stop a process this home started; a stale pid file (its pid now another program's) is
    removed without signalling anything."""
    current = _read_pid(settings, name)
    _pid_file(settings, name).unlink(missing_ok=True)
    if not current or not _ours(current, name):
        return False
    pid = current["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


WEB_START_TIMEOUT = 30.0


def ensure_web(settings: Settings, say: Callable[[str], None] = lambda _: None) -> str:
    """Start the expert portal in the background (`riskgate web`), or reuse the one already
    answering on RISKGATE_WEB_URL; 'started' or 'reused'."""
    health = f"{settings.public_url}/healthz"
    answer = _answer(health)
    if answer == f"ok {settings.portal_identity()}":
        return "reused"
    if answer is not None:
        raise StackError(f"{settings.public_url} is taken by another portal (another "
                         f"RISKGATE_HOME or case store); stop it, or set RISKGATE_WEB_PORT "
                         f"to a free port")
    say(f"starting the expert portal on {settings.public_url}")
    pid = _spawn(settings, "web", [sys.executable, "-m", "flows.cli", "web"], {},
                 {"port": settings.web_port})
    _wait_until_healthy(settings, "web", "the expert portal", pid, health, WEB_START_TIMEOUT)
    return "started"


def stop_stack(settings: Settings) -> list[str]:
    """Stop what this RISKGATE_HOME started (portal and runner first, then the server)."""
    return [name for name in ("web", "runner", "prefect-server") if _stop(settings, name)]


def stack_status(settings: Settings) -> dict:
    status = {"api_url": settings.api_url, "server_healthy": _healthy(settings.api_url)}
    for name in ("prefect-server", "runner", "web"):
        current = _read_pid(settings, name)
        status[name] = ({"pid": current["pid"], "alive": _ours(current, name)}
                        if current else None)
    return status
