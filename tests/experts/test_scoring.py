import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cases.errors import InvalidInput
from experts.scoring import ScoreForm, read_score
from rules.domain import domain
from rules.risk_matrix import BAND_LABELS

VALID = {"severity": 3, "probability": "1/500", "measures": ["recall", "consumer_warning"],
         "rationale": "Small parts detach after the torque test."}


def form(**changes) -> ScoreForm:
    return ScoreForm.model_validate({**VALID, **changes})


def error(**changes) -> str:
    with pytest.raises(ValidationError) as info:
        form(**changes)
    return str(info.value)


@pytest.mark.parametrize(("probability", "band", "exact"), [
    ("0.002", 3, "1/500"),
    ("1/500", 3, "1/500"),
    ("> 1/1 000", 3, None),
    (">1/1000", 3, None),
    ("1/100", 3, "1/100"),  # bands are strict: 1/100 is not "> 1/100"
    ("0.6", 0, "3/5"),
    ("≤ 1/1 000 000", 7, None),
    (0.002, 3, "1/500"),  # a number from YAML/JSON reads as its decimal text
])
def test_probability_forms(probability, band, exact):
    f = form(probability=probability)
    assert f.band == band
    assert f.probability_exact == exact
    assert f.band_label == BAND_LABELS[band]


def test_to_record_is_json_safe_and_complete():
    f = form(probability=" 0.002 ", rationale="  enough words here  ", spread="enterprise",
             vulnerable_users=True, confidence=5)
    record = f.to_record()
    assert record == {
        "severity": 3, "band": 3, "probability": "0.002", "probability_exact": "1/500",
        "measures": ["recall", "consumer_warning"], "rationale": "enough words here",
        "vulnerable_users": True, "spread": "enterprise", "confidence": 5, "dissent": "",
        "scenarios": [{"number": 1, "description": "", "population": "general",
                       "severity": 3, "band": 3, "probability": "0.002",
                       "probability_exact": "1/500", "steps": [], "level": "serious"}]}
    assert json.loads(json.dumps(record)) == record


def test_defaults():
    f = form()
    assert (f.vulnerable_users, f.spread, f.confidence) == (False, None, 3)


@pytest.mark.parametrize("severity", [0, 5, "3", 3.0, True, None])
def test_severity_must_be_an_int_on_the_scale(severity):
    message = error(severity=severity)
    assert "severity must be 1 (first aid" in message
    assert "4 (fatal or permanent disability)" in message


def test_bad_probability_carries_the_parser_message():
    assert "unknown probability band '> 1/3'" in error(probability="> 1/3")
    assert "cannot read probability 'often'" in error(probability="often")
    assert "outside (0, 1]" in error(probability="2")
    assert "probability is empty" in error(probability="   ")
    assert "probability is required" in error(probability=None)


def test_band_cannot_be_supplied():
    assert "band is derived from probability" in error(band=0)
    assert "probability_exact is derived" in error(probability_exact="1/2")


def test_measures_are_checked_against_the_vocabulary():
    message = error(measures=["recall", "ban"])
    assert "unknown measure 'ban'" in message
    for code in domain().measures.codes():
        assert code in message
    assert "listed twice" in error(measures=["recall", "recall"])
    assert "1 to 5 measures" in error(measures=[])
    assert "1 to 5 measures" in error(measures=list(domain().measures.codes())[:6])
    assert "list of measure codes" in error(measures="recall")
    assert form(measures=[" recall "]).measures == ["recall"]
    assert form(measures=("delisting",)).measures == ["delisting"]


def test_rationale_is_required_and_bounded():
    assert "rationale is required" in error(rationale="  ok  ")
    assert "at most 4000" in error(rationale="x" * 4001)
    assert len(form(rationale="x" * 4000).rationale) == 4000
    with pytest.raises(ValidationError, match="Field required"):
        ScoreForm.model_validate({k: v for k, v in VALID.items() if k != "rationale"})


def test_spread_and_confidence():
    assert form(spread="").spread is None
    assert form(spread=" region ").spread == "region"
    message = error(spread="country")
    assert "unknown spread 'country'" in message and "batch" in message
    assert "confidence must be a whole number from 1" in error(confidence=0)
    assert "confidence must be a whole number from 1" in error(confidence="4")


def test_unknown_fields_are_refused():
    assert "Extra inputs are not permitted" in error(expert="E001")


def test_form_is_immutable():
    with pytest.raises(ValidationError):
        form().probability = "> 1/2"  # type: ignore[misc]


def test_read_score_gives_one_readable_line():
    with pytest.raises(InvalidInput) as info:
        read_score({**VALID, "severity": 7}, source="score.yaml")
    text = str(info.value)
    assert text.startswith("score.yaml: severity: severity must be 1")
    assert "\n" not in text
    assert read_score(VALID).band == 3


@given(st.integers(1, 4), st.integers(0, len(BAND_LABELS) - 1),
       st.lists(st.sampled_from(domain().measures.codes()), min_size=1, max_size=5,
                unique=True))
def test_every_band_label_round_trips(severity, band, measures):
    f = ScoreForm(severity=severity, probability=BAND_LABELS[band], measures=measures,
                  rationale="because")
    assert f.band == band and f.probability_exact is None
    stored = {k: v for k, v in f.to_record().items()
              if k not in ("band", "probability_exact", "scenarios")}
    assert ScoreForm.model_validate(stored) == f


def test_several_scenarios_the_highest_risk_decides():
    f = ScoreForm.model_validate({**{k: v for k, v in VALID.items()
                                     if k not in ("severity", "probability")},
                                  "scenarios": [
                                      {"number": 1, "severity": 2, "probability": "1/100"},
                                      {"number": 2, "severity": 4, "steps": ["1/10", "1/20"],
                                       "population": "infants"}]})
    assert [s.band for s in f.scenarios] == [3, 3] and f.deciding.number == 2
    record = f.to_record()
    assert (record["severity"], record["band"], record["probability_exact"]) == (4, 3, "1/200")
    assert record["scenarios"][1]["probability"] == "1/10 × 1/20"


@pytest.mark.parametrize(("scenario", "kind"), [
    ({"severity": 2}, "probability_or_steps"),
    ({"severity": 2, "probability": "1/10", "steps": ["1/2"]}, "probability_or_steps"),
    ({"severity": 2, "steps": ["> 1/10"]}, "step_band"),
    ({"severity": 9, "probability": "1/10"}, "severity"),
    ({"severity": 2, "probability": "1e999"}, "probability_unreadable"),
    ({"severity": 2, "probability": "1/10", "population": "aliens"}, "population"),
])
def test_scenario_errors_carry_a_type_a_page_can_translate(scenario, kind):
    with pytest.raises(ValidationError) as info:
        ScoreForm.model_validate({"measures": ["recall"], "rationale": "because",
                                  "scenarios": [scenario]})
    assert info.value.errors()[0]["type"] == kind
