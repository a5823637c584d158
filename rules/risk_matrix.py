"""Severity × probability → risk level (EU risk assessment guidelines; DESIGN.md, "Domain
reference").

Pure functions, exact arithmetic: probabilities are `Fraction`s so that a boundary such as 1/100 is
placed in its band the same way every time (the bands are strict: "> 1/100" does not contain 1/100).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

RiskLevel = Literal["serious", "high", "medium", "low"]
# Ordered from least to most severe, so that max() by index gives the worst level.
LEVELS: tuple[RiskLevel, ...] = ("low", "medium", "high", "serious")
LEVEL_NAMES = {
    "serious": {"zh": "严重风险", "en": "Serious risk"},
    "high": {"zh": "高风险", "en": "High risk"},
    "medium": {"zh": "中等风险", "en": "Medium risk"},
    "low": {"zh": "低风险", "en": "Low risk"},
}
SEVERITIES = (1, 2, 3, 4)

# Band i holds probabilities p with p > LOWER_BOUNDS[i]; the last band holds p <= 1/1 000 000.
LOWER_BOUNDS = (
    Fraction(1, 2),
    Fraction(1, 10),
    Fraction(1, 100),
    Fraction(1, 1_000),
    Fraction(1, 10_000),
    Fraction(1, 100_000),
    Fraction(1, 1_000_000),
)
BAND_LABELS = (
    "> 1/2",
    "> 1/10",
    "> 1/100",
    "> 1/1 000",
    "> 1/10 000",
    "> 1/100 000",
    "> 1/1 000 000",
    "≤ 1/1 000 000",
)
BAND_COUNT = len(BAND_LABELS)

_S: RiskLevel = "serious"
_H: RiskLevel = "high"
_M: RiskLevel = "medium"
_L: RiskLevel = "low"
# MATRIX[band][severity - 1], rows from the most probable band down (DESIGN.md table).
MATRIX: tuple[tuple[RiskLevel, ...], ...] = (
    (_H, _S, _S, _S),
    (_M, _S, _S, _S),
    (_M, _S, _S, _S),
    (_L, _H, _S, _S),
    (_L, _M, _H, _S),
    (_L, _L, _M, _H),
    (_L, _L, _L, _M),
    (_L, _L, _L, _L),
)


class ProbabilityError(ValueError):
    """A probability that cannot be read; the message says what was given and what is accepted,
    `code` what kind of problem it is (empty, band, unreadable, zero, range) for pages that
    say it in their own language."""

    def __init__(self, message: str, code: str = "unreadable"):
        super().__init__(message)
        self.code = code


def _normalise_label(text: str) -> str:
    return re.sub(r"[\s\u2009\u202f,_']", "", text).replace("<=", "≤").replace("=<", "≤")


_LABEL_INDEX = {_normalise_label(label): i for i, label in enumerate(BAND_LABELS)}
# A number as people write a probability. Bounded before Decimal sees it: `Fraction(Decimal(
# "1e999999999"))` builds a billion-digit integer and ran for over ten minutes.
MAX_DIGITS, MAX_EXPONENT_DIGITS = 20, 2
_NUMBER = re.compile(rf"^[+-]?(?:\d{{1,{MAX_DIGITS}}}(?:\.\d{{0,{MAX_DIGITS}}})?"
                     rf"|\.\d{{1,{MAX_DIGITS}}})(?:[eE][+-]?\d{{1,{MAX_EXPONENT_DIGITS}}})?$")


def band_of(probability: Fraction) -> int:
    """Band index (0 = most probable) of an exact probability in (0, 1]."""
    for index, bound in enumerate(LOWER_BOUNDS):
        if probability > bound:
            return index
    return BAND_COUNT - 1


def parse_probability(text: str) -> tuple[int, Fraction | None]:
    """Read a decimal (`0.002`), a fraction (`1/500`) or a band label (`> 1/1 000`).

    Returns (band index, exact probability or None when a band label was given).
    """
    raw = str(text).strip()
    if not raw:
        raise ProbabilityError("probability is empty; give a decimal (0.002), a fraction (1/500) "
                               "or a band label (> 1/1 000)", "empty")
    compact = _normalise_label(raw)
    if compact[:1] in (">", "≤"):
        if compact in _LABEL_INDEX:
            return _LABEL_INDEX[compact], None
        raise ProbabilityError(f"unknown probability band {raw!r}; bands are: "
                               + ", ".join(BAND_LABELS), "band")
    parts = compact.split("/") if "/" in compact else [compact]
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    if len(parts) > 2 or not all(_NUMBER.match(part) for part in parts):
        raise ProbabilityError(
            f"cannot read probability {shown!r}; give a decimal (0.002), a fraction (1/500) "
            f"or a band label (> 1/1 000), with at most {MAX_DIGITS} digits each side of the "
            f"point and an exponent of at most {MAX_EXPONENT_DIGITS} digits")
    try:
        value = Fraction(Decimal(parts[0]))
        if len(parts) == 2:
            value /= Fraction(Decimal(parts[1]))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        raise ProbabilityError(f"cannot read probability {shown!r}: the denominator is zero",
                               "zero") from None
    if not 0 < value <= 1:
        raise ProbabilityError(f"probability {shown!r} is outside (0, 1]", "range")
    return band_of(value), value


def check_severity(severity: int) -> int:
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ValueError(f"severity must be 1, 2, 3 or 4, got {severity!r}")
    return severity


def level(severity: int, band: int) -> RiskLevel:
    """Risk level of one injury scenario."""
    check_severity(severity)
    if not 0 <= band < BAND_COUNT:
        raise ValueError(f"probability band must be 0..{BAND_COUNT - 1}, got {band!r}")
    return MATRIX[band][severity - 1]


def level_index(risk: RiskLevel) -> int:
    return LEVELS.index(risk)


def worst(levels: Iterable[RiskLevel]) -> RiskLevel | None:
    """The most severe level, or None for no levels."""
    found = list(levels)
    return max(found, key=LEVELS.index) if found else None


def combine_steps(step_probabilities: Iterable[Fraction]) -> Fraction:
    """Overall probability of a scenario: the product of its steps' probabilities."""
    total = Fraction(1)
    for p in step_probabilities:
        if not 0 < p <= 1:
            raise ProbabilityError(f"step probability {p} is outside (0, 1]", "range")
        total *= p
    return total


