import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import friedmanchisquare

from experts.aggregation import (
    ExpertScore,
    aggregate_round,
    measure_agreement,
    next_step,
    upper_median,
)
from experts.protocol import Protocol
from rules.domain import domain
from rules.risk_matrix import BAND_LABELS, LEVELS, level, level_index

MEASURES = domain().measures.codes()


def score(expert_id, severity, band, measures=("recall",), **kw) -> ExpertScore:
    return ExpertScore(expert_id, severity, band, tuple(measures),
                       kw.pop("rationale", f"rationale of {expert_id}"), **kw)


# -- medians ------------------------------------------------------------------------------------


def test_upper_median():
    assert upper_median([5]) == 5
    assert upper_median([3, 1, 2]) == 2
    assert upper_median([1, 2, 3, 4]) == 3
    assert upper_median([4, 1]) == 4
    with pytest.raises(ValueError):
        upper_median([])


def test_even_count_resolves_towards_severity_and_probability():
    scores = [score("A", 1, 2), score("B", 2, 3), score("C", 3, 5), score("D", 4, 6)]
    result = aggregate_round(1, scores, Protocol())
    assert result.severity == 3  # upper of 2 and 3
    assert result.band == 3  # bands 3 and 5 in the middle: 3 is the more probable
    assert result.level == level(3, 3) == "serious"


# -- a round worked by hand --------------------------------------------------------------------


def hand_round():
    return [
        score("E1", 4, 3, ("recall", "consumer_warning"), spread="enterprise",
              vulnerable_users=True, confidence=5, rationale="b: fatal airway obstruction"),
        score("E2", 4, 4, ("recall",), spread="batch", vulnerable_users=True, confidence=4,
              rationale="a: parts detach easily"),
        score("E3", 3, 4, ("consumer_warning", "recall"), spread=None, vulnerable_users=True,
              confidence=3, rationale="c: hospital stay likely"),
        score("E4", 2, 5, ("hazard_disclosure",), spread="region", vulnerable_users=False,
              confidence=3, rationale="e: few reports"),
        score("E5", 3, 3, ("recall", "hazard_disclosure"), spread="batch",
              vulnerable_users=False, confidence=4, rationale="d: torque test failed"),
    ]


def test_hand_computed_round():
    r = aggregate_round(1, hand_round(), Protocol())
    assert (r.round_no, r.n, r.quorum_met) == (1, 5, True)
    # severities 2,3,3,4,4 -> 3; bands 3,3,4,4,5 -> 4; matrix(3, > 1/10 000) = high
    assert (r.severity, r.band, r.band_label, r.level) == (3, 4, "> 1/10 000", "high")
    assert r.sensitivity.to_dict()["stable"] is False
    assert r.expert_levels == {"E1": "serious", "E2": "serious", "E3": "high", "E4": "low",
                               "E5": "serious"}
    # level indices 3,3,2,0,3 -> sorted 0,2,3,3,3: median 3, Q1 2, Q3 3
    assert r.median_level == "serious"
    assert r.iqr == 1.0
    assert r.share_within_one == 0.8
    assert r.consensus is True
    assert [o.to_dict() for o in r.outliers] == [
        {"expert_id": "E4", "level": "low", "distance": 3, "rationale": "e: few reports"}]
    assert r.distributions["level"] == {"low": 1, "medium": 0, "high": 1, "serious": 3}
    assert r.distributions["severity"] == {"1": 0, "2": 1, "3": 2, "4": 2}
    assert r.distributions["band"] == {label: {3: 2, 4: 2, 5: 1}.get(i, 0)
                                       for i, label in enumerate(BAND_LABELS)}
    assert (r.vulnerable_users, r.vulnerable_votes) == (True, 3)
    assert r.spread == "enterprise"  # batch, batch, enterprise, region -> upper median
    assert r.mean_confidence == pytest.approx(19 / 5)
    assert r.measures.ranking[0][0] == "recall"
    assert r.measures.majority == ("recall",)


