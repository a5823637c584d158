import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experts.aggregation import ExpertScore, aggregate_round
from experts.protocol import Protocol
from experts.scoring import ScoreForm
from experts.simulation import Truth, simulated_score
from rules.domain import domain
from rules.risk_matrix import BAND_LABELS, level, level_index

PANEL = ["E001", "E003", "E004", "E013", "E014"]
CHOKING = Truth(4, 3, ("recall", "consumer_warning", "delisting"), "enterprise", True)
SPLIT = Truth(4, 3, ("recall", "consumer_warning"), "enterprise", True, disagreement=True)


def play(truth, seed, rounds=2, panel=PANEL, with_panel=True, lang="zh"):
    results, feedback = [], None
    for round_no in range(1, rounds + 1):
        scores = []
        for expert_id in panel:
            raw = simulated_score(truth, expert_id, round_no, feedback, seed=seed, lang=lang,
                                  panel=panel if with_panel else None)
            record = ScoreForm.model_validate(raw).to_record()
            scores.append(ExpertScore(expert_id, record["severity"], record["band"],
                                      tuple(record["measures"]), record["rationale"],
                                      record["vulnerable_users"], record["spread"],
                                      record["confidence"]))
        result = aggregate_round(round_no, scores, Protocol())
        results.append(result)
        feedback = result.feedback()
    return results


def test_deterministic_per_seed_expert_and_round():
    a = simulated_score(CHOKING, "E001", 1, None, seed="C-1")
    assert a == simulated_score(CHOKING, "E001", 1, None, seed="C-1")
    others = [simulated_score(CHOKING, e, r, None, seed=s)
              for e, r, s in [("E002", 1, "C-1"), ("E001", 2, "C-1"), ("E001", 1, "C-2")]]
    assert any(o != a for o in others)


def test_shape_of_a_score():
    raw = simulated_score(CHOKING, "E001", 1, None, seed="C-1")
    assert set(raw) == {"severity", "probability", "measures", "rationale", "vulnerable_users",
                        "spread", "confidence"}
    assert raw["probability"] in BAND_LABELS
    assert sorted(raw["measures"]) == sorted(CHOKING.measures)
    assert 3 <= raw["confidence"] <= 5
    assert raw["spread"] == "enterprise"
    assert f"{raw['severity']}级" in raw["rationale"] and raw["probability"] in raw["rationale"]


def test_english_rationale():
    raw = simulated_score(CHOKING, "E001", 1, None, seed="C-1", lang="en")
    assert f"severity {raw['severity']}" in raw["rationale"].lower()
    assert raw["probability"] in raw["rationale"]
    with pytest.raises(ValueError, match="lang"):
        simulated_score(CHOKING, "E001", 1, None, seed="C-1", lang="fr")  # type: ignore[arg-type]


def test_round_one_noise_stays_close_to_the_truth():
    for seed in range(40):
        raw = simulated_score(CHOKING, "E001", 1, None, seed=str(seed))
        band = BAND_LABELS.index(raw["probability"])
        assert abs(raw["severity"] - CHOKING.severity) <= 1 and abs(band - CHOKING.band) <= 1


def test_noise_is_clipped_to_the_scales():
    edge = Truth(1, 7, ("risk_alert",))
    top = Truth(4, 0, ("recall",))
    for seed in range(60):
        low = simulated_score(edge, "E1", 1, None, seed=str(seed))
        high = simulated_score(top, "E1", 1, None, seed=str(seed))
        assert low["severity"] in (1, 2) and low["probability"] in BAND_LABELS[6:]
        assert high["severity"] in (3, 4) and high["probability"] in BAND_LABELS[:2]


@pytest.mark.parametrize("seed", [f"DEMO-{i}" for i in range(30)])
def test_disagreement_splits_round_one_and_round_two_agrees(seed):
    first, second = play(SPLIT, seed)
    assert not first.consensus
    levels = [level_index(lv) for lv in first.expert_levels.values()]
    assert max(levels) - min(levels) >= 2
    assert len(first.outliers) == 2  # every second expert by id dissents
    assert second.consensus
    assert second.level == level(SPLIT.severity, SPLIT.band)


