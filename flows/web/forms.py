"""The score form as a browser posts it, turned into the one ScoreForm (experts/scoring.py), and
its refusals turned back into messages beside the fields they concern, in the page's language.

Field names: per scenario `s<n>_severity`, `s<n>_band` (a band label), `s<n>_probability`
(typed), `s<n>_steps` (one step probability per line); an expert's own scenario adds
`s<n>_description` and `s<n>_population`; then `rank_<measure>` (1–5 or blank), `rationale`,
`vulnerable_users`, `spread`, `confidence`, `dissent`. Nothing here stores anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from experts.scoring import MAX_MEASURES, ScoreForm
from reports.i18n import Catalog
from rules.domain import domain

FORM_LEVEL = "_form"


@dataclass
class ParsedForm:
    """What the post said: the data for ScoreForm, or the errors found before validation."""

    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    numbers: list[int] = field(default_factory=list)  # scenario numbers, in ScoreForm order


def _text(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name, "")).strip()


def _whole(text: str) -> int | str:
    """A whole number as int; anything else stays text so the form's validator refuses it."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else text


def parse(form: Mapping[str, str], scenario_numbers: Sequence[int], new_number: int,
          t: Catalog) -> ParsedForm:
    """Read the posted fields for the case's scenarios (and an added one, if described)."""
    parsed = ParsedForm(data={})
    scenarios: list[dict[str, Any]] = []
    numbers = list(scenario_numbers)
    if _text(form, f"s{new_number}_description"):
        numbers.append(new_number)
    for number in numbers:
        entry: dict[str, Any] = {"number": number,
                                 "severity": _whole(_text(form, f"s{number}_severity"))}
        if number == new_number:
            entry["description"] = _text(form, f"s{number}_description")
            entry["population"] = _text(form, f"s{number}_population") or "general"
            if len(entry["description"]) < 4:
                parsed.errors[f"s{number}_description"] = t.t("error.description_short")
        band, typed = _text(form, f"s{number}_band"), _text(form, f"s{number}_probability")
        steps = [line.strip() for line in str(form.get(f"s{number}_steps", "")).splitlines()
                 if line.strip()]
        given = [bool(band), bool(typed), bool(steps)]
        if sum(given) > 1:
            parsed.errors[f"s{number}_probability"] = t.t("error.probability_two")
        if steps:
            entry["steps"] = steps
        else:
            entry["probability"] = typed or band or None
        scenarios.append(entry)
    parsed.numbers = numbers

    ranks: dict[str, int] = {}
    for code in domain().measures.codes():
        text = _text(form, f"rank_{code}")
        if not text:
            continue
        rank = _whole(text)
        if not isinstance(rank, int) or not 1 <= rank <= MAX_MEASURES:
            parsed.errors["measures"] = t.t("error.measure_rank")
            continue
        ranks[code] = rank
    if len(set(ranks.values())) != len(ranks):
        parsed.errors["measures"] = t.t("error.measure_rank_twice")
    parsed.data = {
        "scenarios": scenarios,
        "measures": sorted(ranks, key=lambda c: ranks[c]),
        "rationale": _text(form, "rationale"),
        "vulnerable_users": _text(form, "vulnerable_users") in ("on", "1", "true"),
        "spread": _text(form, "spread") or None,
        "confidence": _whole(_text(form, "confidence") or "3"),
        "dissent": _text(form, "dissent"),
    }
    return parsed


def _field(loc: tuple[Any, ...], numbers: Sequence[int]) -> str:
    """The form field a pydantic error location points at."""
    if not loc:
        return FORM_LEVEL
    head = str(loc[0])
    if head == "scenarios" and len(loc) >= 2 and isinstance(loc[1], int) \
            and loc[1] < len(numbers):
        inner = str(loc[2]) if len(loc) >= 3 else "probability"
        if inner not in ("severity", "probability", "steps", "description", "population"):
            inner = "probability"
        return f"s{numbers[loc[1]]}_{'probability' if inner == 'steps' else inner}"
    if head in ("measures", "rationale", "confidence", "spread", "dissent"):
        return head
    return FORM_LEVEL


def message(t: Catalog, error_type: str, context: Mapping[str, Any] | None,
            fallback: str) -> str:
    """The refusal in the page's language by its type; the English text if none is
    translated (every type the form can raise is, and a test keeps it so)."""
    key = f"error.{error_type}"
    if key not in t.messages:
        return fallback
    try:
        return t.t(key, **dict(context or {}))
    except KeyError:
        return t.pattern(key)


def validate(parsed: ParsedForm, t: Catalog) -> tuple[ScoreForm | None, dict[str, str]]:
    """The ScoreForm, or every error by field (the first per field)."""
    errors = dict(parsed.errors)
    try:
        score = ScoreForm.model_validate(parsed.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = _field(tuple(error["loc"]), parsed.numbers)
            errors.setdefault(name, message(t, error["type"], error.get("ctx"),
                                            error["msg"]))
        return None, errors
    return (None, errors) if errors else (score, {})