def test_no_consensus_when_the_panel_splits():
    scores = [score("A", 1, 7), score("B", 1, 7), score("C", 4, 0), score("D", 4, 0),
              score("E", 4, 0)]
    r = aggregate_round(2, scores, Protocol())
    assert r.median_level == "serious"
    assert r.iqr == 3.0 and r.share_within_one == 0.6 and not r.consensus
    assert {o.expert_id for o in r.outliers} == {"A", "B"}


def test_iqr_uses_numpy_linear_percentiles():
    # level indices 0,1,2,3: Q1 = 0.75, Q3 = 2.25 (linear interpolation)
    scores = [score("A", 1, 7), score("B", 2, 4), score("C", 3, 4), score("D", 4, 0)]
    assert [s.level for s in scores] == ["low", "medium", "high", "serious"]
    r = aggregate_round(1, scores, Protocol())
    assert r.iqr == 1.5 and not r.consensus


def test_consensus_at_the_exact_share_boundary():
    # indices 0,2,2,2: median 2, share 3/4, Q1 1.5, Q3 2 -> IQR 0.5
    scores = [score("A", 1, 7), score("B", 3, 4), score("C", 3, 4), score("D", 3, 4)]
    r = aggregate_round(1, scores, Protocol())
    assert r.share_within_one == 0.75 and r.iqr == 0.5 and r.consensus
    assert not aggregate_round(1, scores, Protocol(consensus_min_share=0.8)).consensus
    assert not aggregate_round(1, scores, Protocol(consensus_max_iqr=0.25)).consensus


def test_outlier_distance_follows_the_protocol():
    scores = [score("A", 2, 4), score("B", 3, 4), score("C", 3, 4)]  # medium, high, high
    assert aggregate_round(1, scores, Protocol()).outliers == ()
    strict = aggregate_round(1, scores, Protocol(outlier_distance=1))
    assert [(o.expert_id, o.distance) for o in strict.outliers] == [("A", 1)]


def test_spread_and_vulnerable_votes_edge_cases():
    scores = [score("A", 2, 2, spread="batch", vulnerable_users=True),
              score("B", 2, 2, spread="region")]
    r = aggregate_round(1, scores, Protocol())
    assert r.spread == "region"  # even count: the wider scope
    assert r.vulnerable_users is False  # half is not more than half
    assert aggregate_round(1, [score("A", 2, 2)], Protocol()).spread is None
    with pytest.raises(ValueError, match="unknown spread"):
        aggregate_round(1, [score("A", 2, 2, spread="planet")], Protocol())


def test_quorum_flag_and_invalid_rounds():
    assert aggregate_round(1, hand_round()[:3], Protocol()).quorum_met is False
    with pytest.raises(ValueError, match="no scores"):
        aggregate_round(1, [], Protocol())
    with pytest.raises(ValueError, match="same expert"):
        aggregate_round(1, [score("A", 2, 2), score("A", 3, 3)], Protocol())


# -- reports and feedback ----------------------------------------------------------------------


def test_to_dict_is_json_safe_with_stable_keys():
    data = aggregate_round(1, hand_round(), Protocol()).to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert list(data) == [
        "round_no", "n", "quorum_met", "severity", "band", "band_label", "level", "sensitivity",
        "expert_levels", "median_level", "iqr", "share_within_one", "consensus", "outliers",
        "distributions", "vulnerable_users", "vulnerable_votes", "spread", "mean_confidence",
        "measures"]
    assert list(data["measures"]) == ["ranking", "majority", "kendall_w"]
    assert list(data["measures"]["ranking"][0]) == ["code", "mean_rank", "votes"]


def test_feedback_is_anonymous_and_does_not_reveal_authorship():
    scores = hand_round()
    feedback = aggregate_round(1, scores, Protocol()).feedback()
    text = json.dumps(feedback, ensure_ascii=False)
    for s in scores:
        assert s.expert_id not in text
    assert feedback["rationales"] == sorted(s.rationale for s in scores)
    assert (feedback["severity"], feedback["band"], feedback["band_label"]) == (3, 4,
                                                                                "> 1/10 000")
    assert feedback["level"] == "high" and feedback["iqr"] == 1.0
    assert feedback["outliers"] == 1
    # Reassigning who wrote what (or the order scores arrive in) changes nothing.
    ids = [s.expert_id for s in scores]
    shuffled = [ExpertScore(i, s.severity, s.band, s.measures, s.rationale, s.vulnerable_users,
                            s.spread, s.confidence)
                for i, s in zip(reversed(ids), scores, strict=True)]
    assert aggregate_round(1, shuffled[::-1], Protocol()).feedback() == feedback


