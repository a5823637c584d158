"""The hand-over, without Prefect: owed continuations, leases lost and expired, the sweeper's
decisions, a panel nobody can sit, three rounds without consensus.

Prefect itself is replaced here only where the test is about the store's side of the hand-over
(a start that raises as an unreachable API does, a run state the sweeper reads); the same paths
run against a real Prefect server in tests/flows/test_prefect_e2e.py.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cases import audit, lease, outbox, store, sweeping
from cases.errors import LeaseLost
from cases.models import utcnow
from flows import gates, launcher
from flows.submissions import submit_score
from flows.sweep import sweep_once
from tests.helpers import open_archetype, score_round


def forms(db, case_id: str, truth, *, seed="handover"):
    """Score forms of the voting panel for the open round, as simulated experts give them."""
    from experts.simulation import simulated_score

    dossier = store.load_dossier(db, case_id)
    round_no = dossier.case.scoring_round
    panel = sorted(s.expert_id for s in dossier.voting_seats())
    feedback = dossier.round(round_no).feedback
    return round_no, [(e, simulated_score(truth, e, round_no, feedback, seed=seed, panel=panel))
                      for e in panel]


class Starts:
    """A stand-in for Prefect's run_deployment that advances the case in this process, once
    per idempotency key, exactly as Prefect guarantees."""

    def __init__(self, settings):
        self.settings, self.keys, self.runs = settings, [], {}

    def __call__(self, settings, owed) -> str:
        self.keys.append(owed.key)
        run_id = self.runs.setdefault(owed.key, f"00000000-0000-0000-0000-{len(self.runs):012d}")
        outbox.started(store_db(settings), owed.id, run_id)
        gates.advance(settings, owed.case_id, flow_run_id=run_id)
        return run_id


def store_db(settings):
    from cases.db import database

    return database(settings.database_url)


def completed(ids):
    return dict.fromkeys(ids, "COMPLETED")


def test_a_claim_whose_start_fails_stays_owed_and_the_sweeper_starts_it_once(
        settings, db, roster, monkeypatch):
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)

    def unreachable(case_id, *, key=None):
        raise ConnectionError("Prefect API at http://127.0.0.1:4200/api is unreachable")

    monkeypatch.setattr(launcher, "start_case_run", unreachable)
    monkeypatch.setattr("flows.handover.BACKOFF_SECONDS", (0.0,))
    round_no, scored = forms(db, case_id, truth)
    results = [submit_score(settings, case_id, e, round_no, f) for e, f in scored[:4]]
    final = results[-1]
    assert final.claim.claimed and final.owed and final.flow_run_id is None
    owed = outbox.of_case(db, case_id)
    assert [(o.key, o.flow_run_id, o.attempts) for o in owed] == [
        (f"{case_id}:scores:r1", None, 1)]
    assert store.get_case(db, case_id).state == "active"  # claimed, stored, owed

    starts = Starts(settings)
    first = sweep_once(settings, start=starts, states_of=completed)
    assert first.started == [f"{case_id}:scores:r1"] and starts.keys == first.started
    assert store.get_case(db, case_id).state == "awaiting_approval"  # the next human wait
    again = sweep_once(settings, start=starts, states_of=completed)
    done = again.to_dict()
    assert all(not done[k] for k in ("started", "unreachable", "retaken", "panels_retried",
                                      "handed_to_staff", "rounds_closed", "quorum_lost"))
    assert starts.keys == [f"{case_id}:scores:r1"]  # exactly one continuation
    assert audit.verify(db, settings.home).ok


def test_the_sweeper_takes_up_an_active_case_whose_run_crashed(settings, db, roster):
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    score_round(db, case_id, truth)  # claimed and owed; its run "crashed" before any gate
    (owed,) = outbox.unstarted(db)
    outbox.started(db, owed.id, "11111111-1111-1111-1111-111111111111")
    with db.engine.begin() as conn:  # the dead run still holds the lease (another host)
        conn.execute(sa.text('UPDATE "case" SET lease_owner = :o, lease_expires = :e '
                             'WHERE id = :i'),
                     {"o": "elsewhere:1:cafe:run=11111111-1111-1111-1111-111111111111",
                      "e": utcnow() + timedelta(minutes=10), "i": case_id})
    starts = Starts(settings)
    running = sweep_once(settings, start=starts, states_of=lambda ids: dict.fromkeys(
        ids, "RUNNING"))
    assert running.retaken == [] and store.get_case(db, case_id).state == "active"
    swept = sweep_once(settings, start=starts, states_of=lambda ids: dict.fromkeys(
        ids, "CRASHED"))
    assert swept.retaken == [case_id] and swept.started == [f"{case_id}:retake"]
    assert store.get_case(db, case_id).state == "awaiting_approval"
    assert audit.verify(db, settings.home).ok


def test_a_case_never_launched_is_not_taken_up(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    swept = sweep_once(settings, start=Starts(settings), states_of=completed)
    assert swept.retaken == [] and store.get_case(db, case_id).gate == "intake"


def test_a_run_that_loses_its_lease_stops_and_never_overwrites_the_other_runs_report(
        settings, db, roster, monkeypatch):
    case_id, _ = open_archetype(db, "toy_choking")
    from flows.gates import triage

    original = triage.step
    other = {}

    def slow_triage(ctx, d):
        """While this run works on triage its lease expires and another run does triage."""
        with db.engine.begin() as conn:
            conn.execute(sa.text('UPDATE "case" SET lease_expires = :e WHERE id = :i'),
                         {"e": utcnow() - timedelta(seconds=1), "i": case_id})
        monkeypatch.setitem(gates.GATE_STEPS, "triage", original)
        other["done"] = gates.advance(settings, case_id)  # takes the expired lease
        return original(ctx, d)

    monkeypatch.setitem(gates.GATE_STEPS, "triage", slow_triage)
    with pytest.raises(LeaseLost, match=f"case {case_id}: this run .* lost its lease to no "
                                        "run now"):
        gates.advance(settings, case_id)
    assert other["done"].state == "awaiting_scores"
    dossier = store.load_dossier(db, case_id)
    assert [(g.gate, g.round) for g in dossier.gates] == [("intake", 1), ("triage", 1),
                                                          ("panel", 1)]
    record = next(r for r in dossier.reports if r.gate == "triage")
    assert hashlib.sha256((settings.home / record.path).read_bytes()).hexdigest() == \
        record.sha256
    assert not list((settings.home / "reports" / case_id).glob(".staging/*"))
    assert audit.verify(db, settings.home).ok


def test_an_expired_lease_is_taken_over_and_its_holder_cannot_commit(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    stale = lease.new_owner("run-a")
    lease.acquire(db, case_id, stale)
    with db.engine.begin() as conn:
        conn.execute(sa.text('UPDATE "case" SET lease_expires = :e WHERE id = :i'),
                     {"e": utcnow() - timedelta(seconds=1), "i": case_id})
    fresh = lease.new_owner("run-b")
    lease.acquire(db, case_id, fresh)  # expired: free for the taking
    with pytest.raises(LeaseLost, match=f"lost its lease to {fresh}"):
        lease.renew(db, case_id, stale)


def exhaust(settings, db, count: int) -> list[str]:
    """Cases waiting for scores on the same toy panel, until the roster is used up."""
    from cases.intake import open_case
    from tests.helpers import sample_signal

    ids = []
    for i in range(count):
        signal = sample_signal(reference=f"exhaust-{i}")
        signal = signal.model_copy(update={"product": signal.product.model_copy(
            update={"model": f"M-{i}"})})
        ids.append(open_case(db, signal, actor="staff:t", lang="zh").case_id)
        gates.advance(settings, ids[-1])
    return ids


def test_no_eligible_panel_waits_for_staff_and_is_taken_up_when_experts_free_up(
        settings, db, roster):
    ids = exhaust(settings, db, 7)
    states = [store.get_case(db, i).state for i in ids]
    assert states[:6] == ["awaiting_scores"] * 6
    seventh = store.get_case(db, ids[6])
    assert (seventh.gate, seventh.state) == ("panel", "awaiting_staff")
    assert seventh.waiting_reason.startswith("no panel for category toys: only ") and \
        "workload_cap" in seventh.waiting_reason
    assert not any(r.gate == "panel" for r in store.load_dossier(db, ids[6]).reports)
    starts = Starts(settings)
    assert sweep_once(settings, start=starts, states_of=completed).panels_retried == []
    # experts free up: the first case's panel finishes its assessment (the case goes on to
    # wait for the approval of its disposal; its panel has no more work)
    from tests.helpers import archetypes

    truth = archetypes()["toy_choking"].truth
    score_round(db, ids[0], truth)
    gates.advance(settings, ids[0])
    assert store.get_case(db, ids[0]).state == "awaiting_approval"
    swept = sweep_once(settings, start=starts, states_of=completed)
    assert swept.panels_retried == [ids[6]]
    after = store.get_case(db, ids[6])
    assert (after.gate, after.state, after.waiting_reason) == ("assessment", "awaiting_scores",
                                                               "")
    assert audit.verify(db, settings.home).ok


def test_staff_retry_a_case_waiting_for_staff(settings, db, roster, capsys):
    from flows.cli import main

    ids = exhaust(settings, db, 7)
    with pytest.raises(SystemExit) as done:
        main(["case", "show", ids[6], "--json"])
    shown = __import__("json").loads(capsys.readouterr().out)
    assert shown["state"] == "awaiting_staff" and shown["waiting_reason"]
    claim = sweeping.retry(db, ids[6], actor="staff:t", by="staff", why="staff asked")
    assert claim is not None and claim.key == f"{ids[6]}:retry"
    gates.advance(settings, ids[6])  # still no panel: back to waiting, with the reason
    assert store.get_case(db, ids[6]).state == "awaiting_staff"
    assert done.value.code == 0


def test_three_delphi_rounds_without_consensus_end_the_assessment(settings, db, roster):
    from cases.submissions import record_score
    from experts.scoring import ScoreForm

    case_id, _ = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    far_apart = [(4, "> 1/2"), (1, "≤ 1/1 000 000"), (4, "> 1/10"), (1, "> 1/1 000 000")]
    for round_no in (1, 2, 3):
        dossier = store.load_dossier(db, case_id)
        assert dossier.case.scoring_round == round_no
        panel = sorted(s.expert_id for s in dossier.voting_seats())
        for expert, (severity, band) in zip(panel, far_apart, strict=False):
            answer = {"severity": severity, "probability": band, "measures": ["recall"],
                      "rationale": "the panel stays split"}
            if round_no > 1 and expert == panel[1]:  # far from the median: asked why
                from cases.errors import InvalidInput

                with pytest.raises(InvalidInput, match="give your reasons as dissent"):
                    record_score(db, case_id, expert, round_no,
                                 ScoreForm.model_validate(answer).to_record(), actor="t")
            if round_no > 1:
                answer["dissent"] = "the injury data say otherwise"
            form = ScoreForm.model_validate(answer)
            record_score(db, case_id, expert, round_no, form.to_record(), actor="t")
        gates.advance(settings, case_id)
    dossier = store.load_dossier(db, case_id)
    assert dossier.case.state == "awaiting_approval"
    outcome = dossier.gate_record("assessment").outcome
    assert outcome["rounds"] == 3 and outcome["consensus"] is False
    assert [r.round_no for r in dossier.rounds] == [1, 2, 3]
    from reports.extract import docx_text
    from tests.helpers import report_path

    text = docx_text(report_path(settings, dossier, "assessment"))
    assert "第 3 轮评分" in text and "是否达成共识 | 否" in text
    assert audit.verify(db, settings.home).ok


# -- the sweeper's decisions, case by case (cases/sweeping.py), without store or Prefect

NOW = utcnow()
RUN = "22222222-2222-2222-2222-222222222222"
HOLDER_RUN = "33333333-3333-3333-3333-333333333333"


def active(latest_run: str | None = RUN, owner: str | None = None, expires_in: float = 600,
           retakes: int = 0) -> sweeping.ActiveCase:
    owed = outbox.Owed(7, "RG-X", "RG-X:launch", "case.launched", latest_run, 1)
    return sweeping.ActiveCase("RG-X", "triage", NOW, owner,
                               None if owner is None else NOW + timedelta(seconds=expires_in),
                               owed, retakes)


@pytest.mark.parametrize(("case", "states", "retaken"), [
    (active(), {RUN: "RUNNING"}, False),  # its run is alive
    (active(), {RUN: "SCHEDULED"}, False),
    (active(), {RUN: "CRASHED"}, True),
    (active(), {RUN: "COMPLETED"}, True),  # completed, yet the case is still active
    (active(), {}, True),  # a run Prefect does not know
    (active(latest_run=None), {}, False),  # owed, not started: started as it is
    (active(owner=f"h:1:ab:run={HOLDER_RUN}"), {RUN: "CRASHED", HOLDER_RUN: "RUNNING"}, False),
    (active(owner=f"h:1:ab:run={HOLDER_RUN}"), {RUN: "CRASHED", HOLDER_RUN: "FAILED"}, True),
    (active(owner="h:1:ab"), {RUN: "CRASHED"}, False),  # a live non-flow holder
    (active(owner="h:1:ab", expires_in=-1), {RUN: "CRASHED"}, True),  # … whose lease expired
    # a worker machine that died: Prefect still says RUNNING, but the lease has expired
    (active(owner=f"h:1:ab:run={RUN}", expires_in=-1), {RUN: "RUNNING"}, True),
])
def test_when_the_sweeper_retakes_a_case(case, states, retaken):
    decided = sweeping.retake_for(case, states.get, NOW)
    assert (decided is not None) == retaken
    if decided is not None:
        assert decided.seen_holder == case.lease_owner and not decided.give_up


def test_never_launched_cases_are_left_to_staff_and_failing_ones_are_handed_over():
    unlaunched = sweeping.ActiveCase("RG-X", "intake", NOW, None, None, None, 0)
    assert sweeping.retake_for(unlaunched, {}.get, NOW) is None
    assert sweeping.retake_for(active(retakes=3), {RUN: "FAILED"}.get, NOW).give_up


def test_two_sweeps_that_saw_the_same_dead_run_owe_one_retake(settings, db, roster):
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    score_round(db, case_id, truth)
    (owed,) = outbox.unstarted(db)
    outbox.started(db, owed.id, RUN)
    (seen,) = sweeping.active_cases(db)
    first = sweeping.retake_for(seen, {RUN: "CRASHED"}.get, utcnow())
    second = sweeping.retake_for(seen, {RUN: "CRASHED"}.get, utcnow())
    assert sweeping.owe_retake(db, first).claimed
    assert sweeping.owe_retake(db, second) is None  # the case moved on since it looked
    assert [o.key for o in outbox.of_case(db, case_id)] == [f"{case_id}:scores:r1",
                                                            f"{case_id}:retake"]


def test_a_case_whose_runs_keep_failing_goes_to_staff(settings, db, roster):
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    score_round(db, case_id, truth)
    failing = {}

    def runs_fail(ids):
        return dict.fromkeys(ids, "FAILED")

    def start_that_fails(settings, owed):
        failing[owed.key] = run_id = f"44444444-4444-4444-4444-{len(failing):012d}"
        outbox.started(db, owed.id, run_id)
        return run_id  # …and the run fails before any gate commits

    sweeps = [sweep_once(settings, start=start_that_fails, states_of=runs_fail)
              for _ in range(4)]
    # the owed run is started and fails, then three retakes fail: four runs, then staff
    assert [len(s.retaken) for s in sweeps] == [1, 1, 1, 0]
    assert sweeps[3].handed_to_staff == [case_id] and len(failing) == 4
    case = store.get_case(db, case_id)
    assert (case.gate, case.state) == ("assessment", "awaiting_staff")
    assert case.waiting_reason.startswith("its runs failed 4 times without progress")
    assert sweep_once(settings, start=start_that_fails, states_of=runs_fail).to_dict() == {
        "started": [], "unreachable": [], "retaken": [], "panels_retried": [],
        "handed_to_staff": [], "reminded": [], "replaced": [], "reserves_called": [],
        "rounds_closed": [], "quorum_lost": [], "approvals_escalated": [],
        "actions_overdue": [], "queued_launched": [], "mail_sent": 0,
        "mail_failed": 0}  # staff's turn: nothing more is retried
    assert sweeping.retry(db, case_id, actor="staff:t", by="staff", why="fixed").claimed
    assert store.get_case(db, case_id).state == "active"
    assert audit.verify(db, settings.home).ok
