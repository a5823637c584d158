"""Failpoints: kill this process at a named point, once, to test crash recovery for real.

Inactive unless RISKGATE_FAILPOINTS=on. A test arms a point by creating the file
`$RISKGATE_HOME/failpoints/<name>`; the first process to reach that point deletes the file and
kills itself with SIGKILL (no cleanup, no finally blocks: exactly like a crash or an OOM kill).
Points are named `<gate>.<where>`, e.g. `panel.before_commit`, `triage.after_commit`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def _armed_file(name: str) -> Path | None:
    if os.environ.get("RISKGATE_FAILPOINTS") != "on":
        return None
    home = Path(os.environ.get("RISKGATE_HOME") or "var").resolve()
    return home / "failpoints" / name


def arm(home: Path, name: str) -> None:
    (home / "failpoints").mkdir(parents=True, exist_ok=True)
    (home / "failpoints" / name).touch()


def hit(name: str) -> None:
    path = _armed_file(name)
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
