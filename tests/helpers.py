"""Test helpers that play staff and experts against the real store (no Prefect)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from cases import actions, approvals, store
from cases.accounts import Person
from cases.db import Database
from cases.intake import open_case
from cases.signals import SignalIn, parse_signal
from cases.submissions import record_score
from experts.scoring import ScoreForm
from experts.simulation import Truth, simulated_score
from flows import gates
from flows.demo import SAMPLES, demo_cases
from flows.demo_staff import sample_update

DEMO_KEYS = ("toy_choking", "heater_shock", "cosmetic_banned_substance", "labelling_defect",
             "out_of_scope_food")


def sample_signal(**changes) -> SignalIn:
    data = json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        data[key] = value
    return parse_signal(data)


def archetypes(tag: str = "t") -> dict:
    """The demo's five signals and truths, by key (fresh references per tag)."""
    return {case.key: case for case in demo_cases(5, tag)}


def open_archetype(db: Database, key: str, *, lang: str = "zh", tag: str = "t"):
    item = archetypes(tag)[key]
    opened = open_case(db, item.signal, actor="staff:test", lang=lang)
    return opened.case_id, item.truth


def score_round(db: Database, case_id: str, truth: Truth, *, seed: str = "test",
                limit: int | None = None) -> list:
    """Voting members score the open round through the store, as the form would; returns the
    receipts (late scores raise WrongState and stop the loop)."""
    dossier = store.load_dossier(db, case_id)
    round_no = dossier.case.scoring_round
    feedback = dossier.round(round_no).feedback
    panel = sorted(s.expert_id for s in dossier.voting_seats() if s.active)  # as the demo does
    receipts = []
    for expert_id in panel[:limit]:
        form = ScoreForm.model_validate(simulated_score(truth, expert_id, round_no, feedback,
                                                        seed=seed, panel=panel))
        receipts.append(record_score(db, case_id, expert_id, round_no, form.to_record(),
                                     actor=f"expert:{expert_id}"))
        if receipts[-1].claim.claimed:
            break
    return receipts


def report_path(settings, dossier, gate: str) -> Path:
    record = next(r for r in dossier.reports if r.gate == gate)
    return settings.home / record.path


def wait_until_answers(url: str, process: subprocess.Popen, what: str,
                       timeout: float) -> None:
    """Wait for a server the test started to answer 200 at `url`: a failure if it exits first
    (with its output, when the test piped it) or does not answer in `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise AssertionError(f"{what} exited while starting {output}".rstrip())
        assert time.monotonic() < deadline, f"{what} did not answer within {timeout:.0f} s"
        time.sleep(0.3)


# The people a case waits for after its panel, played through the store (no Prefect): an
# approver who did not open the case, and staff who complete the follow-up actions.
APPROVER = Person("approver", frozenset({"approver"}))
FOLLOWER = Person("follower", frozenset({"staff"}))


def complete_actions(db: Database, case_id: str, lang: str = "zh"):
    """Staff complete every open follow-up action; the last update's claim (or None)."""
    last = None
    for action in actions.list_actions(db, case_id):
        if action.status not in actions.FINAL:
            update = actions.parse_update(sample_update(action.measure, lang))
            last = actions.update_action(db, case_id, action.number, FOLLOWER, update).claim
    return last


def advance_with_people(settings, db, case_id: str, truth=None, *, seed: str = "test",
                        max_steps: int = 12):
    """Advance the case, playing every person it waits for (the panel scores, the approver
    approves the proposal, staff complete the follow-up), until it closes or waits for
    something else; the last `gates.advance` result."""
    done = gates.advance(settings, case_id)
    for _ in range(max_steps):
        if done.state == "awaiting_scores" and truth is not None:
            score_round(db, case_id, truth, seed=seed)
        elif done.state == "awaiting_approval":
            approvals.decide(db, case_id, APPROVER)
        elif done.state == "awaiting_actions":
            complete_actions(db, case_id)
        else:
            return done
        done = gates.advance(settings, case_id)
    return done
