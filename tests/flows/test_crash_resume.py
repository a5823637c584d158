"""A case run killed mid-flow (SIGKILL, no cleanup) resumes at the first incomplete gate.

The run is a separate process that kills itself at a failpoint: after a gate's report file is
written but before its commit, or right after a commit. The resumed run must not redo completed
gates, must record exactly one report per gate, and the audit chain must still verify.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import pytest
from sqlmodel import func, select

from cases import approvals, audit, failpoints, store
from cases.models import GateRecord, ReportRecord
from flows import gates
from tests.conftest import REPO
from tests.helpers import (
    APPROVER,
    advance_with_people,
    complete_actions,
    open_archetype,
    score_round,
)

ADVANCE = "from cases.config import load_settings; from flows import gates; import sys; " \
          "gates.advance(load_settings(), sys.argv[1])"


def advance_in_a_process(settings, case_id: str) -> int:
    env = {**os.environ, **settings.child_env(), "RISKGATE_FAILPOINTS": "on"}
    return subprocess.run([sys.executable, "-c", ADVANCE, case_id], env=env, cwd=REPO,
                          capture_output=True, timeout=120).returncode


def records(db, model, case_id: str) -> list:
    with db.session() as s:
        return list(s.exec(select(model).where(model.case_id == case_id)).all())


@pytest.mark.parametrize("point", ["triage.before_commit", "triage.after_commit",
                                   "panel.before_commit", "disposal.before_commit",
                                   "closure.after_commit"])
def test_killed_run_resumes_at_the_first_incomplete_gate(settings, db, roster, point):
    case_id, truth = open_archetype(db, "toy_choking")
    gate = point.split(".")[0]
    if gate in ("disposal", "closure"):  # past the panel and the approval (the disposal's
        gates.advance(settings, case_id)  # commit with its report is the one killed)
        score_round(db, case_id, truth)
        assert gates.advance(settings, case_id).state == "awaiting_approval"
        approvals.decide(db, case_id, APPROVER)
    if gate == "closure":  # and past the follow-up
        assert gates.advance(settings, case_id).state == "awaiting_actions"
        complete_actions(db, case_id)
    failpoints.arm(settings.home, point)
    assert advance_in_a_process(settings, case_id) == -signal.SIGKILL

    crashed = store.load_dossier(db, case_id)
    done_before = crashed.completed_gates()
    if point.endswith("before_commit"):
        assert gate not in done_before and crashed.case.gate == gate
    else:
        assert gate in done_before
    kept = {r.gate: (r.sha256, (settings.home / r.path).stat().st_mtime_ns)
            for r in crashed.reports}

    # The crashed run still holds the lease: its pid is dead, so a new run takes over at once.
    assert advance_in_a_process(settings, case_id) == 0
    advance_with_people(settings, db, case_id, truth)  # whoever it waits for then

    after = store.load_dossier(db, case_id)
    assert after.case.state == "closed"
    gate_rows = records(db, GateRecord, case_id)
    report_rows = records(db, ReportRecord, case_id)
    assert len(gate_rows) == len({(g.gate, g.round) for g in gate_rows})
    assert len(report_rows) == len({r.gate for r in report_rows}) == len(gate_rows)
    for report in after.reports:
        path = settings.home / report.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == report.sha256
        if report.gate in kept:  # completed before the crash: never rewritten
            assert (report.sha256, path.stat().st_mtime_ns) == kept[report.gate]
    assert audit.verify(db, settings.home).ok


def test_failpoints_are_inert_unless_enabled(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    failpoints.arm(settings.home, "intake.before_commit")
    gates.advance(settings, case_id)  # this process: RISKGATE_FAILPOINTS is not "on"
    assert "intake" in store.load_dossier(db, case_id).completed_gates()
    with db.session() as s:
        assert s.exec(select(func.count()).select_from(GateRecord)).one() == 3