@pytest.mark.parametrize("truth", [
    Truth(1, 0, ("consumer_warning",), disagreement=True),  # high: dissent goes lower
    Truth(2, 5, ("hazard_disclosure",), disagreement=True),  # low: dissent goes higher
    Truth(3, 4, ("recall",), disagreement=True),  # high
    Truth(1, 7, ("risk_alert",), disagreement=True),  # low at the corner of the matrix
])
def test_dissent_is_at_least_two_levels_away_for_any_truth(truth):
    first = play(truth, "X", rounds=1)[0]
    assert not first.consensus


def test_a_four_expert_quorum_also_splits():
    assert not play(SPLIT, "Q", rounds=1, panel=PANEL[:4])[0].consensus


def test_without_the_panel_the_split_is_a_seeded_coin():
    dissent = {}
    for seed in range(60):
        first = play(SPLIT, f"S{seed}", rounds=1, with_panel=False)[0]
        dissent[seed] = len(first.outliers)
    share = sum(dissent.values()) / (5 * len(dissent))
    assert 0.3 < share < 0.7  # about half the experts dissent


def test_later_rounds_move_to_the_group_median():
    feedback = {"severity": 2, "band": 5, "band_label": BAND_LABELS[5]}
    scores = [simulated_score(CHOKING, f"E{i}", 2, feedback, seed="M") for i in range(200)]
    exact = sum(s["severity"] == 2 and s["probability"] == BAND_LABELS[5] for s in scores)
    assert exact / len(scores) > 0.75
    assert all(s["severity"] == 2 for s in scores)
    assert all(abs(BAND_LABELS.index(s["probability"]) - 5) <= 1 for s in scores)
    label_only = simulated_score(CHOKING, "E1", 2, {"severity": 2, "band_label": "> 1/100 000"},
                                 seed="M")
    assert label_only["severity"] == 2


def test_consensus_in_round_two_for_almost_every_seed():
    agreed = sum(play(SPLIT, f"R{seed}")[1].consensus for seed in range(150))
    assert agreed >= 147


def test_unusable_feedback_is_ignored():
    for feedback in ({}, {"severity": 9, "band": 1}, {"severity": 2, "band_label": "often"},
                     {"severity": True, "band": 2}):
        raw = simulated_score(CHOKING, "E1", 2, feedback, seed="F")
        ScoreForm.model_validate(raw)


def test_truth_is_validated():
    with pytest.raises(ValueError, match="severity"):
        Truth(5, 1, ("recall",))
    with pytest.raises(ValueError, match="band"):
        Truth(2, 8, ("recall",))
    with pytest.raises(ValueError, match="measures"):
        Truth(2, 1, ())
    with pytest.raises(ValueError, match="unknown measure"):
        Truth(2, 1, ("ban",))
    with pytest.raises(ValueError, match="spread"):
        Truth(2, 1, ("recall",), spread="planet")
    assert Truth(2, 1, ["recall"]).measures == ("recall",)  # type: ignore[arg-type]


truths = st.builds(
    Truth,
    severity=st.integers(1, 4),
    band=st.integers(0, 7),
    measures=st.lists(st.sampled_from(domain().measures.codes()), min_size=1, max_size=5,
                      unique=True).map(tuple),
    spread=st.none() | st.sampled_from(domain().scopes.codes()),
    vulnerable_users=st.booleans(),
    disagreement=st.booleans(),
)
feedbacks = st.none() | st.fixed_dictionaries(
    {"severity": st.integers(1, 4), "band": st.integers(0, 7)},
    optional={"vulnerable_users": st.booleans()})


@settings(max_examples=300)
@given(truths, st.text(min_size=1, max_size=8), st.integers(1, 5), feedbacks, st.text(),
       st.sampled_from(["zh", "en"]),
       st.none() | st.lists(st.text(min_size=1, max_size=4), max_size=7))
def test_every_simulated_score_validates(truth, expert_id, round_no, feedback, seed, lang,
                                         panel):
    raw = simulated_score(truth, expert_id, round_no, feedback, seed=seed, lang=lang,
                          panel=panel)
    form = ScoreForm.model_validate(raw)
    assert form.band == BAND_LABELS.index(raw["probability"])
    assert raw == simulated_score(truth, expert_id, round_no, feedback, seed=seed, lang=lang,
                                  panel=panel)