# -- Kendall's W -------------------------------------------------------------------------------


def test_kendall_w_perfect_agreement():
    ranking = ["recall", "delisting", "consumer_warning"]
    agreement = measure_agreement([ranking, ranking, ranking])
    assert agreement.kendall_w == 1.0
    assert [c for c, _, _ in agreement.ranking] == ranking
    assert [(r, v) for _, r, v in agreement.ranking] == [(1.0, 3), (2.0, 3), (3.0, 3)]


def test_kendall_w_reversed_two_raters_is_zero():
    agreement = measure_agreement([["recall", "consumer_warning"],
                                   ["consumer_warning", "recall"]])
    assert agreement.kendall_w == 0.0
    # equal mean ranks: the more protective measure comes first
    assert [c for c, _, _ in agreement.ranking] == ["recall", "consumer_warning"]


def test_kendall_w_with_ties_worked_by_hand():
    # Items a=recall b=delisting c=consumer_warning d=hazard_disclosure, m=3 raters, n=4.
    # Rater 2 lists only a, c: b and d tie at (3+4)/2 = 3.5.
    # Rank sums: a=1+1+2=4, b=2+3.5+1=6.5, c=3+2+3=8, d=4+3.5+4=11.5; mean 7.5
    # S = 3.5² + 1² + 0.5² + 4² = 29.5; T = 2³-2 = 6
    # W = 12·29.5 / (3²·(4³-4) - 3·6) = 354 / 522 = 59/87
    a, b, c, d = "recall", "delisting", "consumer_warning", "hazard_disclosure"
    agreement = measure_agreement([[a, b, c, d], [a, c], [b, a, c, d]])
    assert agreement.kendall_w == pytest.approx(float(Fraction(59, 87)), abs=1e-12)
    assert [(code, votes) for code, _, votes in agreement.ranking] == [(a, 3), (b, 2), (c, 3),
                                                                     (d, 2)]
    assert agreement.ranking[1][1] == pytest.approx(6.5 / 3)
    assert agreement.majority == (a, b, c, d)


def test_kendall_w_undefined_cases():
    assert measure_agreement([["recall", "delisting"]]).kendall_w is None  # one rater
    assert measure_agreement([["recall"], ["recall"]]).kendall_w is None  # one measure
    assert measure_agreement([[], []]).kendall_w is None
    assert measure_agreement([[], [], ["recall", "delisting"]]).kendall_w is not None
    assert measure_agreement([]) == measure_agreement([[]])
    with pytest.raises(ValueError, match="twice"):
        measure_agreement([["recall", "recall"]])


def test_majority_needs_at_least_half():
    agreement = measure_agreement([["recall"], ["delisting"], ["recall", "delisting"],
                                   ["risk_alert"]])
    assert set(agreement.majority) == {"recall", "delisting"}
    assert "risk_alert" not in agreement.majority


rankings = st.lists(
    st.lists(st.sampled_from(MEASURES), min_size=1, max_size=5, unique=True),
    min_size=2, max_size=7)


@given(rankings)
def test_kendall_w_is_between_zero_and_one(lists):
    w = measure_agreement(lists).kendall_w
    assert w is None or 0.0 <= w <= 1.0


@given(rankings, st.randoms(use_true_random=False))
def test_kendall_w_ignores_the_order_of_raters(lists, rnd):
    shuffled = list(lists)
    rnd.shuffle(shuffled)
    first, second = measure_agreement(lists), measure_agreement(shuffled)
    assert first.ranking == second.ranking
    if first.kendall_w is None:
        assert second.kendall_w is None
    else:
        assert second.kendall_w == pytest.approx(first.kendall_w, abs=1e-12)


