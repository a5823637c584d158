"""Failpoints: make this process crash or stall at a named point, once, to test recovery for
real.

Inactive unless RISKGATE_FAILPOINTS=on. A test arms a point by creating the file
`$RISKGATE_HOME/failpoints/<name>`; the first process to reach that point deletes the file and
does what the file says: nothing (empty file) kills it with SIGKILL — no cleanup, no finally
blocks, exactly like a crash or an OOM kill; `hang:SECONDS` makes it stall there (a run whose
lease another run takes meanwhile). Points are named `<gate>.<where>`, e.g.
`panel.before_commit`, `triage.after_commit`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _armed_file(name: str) -> Path | None:
    if os.environ.get("RISKGATE_FAILPOINTS") != "on":
        return None
    home = Path(os.environ.get("RISKGATE_HOME") or "var").resolve()
    return home / "failpoints" / name


def arm(home: Path, name: str, action: str = "") -> None:
    (home / "failpoints").mkdir(parents=True, exist_ok=True)
    (home / "failpoints" / name).write_text(action)


def hit(name: str) -> None:
    path = _armed_file(name)
    if path is None:
        return
    taken = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        os.rename(path, taken)  # atomic: exactly one process takes an armed point
    except FileNotFoundError:
        return
    action = taken.read_text().strip()
    taken.unlink()
    if action.startswith("hang:"):
        time.sleep(float(action.removeprefix("hang:")))
        return
    os.kill(os.getpid(), signal.SIGKILL)
