"""Races between processes, on PostgreSQL (READ COMMITTED, real concurrency) and on SQLite.

Each test starts worker processes that wait at a barrier and then do the same thing at the same
moment: take in signals on one product, make the first decision under a new rulebook version,
seat panels from a small roster, submit the scores of many panels. The store must come out as if
they had run one after another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import col, select

from cases import audit, outbox, store
from cases.models import Case, PanelSeat, RulebookSnapshot, Signal
from experts.panel import ExpertProfile
from flows import gates
from tests.conftest import REPO
from tests.helpers import archetypes, open_archetype, sample_signal

WORKER = r"""
import json, os, sys, time
from pathlib import Path
barrier, n = Path(sys.argv[1]), sys.argv[2]
from cases.config import load_settings
from cases.db import database
from cases.errors import WrongState
from cases.intake import open_case
from cases.signals import parse_signal
from cases.submissions import record_score
from flows import gates
settings = load_settings()
db = database(settings.database_url)
with db.engine.connect():  # a pooled connection, ready
    pass
job = json.loads(sys.argv[3])
signal = parse_signal(job["signal"]) if job["do"] == "open" else None
(barrier / f"ready-{n}").touch()
while not (barrier / "go").exists():  # everything is loaded: all start within milliseconds
    time.sleep(0.001)
out = []
if job["do"] == "open":
    out.append(open_case(db, signal, actor=f"staff:w{n}", lang="zh").case_id)
elif job["do"] == "advance":
    for case_id in job["cases"]:
        out.append(gates.advance(settings, case_id).state)
elif job["do"] == "score":
    for case_id, expert, round_no, record in job["scores"]:
        try:
            out.append(record_score(db, case_id, expert, round_no, record,
                                    actor=f"expert:{expert}").claim.claimed)
        except WrongState:
            out.append("late")
print(json.dumps(out))
"""


def run_at_once(settings, tmp_path: Path, jobs: list[dict], timeout: float = 240) -> list:
    barrier = tmp_path / f"barrier-{time.monotonic_ns()}"
    barrier.mkdir()
    env = {**os.environ, **settings.child_env()}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(barrier), str(n),
                                 json.dumps(job, ensure_ascii=False)],
                                env=env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for n, job in enumerate(jobs)]
    deadline = time.monotonic() + timeout
    while len(list(barrier.glob("ready-*"))) < len(jobs):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        time.sleep(0.05)
    (barrier / "go").touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_simultaneous_signals_on_one_product_open_one_case(settings, db, tmp_path):
    signals = [sample_signal(reference=f"same-product-{i}").model_dump(mode="json")
               for i in range(12)]
    opened = run_at_once(settings, tmp_path, [{"do": "open", "signal": s} for s in signals])
    assert len({case_id for (case_id,) in opened}) == 1
    with db.read_session() as s:
        assert len(s.exec(select(Case)).all()) == 1
        assert len(s.exec(select(Signal)).all()) == 12
    assert audit.verify(db, settings.home).ok


def test_the_first_use_of_a_rulebook_version_from_many_processes(settings, db, roster,
                                                                  tmp_path):
    cases = [open_archetype(db, "out_of_scope_food", tag=f"first-{i}")[0] for i in range(6)]
    with db.read_session() as s:
        assert s.exec(select(RulebookSnapshot)).all() == []  # nobody used a rulebook yet
    states = run_at_once(settings, tmp_path, [{"do": "advance", "cases": [c]} for c in cases])
    assert states == [["closed"]] * 6
    with db.read_session() as s:
        assert [r.name for r in s.exec(select(RulebookSnapshot)).all()] == ["triage"]
    assert audit.verify(db, settings.home).ok


def test_concurrent_panels_respect_the_workload_cap(settings, db, tmp_path):
    """Five toy experts, a cap of six open seats each: six panels fit, the rest wait for
    staff, whichever process gets there first."""
    store.upsert_experts(db, [ExpertProfile(id=f"T{i}", name=f"toy expert {i}",
                                            affiliation=f"lab {i}", seniority=10 + i,
                                            categories=("toys",), hazards=("choking",))
                              for i in range(5)], actor="staff:t")
    cases = []
    for i in range(9):
        signal = sample_signal(reference=f"cap-{i}")
        signal = signal.model_copy(update={"product": signal.product.model_copy(
            update={"model": f"CAP-{i}"})})
        from cases.intake import open_case

        cases.append(open_case(db, signal, actor="staff:t", lang="zh").case_id)
    results = run_at_once(settings, tmp_path, [{"do": "advance", "cases": [c]} for c in cases])
    assert Counter(r[0] for r in results) == {"awaiting_scores": 6, "awaiting_staff": 3}
    with db.read_session() as s:
        seats = s.exec(select(PanelSeat.expert_id).where(
            col(PanelSeat.role).in_(("chair", "member")))).all()
    assert Counter(seats) == {f"T{i}": 6 for i in range(5)}
    assert audit.verify(db, settings.home).ok


def test_forty_scores_from_ten_processes_claim_each_quorum_once(settings, db, roster,
                                                                tmp_path):
    from experts.scoring import ScoreForm
    from experts.simulation import simulated_score

    truth = archetypes()["toy_choking"].truth
    store.upsert_experts(db, [ExpertProfile(id=f"X{i}", name=f"extra toy expert {i}",
                                            affiliation=f"lab {i}", seniority=5,
                                            categories=("toys",), hazards=("choking",))
                              for i in range(6)], actor="staff:t")  # room for eight panels
    jobs: list[list] = [[] for _ in range(10)]
    case_ids = []
    n = 0
    for i in range(8):
        case_id, _ = open_archetype(db, "toy_choking", tag=f"forty-{i}")
        gates.advance(settings, case_id)
        case_ids.append(case_id)
        panel = sorted(s.expert_id for s in store.load_dossier(db, case_id).voting_seats())
        for expert in panel:
            form = ScoreForm.model_validate(simulated_score(truth, expert, 1, None, seed="c",
                                                            panel=panel)).to_record()
            jobs[n % 10].append([case_id, expert, 1, form])
            n += 1
    assert n == 40
    results = run_at_once(settings, tmp_path, [{"do": "score", "scores": j} for j in jobs])
    flat = [r for worker in results for r in worker]
    assert flat.count(True) == 8 and flat.count("late") == 8 and flat.count(False) == 24
    for case_id in case_ids:  # one claim, one continuation owed, per case
        assert [o.key for o in outbox.of_case(db, case_id)] == [f"{case_id}:scores:r1"]
        assert store.get_case(db, case_id).state == "active"
    assert audit.verify(db, settings.home).ok


@pytest.fixture(autouse=True)
def _fast_enough():
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 300
