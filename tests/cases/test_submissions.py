"""Scores: every refusal leaves the store unchanged; the quorum is claimed exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import func, select

from cases import store
from cases.errors import NotFound, WrongState
from cases.models import AuditEvent, Score
from cases.submissions import record_score
from experts.scoring import ScoreForm
from flows import gates
from tests.helpers import open_archetype, score_round


def form(severity=4, probability="1/50", measures=("recall",)) -> dict:
    return ScoreForm.model_validate({"severity": severity, "probability": probability,
                                     "measures": list(measures),
                                     "rationale": "small beads can block an airway"}).to_record()


def state(db) -> tuple[int, int]:
    with db.session() as s:
        return (s.exec(select(func.count()).select_from(Score)).one(),
                s.exec(select(func.count()).select_from(AuditEvent)).one())


@pytest.fixture
def waiting(settings, db, roster):
    case_id, truth = open_archetype(db, "toy_choking")
    assert gates.advance(settings, case_id).state == "awaiting_scores"
    return case_id, truth


def test_refusals_change_nothing(db, waiting):
    case_id, _ = waiting
    dossier = store.load_dossier(db, case_id)
    reserve = next(s.expert_id for s in dossier.seats if s.role == "reserve")
    outsider = next(e.id for e in store.roster(db)
                    if e.id not in {s.expert_id for s in dossier.seats})
    before = state(db)
    refusals = [
        (("RG-NOPE", dossier.seats[0].expert_id), NotFound, "no case RG-NOPE"),
        ((case_id, "E999"), NotFound, "unknown expert E999"),
        ((case_id, outsider), WrongState, f"expert {outsider} is not on the panel"),
        ((case_id, reserve), WrongState, f"expert {reserve} is a reserve"),
    ]
    for (case, expert), error, message in refusals:
        with pytest.raises(error, match=message):
            record_score(db, case, expert, 1, form(), actor="t")
    assert state(db) == before


def test_quorum_claims_once_and_later_scores_are_refused(db, waiting):
    case_id, truth = waiting
    receipts = score_round(db, case_id, truth)
    assert [r.submitted for r in receipts] == [1, 2, 3, 4]
    assert [r.claim.claimed for r in receipts] == [False, False, False, True]
    assert receipts[-1].claim.key == f"{case_id}:scores:r1"
    late = store.load_dossier(db, case_id).voting_seats()[4].expert_id
    before = state(db)
    with pytest.raises(WrongState, match="is not waiting for scores"):
        record_score(db, case_id, late, 1, form(), actor="t")
    assert state(db) == before


def test_revisions_and_identical_resubmissions(db, waiting):
    case_id, _ = waiting
    expert = store.load_dossier(db, case_id).voting_seats()[0].expert_id
    assert record_score(db, case_id, expert, 1, form(), actor="t").change == "new"
    events = state(db)[1]
    assert record_score(db, case_id, expert, 1, form(), actor="t").change == "unchanged"
    assert state(db)[1] == events  # an HTTP retry adds nothing to the trail
    revised = record_score(db, case_id, expert, 1, form(severity=3), actor="t")
    assert (revised.change, revised.submitted, revised.version) == ("revised", 1, 2)
    dossier = store.load_dossier(db, case_id)
    versions = dossier.score_versions(1, expert)
    assert [(v.version, v.severity) for v in versions] == [(1, 4), (2, 3)]  # both kept
    assert [s.severity for s in dossier.scores_of(1)] == [3]  # the latest counts


def test_a_score_must_answer_the_open_round(db, waiting):
    case_id, _ = waiting
    expert = store.load_dossier(db, case_id).voting_seats()[0].expert_id
    before = state(db)
    with pytest.raises(WrongState, match="round 2 is not open; the open round is 1"):
        record_score(db, case_id, expert, 2, form(), actor="t")
    assert state(db) == before


def test_concurrent_scores_claim_the_transition_exactly_once(db, waiting):
    """All five panel members submit at the same moment from five threads."""
    case_id, _ = waiting
    experts = [s.expert_id for s in store.load_dossier(db, case_id).voting_seats()]
    start = threading.Barrier(len(experts))
    outcomes: list = []

    def submit(expert: str) -> None:
        start.wait()
        try:
            outcomes.append(record_score(db, case_id, expert, 1, form(), actor="t").claim.claimed)
        except WrongState:
            outcomes.append("late")

    threads = [threading.Thread(target=submit, args=(e,)) for e in experts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes.count(True) == 1
    assert outcomes.count("late") == 1 and outcomes.count(False) == 3
    assert store.get_case(db, case_id).state == "active"
    assert state(db)[0] == 4
