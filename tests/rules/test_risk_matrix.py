"""The risk matrix, probability parsing and the sensitivity check (DESIGN.md tables)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.risk_matrix import (
    BAND_LABELS,
    LEVELS,
    ProbabilityError,
    Scenario,
    assess,
    band_of,
    combine_steps,
    level,
    parse_probability,
    sensitivity,
)

# DESIGN.md "Risk level", row by row (bands from > 1/2 down), columns severity 1–4.
DESIGN_TABLE = """
H S S S
M S S S
M S S S
L H S S
L M H S
L L M H
L L L M
L L L L
"""
CODES = {"S": "serious", "H": "high", "M": "medium", "L": "low"}


def test_every_cell_matches_the_design_table():
    rows = [line.split() for line in DESIGN_TABLE.strip().splitlines()]
    for band, row in enumerate(rows):
        for severity, code in enumerate(row, start=1):
            assert level(severity, band) == CODES[code], (severity, BAND_LABELS[band])


@pytest.mark.parametrize(("text", "band", "exact"), [
    ("0.6", 0, Fraction(3, 5)), ("1/2", 1, Fraction(1, 2)), ("0.5000001", 0, None),
    ("1/100", 3, Fraction(1, 100)), ("0.0101", 2, None), ("1/500", 3, Fraction(1, 500)),
    ("0.002", 3, Fraction(1, 500)), ("2e-3", 3, None), ("1/1000000", 7, None),
    ("1/999999", 6, None), ("1", 0, Fraction(1)),
    ("> 1/1 000", 3, None), (">1/1000", 3, None), ("> 1/10 000", 4, None),
    ("≤ 1/1 000 000", 7, None), ("<= 1/1000000", 7, None), (" > 1/2 ", 0, None),
])
def test_probabilities_are_placed_in_strict_bands(text, band, exact):
    found_band, found_exact = parse_probability(text)
    assert found_band == band
    if exact is not None:
        assert found_exact == exact


@pytest.mark.parametrize(("text", "message"), [
    ("", "probability is empty"), ("0", "outside (0, 1]"), ("1.5", "outside (0, 1]"),
    ("2/1", "outside (0, 1]"), ("-0.1", "outside (0, 1]"), ("1/0", "cannot read"),
    ("often", "cannot read probability 'often'"), ("> 1/3", "unknown probability band '> 1/3'"),
])
def test_bad_probabilities(text, message):
    with pytest.raises(ProbabilityError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        parse_probability(text)


@given(st.fractions(min_value=Fraction(1, 10**9), max_value=1))
def test_bands_are_monotone_and_strict(p):
    band = band_of(p)
    bounds = [Fraction(1, 2), Fraction(1, 10), Fraction(1, 100), Fraction(1, 1000),
              Fraction(1, 10**4), Fraction(1, 10**5), Fraction(1, 10**6)]
    if band < 7:
        assert p > bounds[band]
    if band > 0:
        assert p <= bounds[band - 1]


def test_severity_outside_the_scale_is_refused():
    for bad in (0, 5, True, "3"):
        with pytest.raises(ValueError, match="severity must be 1, 2, 3 or 4"):
            level(bad, 0)


def test_sensitivity_names_each_one_step_shift():
    check = sensitivity(3, 3)  # serious; one band less likely → high; one level less → high
    shifts = {s.moved: (s.level, s.changes) for s in check.shifts}
    assert shifts == {"probability_up": ("serious", False), "probability_down": ("high", True),
                      "severity_up": ("serious", False), "severity_down": ("high", True)}
    assert not check.stable
    edge = sensitivity(4, 0)  # top-right corner: no band above, no severity 5
    assert {s.moved for s in edge.shifts} == {"probability_down", "severity_down"}
    assert sensitivity(1, 7).stable


def test_highest_scenario_wins_and_steps_multiply():
    p = combine_steps([Fraction(1, 10), Fraction(1, 20), Fraction(1, 5)])
    assert p == Fraction(1, 1000) and band_of(p) == 4
    # general: severity 2 at > 1/10 000 is medium; infants: severity 4 at > 1/100 000 is high
    result = assess([Scenario(2, 4, "general"), Scenario(4, 5, "infants"), Scenario(3, 5)])
    assert (result.level, result.deciding.population) == ("high", "infants")
    assert max(LEVELS.index(s.level) for s in result.scenarios) == LEVELS.index("high")
