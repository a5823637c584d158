"""The expert's score form: one validation for the web portal, the CLI and simulated experts.

Every way a score can arrive goes through `ScoreForm`, so a stored score always means the same
thing. A score rates one or more injury scenarios (DESIGN: "the product's risk is the highest
risk of its scenarios"): each with a severity and a probability given as a decimal, a fraction,
a band label, or as the probabilities of its steps, whose product decides the band. The CLI's
`--severity/--probability` are the one-scenario shorthand.

Each refusal carries an error *type* and the values it needs (`PydanticCustomError`), with an
English message written for risk experts; the portal shows the same refusal in the page's
language from its catalog by that type (flows/web/locales).
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cases.errors import InvalidInput, describe_validation_error
from rules.domain import domain
from rules.risk_matrix import (
    BAND_LABELS,
    LEVELS,
    ProbabilityError,
    RiskLevel,
    band_of,
    combine_steps,
    level,
    parse_probability,
)

SEVERITY_HELP = ("1 (first aid, no lasting effect), 2 (emergency visit, no hospital stay), "
                 "3 (hospital stay or effects beyond 6 months) or 4 (fatal or permanent "
                 "disability)")
MAX_MEASURES = 5
RATIONALE_MIN, RATIONALE_MAX = 4, 4000
MAX_SCENARIOS, MAX_STEPS = 10, 6
DESCRIPTION_MAX = 1000
PROBABILITY_FORMS = "a decimal (0.002), a fraction (1/500) or a band label (> 1/1 000)"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_measures() -> str:
    return ", ".join(domain().measures.codes())


def _severity(value: Any) -> int:
    if not _whole(value) or not 1 <= value <= 4:
        raise PydanticCustomError("severity", f"severity must be {SEVERITY_HELP}")
    return int(value)


def _probability_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise PydanticCustomError("probability_required",
                                  f"probability is required: give {PROBABILITY_FORMS}")
    if isinstance(value, int | float):
        return str(value)  # a number from a YAML or JSON file reads as its decimal text
    if not isinstance(value, str):
        raise PydanticCustomError("probability_required",
                                  f"probability is required: give {PROBABILITY_FORMS}")
    return value


def _readable(value: str) -> str:
    try:
        parse_probability(value)
    except ProbabilityError as exc:
        raise PydanticCustomError(f"probability_{exc.code}", str(exc)) from None
    return value


class ScenarioScore(BaseModel):
    """One injury scenario as one expert scored it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    number: int = Field(default=1, ge=1, le=99)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)  # an expert's own
    population: str = "general"
    severity: int
    probability: str | None = None
    steps: list[str] = []

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_in(cls, value: Any) -> int:
        return _severity(value)

    @field_validator("probability", mode="before")
    @classmethod
    def _probability_in(cls, value: Any) -> Any:
        return None if value is None or value == "" else _probability_text(value)

    @field_validator("probability")
    @classmethod
    def _probability_ok(cls, value: str | None) -> str | None:
        return None if value is None else _readable(value)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_shape(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise PydanticCustomError("steps", "steps are a list of step probabilities")
        return [_probability_text(v) for v in value if not (isinstance(v, str) and not v.strip())]

    @field_validator("steps")
    @classmethod
    def _steps_ok(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_STEPS:
            raise PydanticCustomError("steps_count", "at most {most} steps",
                                      {"most": MAX_STEPS})
        for step in value:
            _readable(step)
            if parse_probability(step)[1] is None:
                raise PydanticCustomError("step_band", "a step is a probability (0.1, 1/4), "
                                          "not a band label")
        return value

    @field_validator("population")
    @classmethod
    def _population(cls, value: str) -> str:
        if value not in domain().target_users:
            raise PydanticCustomError("population", "unknown population '{value}'",
                                      {"value": value})
        return value

    @model_validator(mode="after")
    def _probability_or_steps(self) -> ScenarioScore:
        if (self.probability is None) == (not self.steps):
            raise PydanticCustomError("probability_or_steps",
                                      "give the probability, or the probabilities of the "
                                      "scenario's steps, not both and not neither")
        return self

    def exact(self) -> Fraction | None:
        if self.steps:
            return combine_steps(parse_probability(s)[1] or Fraction(1) for s in self.steps)
        assert self.probability is not None
        return parse_probability(self.probability)[1]

    @property
    def band(self) -> int:
        if self.steps:
            found = self.exact()
            assert found is not None
            return band_of(found)
        assert self.probability is not None
        return parse_probability(self.probability)[0]

    @property
    def level(self) -> RiskLevel:
        return level(self.severity, self.band)

    def to_record(self) -> dict[str, Any]:
        exact = self.exact()
        return {"number": self.number, "description": self.description,
                "population": self.population, "severity": self.severity, "band": self.band,
                "probability": self.probability or " × ".join(self.steps),
                "probability_exact": None if exact is None else str(exact),
                "steps": list(self.steps), "level": self.level}


class ScoreForm(BaseModel):
    """One expert's score of the case's injury scenarios in one round."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    severity: int | None = None
    probability: str | None = None
    scenarios: list[ScenarioScore] = []
    measures: list[str]
    rationale: str
    vulnerable_users: bool = False
    spread: str | None = None
    confidence: int = 3
    dissent: str = Field(default="", max_length=RATIONALE_MAX)

    @model_validator(mode="before")
    @classmethod
    def _no_derived_input(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in ("band", "probability_exact"):
                if key in data:
                    raise PydanticCustomError(
                        "derived", f"{key} is derived from probability; give probability "
                        "only (a decimal, a fraction or a band label)")
            if not data.get("scenarios") and "probability" not in data:
                data = {**data, "probability": None}  # "probability is required"
        return data

    # -- the one-scenario shorthand: whole numbers only; "3" or True are refused rather than
    # guessed, because a silently coerced score would be attributed to the expert.

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_in(cls, value: Any) -> int | None:
        return None if value is None else _severity(value)

    @field_validator("probability", mode="before")
    @classmethod
    def _probability_in(cls, value: Any) -> Any:
        return _probability_text(value)

    @field_validator("probability")
    @classmethod
    def _probability_ok(cls, value: str | None) -> str | None:
        return None if value is None else _readable(value)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> int:
        if not _whole(value) or not 1 <= value <= 5:
            raise PydanticCustomError("confidence", "confidence must be a whole number from 1 "
                                      "(unsure) to 5 (certain)")
        return int(value)

    @field_validator("scenarios")
    @classmethod
    def _scenarios(cls, value: list[ScenarioScore]) -> list[ScenarioScore]:
        if len(value) > MAX_SCENARIOS:
            raise PydanticCustomError("scenarios_count", "at most {most} scenarios",
                                      {"most": MAX_SCENARIOS})
        numbers = [s.number for s in value]
        if len(set(numbers)) != len(numbers):
            raise PydanticCustomError("scenario_twice", "a scenario is scored twice")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> ScoreForm:
        if self.scenarios and (self.severity is not None or self.probability is not None):
            raise PydanticCustomError("scenarios_or_shorthand", "give the scenarios, or one "
                                      "severity and probability, not both")
        if not self.scenarios:
            if self.severity is None:
                raise PydanticCustomError("severity", f"severity must be {SEVERITY_HELP}")
            object.__setattr__(self, "scenarios", [ScenarioScore(
                number=1, severity=self.severity, probability=self.probability)])
        return self

    # -- measures: ordered preference, codes of the shared vocabulary.

    @field_validator("measures", mode="before")
    @classmethod
    def _measures_shape(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise PydanticCustomError(
                "measures_shape", "measures must be a list of measure codes in order of "
                "preference, e.g. ['recall', 'consumer_warning']; valid: {valid}",
                {"valid": _valid_measures()})
        return value

    @field_validator("measures")
    @classmethod
    def _measures(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= MAX_MEASURES:
            raise PydanticCustomError(
                "measures_count", "recommend 1 to {most} measures in order of preference "
                "(got {count})", {"most": MAX_MEASURES, "count": len(value)})
        seen: set[str] = set()
        for code in value:
            if code not in domain().measures:
                raise PydanticCustomError("measure_unknown", "unknown measure '{code}'; valid "
                                          "measures: {valid}",
                                          {"code": code, "valid": _valid_measures()})
            if code in seen:
                raise PydanticCustomError("measure_twice", "measure '{code}' is listed twice; "
                                          "list each measure once, in order of preference",
                                          {"code": code})
            seen.add(code)
        return value

    @field_validator("rationale")
    @classmethod
    def _rationale(cls, value: str) -> str:
        if len(value) < RATIONALE_MIN:
            raise PydanticCustomError(
                "rationale_short", "rationale is required: explain in a sentence why you chose "
                "this severity and probability (at least {least} characters)",
                {"least": RATIONALE_MIN})
        if len(value) > RATIONALE_MAX:
            raise PydanticCustomError("rationale_long", "rationale is too long ({count} "
                                      "characters; at most {most})",
                                      {"count": len(value), "most": RATIONALE_MAX})
        return value

    @field_validator("spread", mode="before")
    @classmethod
    def _spread_blank(cls, value: Any) -> Any:
        # A web form's empty select arrives as "" and means "not given".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("spread")
    @classmethod
    def _spread(cls, value: str | None) -> str | None:
        scopes = domain().scopes
        if value is not None and value not in scopes:
            choices = ", ".join(f"{c} ({scopes.name(c, 'en').lower()})" for c in scopes)
            raise PydanticCustomError("spread", "unknown spread '{value}'; the source of the "
                                      "risk spans one of: {choices}",
                                      {"value": value, "choices": choices})
        return value

    # -- what the form decides

    @property
    def deciding(self) -> ScenarioScore:
        """The scenario with the highest level (then the more severe, then the more probable):
        the product's risk is its highest scenario's."""
        return max(self.scenarios, key=lambda s: (LEVELS.index(s.level), s.severity, -s.band))

    @property
    def band(self) -> int:
        """Probability band index of the deciding scenario, 0 = most probable (> 1/2)."""
        return self.deciding.band

    @property
    def probability_exact(self) -> str | None:
        """The deciding scenario's exact probability ("1/500"), None for a band label."""
        exact = self.deciding.exact()
        return None if exact is None else str(exact)

    @property
    def band_label(self) -> str:
        return BAND_LABELS[self.band]

    @property
    def level(self) -> RiskLevel:
        return self.deciding.level

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe record that the case store keeps (cases.submissions.SCORE_FIELDS)."""
        deciding = self.deciding.to_record()
        return {
            "severity": deciding["severity"],
            "band": deciding["band"],
            "probability": deciding["probability"],
            "probability_exact": deciding["probability_exact"],
            "measures": list(self.measures),
            "rationale": self.rationale,
            "vulnerable_users": self.vulnerable_users,
            "spread": self.spread,
            "confidence": self.confidence,
            "scenarios": [s.to_record() for s in self.scenarios],
            "dissent": self.dissent,
        }


def read_score(data: Mapping[str, Any], *, source: str = "") -> ScoreForm:
    """Validate raw input; a problem becomes one readable `InvalidInput` line for CLI and web."""
    try:
        return ScoreForm.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source=source)) from None