@dataclass(frozen=True)
class Shift:
    """What the level would be if one input moved by one step."""

    moved: str  # probability_up | probability_down | severity_up | severity_down
    severity: int
    band: int
    level: RiskLevel
    changes: bool

    def to_dict(self) -> dict:
        return {"moved": self.moved, "severity": self.severity, "band": BAND_LABELS[self.band],
                "level": self.level, "changes": self.changes}


@dataclass(frozen=True)
class Sensitivity:
    """Would the level change if the probability moved one band either way, or the severity one
    level? Shifts that fall off the scale (band above > 1/2, severity 5) are not listed."""

    shifts: tuple[Shift, ...]

    @property
    def stable(self) -> bool:
        return not any(s.changes for s in self.shifts)

    def to_dict(self) -> dict:
        return {"stable": self.stable, "shifts": [s.to_dict() for s in self.shifts]}


def sensitivity(severity: int, band: int) -> Sensitivity:
    base = level(severity, band)
    moves = (
        ("probability_up", severity, band - 1),
        ("probability_down", severity, band + 1),
        ("severity_up", severity + 1, band),
        ("severity_down", severity - 1, band),
    )
    shifts = []
    for moved, s, b in moves:
        if s in SEVERITIES and 0 <= b < BAND_COUNT:
            other = level(s, b)
            shifts.append(Shift(moved, s, b, other, other != base))
    return Sensitivity(tuple(shifts))


@dataclass(frozen=True)
class Scenario:
    """One injury scenario: who gets hurt, how badly, how likely."""

    severity: int
    band: int
    population: str = "general"
    description: str = ""

    @property
    def level(self) -> RiskLevel:
        return level(self.severity, self.band)


@dataclass(frozen=True)
class Assessment:
    """The product's risk: the highest level over its scenarios, with the deciding scenario's
    sensitivity."""

    level: RiskLevel
    deciding: Scenario
    scenarios: tuple[Scenario, ...]
    sensitivity: Sensitivity

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "severity": self.deciding.severity,
            "band": BAND_LABELS[self.deciding.band],
            "deciding_population": self.deciding.population,
            "scenarios": [{"severity": s.severity, "band": BAND_LABELS[s.band],
                           "population": s.population, "level": s.level,
                           "description": s.description} for s in self.scenarios],
            "sensitivity": self.sensitivity.to_dict(),
        }


def assess(scenarios: Iterable[Scenario]) -> Assessment:
    """Highest level wins; among equal levels the more severe, then the more probable scenario
    decides (it is the one whose sensitivity matters most)."""
    found = tuple(scenarios)
    if not found:
        raise ValueError("an assessment needs at least one injury scenario")
    deciding = max(found, key=lambda s: (level_index(s.level), s.severity, -s.band))
    return Assessment(deciding.level, deciding, found,
                      sensitivity(deciding.severity, deciding.band))