@settings(max_examples=60)
@given(rankings)
def test_kendall_w_matches_the_tie_corrected_friedman_statistic(lists):
    agreement = measure_agreement(lists)
    items = [code for code, _, _ in agreement.ranking]
    m, n = len(lists), len(items)
    if agreement.kendall_w is None or n < 3:
        return
    # W = chi²_F / (m (n - 1)) with scipy's tie correction
    columns = []
    for code in items:
        column = []
        for ranked in lists:
            column.append(ranked.index(code) if code in ranked else len(ranked))
        columns.append(column)
    statistic = friedmanchisquare(*columns).statistic
    assert agreement.kendall_w == pytest.approx(statistic / (m * (n - 1)), abs=1e-9)


# -- properties of a round ---------------------------------------------------------------------

expert_scores = st.lists(
    st.tuples(st.integers(1, 4), st.integers(0, 7),
              st.lists(st.sampled_from(MEASURES), min_size=1, max_size=5, unique=True),
              st.booleans(), st.none() | st.sampled_from(domain().scopes.codes()),
              st.integers(1, 5)),
    min_size=1, max_size=9,
).map(lambda rows: [ExpertScore(f"E{i:03d}", s, b, tuple(m), f"why {i}", v, sp, c)
                    for i, (s, b, m, v, sp, c) in enumerate(rows)])


@given(expert_scores)
def test_medians_lie_within_the_observed_range(scores):
    r = aggregate_round(1, scores, Protocol())
    severities = [s.severity for s in scores]
    bands = [s.band for s in scores]
    indices = [level_index(s.level) for s in scores]
    assert min(severities) <= r.severity <= max(severities)
    assert min(bands) <= r.band <= max(bands)
    assert min(indices) <= level_index(r.median_level) <= max(indices)
    assert 0 <= r.iqr <= 3 and 0 < r.share_within_one <= 1
    assert sum(r.distributions["level"].values()) == len(scores)
    assert r.level == level(r.severity, r.band)
    assert all(o.distance >= 2 for o in r.outliers)
    assert r.consensus == (r.iqr <= 1.0 and r.share_within_one >= 0.75)


@given(expert_scores, st.randoms(use_true_random=False))
def test_round_does_not_depend_on_the_order_scores_arrive(scores, rnd):
    shuffled = list(scores)
    rnd.shuffle(shuffled)
    assert aggregate_round(1, shuffled, Protocol()).to_dict() == \
        aggregate_round(1, scores, Protocol()).to_dict()


@given(st.integers(1, 4), st.integers(0, 7), st.integers(1, 9),
       st.floats(0, 3), st.floats(0.01, 1), st.integers(1, 3))
def test_identical_scores_always_reach_consensus(severity, band, n, max_iqr, min_share, dist):
    protocol = Protocol(consensus_max_iqr=max_iqr, consensus_min_share=min_share,
                        outlier_distance=dist)
    scores = [score(f"E{i}", severity, band) for i in range(n)]
    r = aggregate_round(1, scores, protocol)
    assert r.consensus and r.iqr == 0 and r.share_within_one == 1 and r.outliers == ()
    assert r.level == r.median_level == level(severity, band)
    assert LEVELS[level_index(r.level)] == r.level


# -- next step ---------------------------------------------------------------------------------


def test_next_step():
    protocol = Protocol(max_rounds=3)
    agreed = aggregate_round(1, [score("A", 3, 3), score("B", 3, 3)], protocol)
    split = aggregate_round(1, [score("A", 1, 7), score("B", 4, 0), score("C", 4, 0),
                                score("D", 1, 7)], protocol)
    assert not split.consensus
    assert next_step([agreed], protocol) == "consensus"
    assert next_step([split], protocol) == "next_round"
    assert next_step([split, split], protocol) == "next_round"
    assert next_step([split, split, split], protocol) == "final_without_consensus"
    assert next_step([split, split, agreed], protocol) == "consensus"
    assert next_step([split], Protocol(max_rounds=1)) == "final_without_consensus"
    with pytest.raises(ValueError):
        next_step([], protocol)
