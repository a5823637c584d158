"""Background processes a RISKGATE_HOME starts (the Prefect server, the runner, the portal):
spawned detached in their own sessions, recorded in pid files under RISKGATE_HOME/run with their
start time, logs under RISKGATE_HOME/logs, waited for until they answer their health URL, and
stopped only if the pid file's process is still the one this home started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from cases.config import Settings
from cases.errors import RiskGateError
from flows.deployments import REPO_ROOT


class StackError(RiskGateError):
    exit_code = 5


def answer(url: str) -> str | None:
    """The body of a 200 answer within 2 s (a health check), None for no such answer."""
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def answers(url: str) -> bool:
    return answer(url) is not None


def pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.json"


def read_pid(settings: Settings, name: str) -> dict | None:
    try:
        record = json.loads(pid_file(settings, name).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


# What the command line of each process we start contains: a pid file whose pid now belongs to
# another program (the pid was reused after a reboot or a crash) is not ours to signal.
MARKERS = {"prefect-server": "prefect server start", "runner": "flows.runner",
           "web": "flows.cli web"}


def started_at(pid: int) -> str | None:
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


def ours(record: dict | None, name: str) -> bool:
    """The pid file's process is alive and is the one this home started: same start time and
    the expected command line. Where /proc is missing, an alive pid is taken as ours."""
    if not record or not alive(record["pid"]):
        return False
    if not Path("/proc").is_dir():
        return True
    started = started_at(record["pid"])
    return (started is not None and started == record.get("started")
            and MARKERS[name] in _command_line(record["pid"]))


def alive(pid: int) -> bool:
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


def spawn(settings: Settings, name: str, command: list[str], env: dict[str, str],
           extra: dict) -> int:
    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if ours(read_pid(settings, name), name):  # never overwrite the record of a live one
        raise StackError(f"this RISKGATE_HOME's {name} is running already (pid file "
                         f"{pid_file(settings, name)}); `riskgate server stop` first")
    log_path = settings.logs_dir / f"{name}.log"
    if log_path.exists() and log_path.stat().st_size > LOG_ROTATE_BYTES:
        log_path.replace(log_path.with_suffix(".log.1"))
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, env={**os.environ, **env},
                               cwd=REPO_ROOT, start_new_session=True)
    log.close()
    record = {"pid": process.pid, "started": started_at(process.pid), **extra}
    pid_file(settings, name).write_text(json.dumps(record))
    return process.pid


def log_tail(settings: Settings, name: str, lines: int = 5) -> str:
    try:
        text = (settings.logs_dir / f"{name}.log").read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)[-400:]


def wait_until_healthy(settings: Settings, name: str, what: str, pid: int, health: str,
                        timeout: float) -> None:
    """Wait for a process this home just spawned to answer its health URL; a process that
    exits, or does not answer in time, is a StackError naming its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(health):
            return
        if not alive(pid):
            raise StackError(f"{what} exited while starting: " + log_tail(settings, name)
                             + f" (log: {settings.logs_dir / f'{name}.log'})")
        time.sleep(0.25)
    raise StackError(f"{what} did not answer within {timeout:.0f} s "
                     f"(log: {settings.logs_dir / f'{name}.log'})")


def stop(settings: Settings, name: str, timeout: float = 15.0) -> bool:
    """Stop a process this home started; a stale pid file (its pid now another program's) is
    removed without signalling anything."""
    current = read_pid(settings, name)
    pid_file(settings, name).unlink(missing_ok=True)
    if not current or not ours(current, name):
        return False
    pid = current["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True
