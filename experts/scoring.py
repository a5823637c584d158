"""The expert's score form: one validation for the web portal, the CLI and simulated experts.

Every way a score can arrive goes through `ScoreForm`, so a stored score always means the same
thing. Error messages are written for risk experts (what the scale means, which codes exist),
not for programmers, because experts read them in the portal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

from cases.errors import InvalidInput, describe_validation_error
from rules.domain import domain
from rules.risk_matrix import BAND_LABELS, ProbabilityError, parse_probability

SEVERITY_HELP = ("1 (first aid, no lasting effect), 2 (emergency visit, no hospital stay), "
                 "3 (hospital stay or effects beyond 6 months) or 4 (fatal or permanent "
                 "disability)")
MAX_MEASURES = 5
RATIONALE_MIN, RATIONALE_MAX = 4, 4000


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_measures() -> str:
    return ", ".join(domain().measures.codes())


class ScoreForm(BaseModel):
    """One expert's score of the injury scenario in one round."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    severity: int
    probability: str
    measures: list[str]
    rationale: str
    vulnerable_users: bool = False
    spread: str | None = None
    confidence: int = 3

    @model_validator(mode="before")
    @classmethod
    def _no_derived_input(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in ("band", "probability_exact"):
                if key in data:
                    raise ValueError(f"{key} is derived from probability; give probability "
                                     "only (a decimal, a fraction or a band label)")
        return data

    # -- severity and confidence: whole numbers only; "3" or True are refused rather than
    # guessed, because a silently coerced score would be attributed to the expert.

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
            raise ValueError(f"severity must be {SEVERITY_HELP}")
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            raise ValueError("confidence must be a whole number from 1 (unsure) to 5 (certain)")
        return value

    # -- probability: decimal, fraction or band label, read by the risk matrix's own parser.

    @field_validator("probability", mode="before")
    @classmethod
    def _probability_text(cls, value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            raise ValueError("probability is required: give a decimal (0.002), a fraction "
                             "(1/500) or a band label (> 1/1 000)")
        if isinstance(value, int | float):
            return str(value)  # a number from a YAML or JSON file reads as its decimal text
        return value

    @field_validator("probability")
    @classmethod
    def _probability(cls, value: str) -> str:
        try:
            parse_probability(value)
        except ProbabilityError as exc:
            raise ValueError(str(exc)) from None
        return value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def band(self) -> int:
        """Probability band index, 0 = most probable (> 1/2)."""
        return parse_probability(self.probability)[0]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def probability_exact(self) -> str | None:
        """The exact probability as a fraction ("1/500"), or None when a band label was given."""
        exact = parse_probability(self.probability)[1]
        return None if exact is None else str(exact)

    # -- measures: ordered preference, codes of the shared vocabulary.

    @field_validator("measures", mode="before")
    @classmethod
    def _measures_shape(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValueError("measures must be a list of measure codes in order of preference, "
                             f"e.g. ['recall', 'consumer_warning']; valid: {_valid_measures()}")
        return value

    @field_validator("measures")
    @classmethod
    def _measures(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= MAX_MEASURES:
            raise ValueError(f"recommend 1 to {MAX_MEASURES} measures in order of preference "
                             f"(got {len(value)})")
        seen: set[str] = set()
        for code in value:
            if code not in domain().measures:
                raise ValueError(f"unknown measure {code!r}; valid measures: "
                                 f"{_valid_measures()}")
            if code in seen:
                raise ValueError(f"measure {code!r} is listed twice; list each measure once, "
                                 "in order of preference")
            seen.add(code)
        return value

    @field_validator("rationale")
    @classmethod
    def _rationale(cls, value: str) -> str:
        if len(value) < RATIONALE_MIN:
            raise ValueError("rationale is required: explain in a sentence why you chose this "
                             f"severity and probability (at least {RATIONALE_MIN} characters)")
        if len(value) > RATIONALE_MAX:
            raise ValueError(f"rationale is too long ({len(value)} characters; at most "
                             f"{RATIONALE_MAX})")
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
            raise ValueError(f"unknown spread {value!r}; the source of the risk spans one of: "
                             f"{choices}")
        return value

    @property
    def band_label(self) -> str:
        return BAND_LABELS[self.band]

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe record that the case store keeps (cases.submissions.SCORE_FIELDS)."""
        return {
            "severity": self.severity,
            "band": self.band,
            "probability": self.probability,
            "probability_exact": self.probability_exact,
            "measures": list(self.measures),
            "rationale": self.rationale,
            "vulnerable_users": self.vulnerable_users,
            "spread": self.spread,
            "confidence": self.confidence,
        }


def read_score(data: Mapping[str, Any], *, source: str = "") -> ScoreForm:
    """Validate raw input; a problem becomes one readable `InvalidInput` line for CLI and web."""
    try:
        return ScoreForm.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source=source)) from None
