"""The facts a rulebook may test: one declared field table per rulebook input.

durable-rules coerces types loosely (`"abc" >= 1` and `"true" == true` are both true, a missing
field silently fails every test), so nothing reaches the engine that has not been checked here
first: every field present, of its declared type, inside its declared range or vocabulary. The
same table type-checks rulebook conditions (rules/language.py) and documents the fields
(`riskgate rules fields`, README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, NoReturn

from rules.domain import domain
from rules.risk_matrix import BAND_COUNT, LEVELS

FieldKind = Literal["bool", "int", "enum", "enum_list"]
InputKind = Literal["triage", "disposal"]
INPUT_KINDS: tuple[InputKind, ...] = ("triage", "disposal")

# Names durable-rules gives a meaning of its own (§1.3, §1.6 of the field notes) or that the
# engine adds to every fact; a fact or condition using them is rejected.
RESERVED_FIELDS = frozenset({"id", "sid", "t", "$s"})
MAX_INT = 1_000_000
ESCALATION_KINDS = ("none", "category", "industry", "province")
# Fields added after decisions were first stored, with the value that stood for them before:
# a stored decision's facts are read with it (`stored_facts`), so it replays unchanged.
LATER_FIELDS: dict[InputKind, dict[str, Any]] = {"disposal": {"escalation": "none"}}


class FactError(ValueError):
    """Facts that cannot go to the engine; the message names the field."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    doc: str
    values: tuple[str, ...] = ()  # enum / enum_list: the allowed codes
    minimum: int = 0
    maximum: int = MAX_INT
    vocabulary: str = ""  # enum / enum_list drawn from rules/domain.yaml: its kind
    allowed: frozenset = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.vocabulary and not self.values:
            object.__setattr__(self, "values", domain().vocabulary(self.vocabulary).codes())
        object.__setattr__(self, "allowed", frozenset(self.values))

    def check(self, value: Any) -> Any:
        """Return the value if it has this field's type, else raise FactError.

        Exact type tests (`type(v) is int`), because bool is an int and str is iterable; this
        runs for every fact of every evaluation, so it is kept lean (bench/rules.py)."""
        kind = self.kind
        if kind == "enum":
            if type(value) is str and value in self.allowed:
                return value
            raise FactError(f"{self.name}: unknown value {value!r}; expected one of "
                            + ", ".join(self.values))
        if kind == "bool":
            if value is True or value is False:
                return value
            raise FactError(f"{self.name}: expected true or false, got {value!r}")
        if kind == "int":
            if type(value) is not int:
                raise FactError(f"{self.name}: expected a whole number, got {value!r}")
            if not self.minimum <= value <= self.maximum:
                raise FactError(f"{self.name}: must be between {self.minimum} and "
                                f"{self.maximum}, got {value}")
            return value
        if type(value) not in (list, tuple):
            raise FactError(f"{self.name}: expected a list, got {value!r}")
        for item in value:
            if type(item) is not str or item not in self.allowed:
                raise FactError(f"{self.name}: unknown value {item!r}; expected any of "
                                + ", ".join(self.values))
        return list(dict.fromkeys(value))

    def describe_type(self) -> str:
        if self.kind == "int":
            return f"int {self.minimum}..{self.maximum}"
        if self.kind in ("enum", "enum_list"):
            shown = " | ".join(self.values)
            return f"[{shown}]" if self.kind == "enum_list" else shown
        return "bool"


def _shared_fields() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("channel", "enum", "channel the first signal came from", vocabulary="channels"),
        FieldSpec("channel_credibility", "enum", "credibility of that channel (domain.yaml)",
                  ("high", "medium", "low")),
        FieldSpec("category", "enum", "product category", vocabulary="categories"),
        FieldSpec("hazards", "enum_list", "hazards reported (Safety Gate risk types)",
                  vocabulary="hazards"),
        FieldSpec("target_users", "enum", "who the product is meant for",
                  vocabulary="target_users"),
        FieldSpec("vulnerable_users", "bool",
                  "vulnerable users exposed (children, elderly, reduced capabilities)"),
        FieldSpec("injuries", "int", "people injured, as reported"),
        FieldSpec("severe_injuries", "int", "of those, hospitalised or worse"),
        FieldSpec("fatalities", "int", "deaths reported"),
        FieldSpec("child_injuries", "int", "injured children (under 14)"),
        FieldSpec("has_standard", "bool", "an applicable mandatory or national standard exists"),
        FieldSpec("imported", "bool", "the product is imported"),
        FieldSpec("sale_channel", "enum", "where it is sold", vocabulary="sale_channels"),
        FieldSpec("on_market", "bool", "still offered for sale"),
        FieldSpec("credit_class", "enum", "enterprise credit-risk class",
                  vocabulary="credit_classes"),
        FieldSpec("violations_3y", "int", "the enterprise's recorded violations, last 3 years"),
    )


def _triage_only() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("lab_evidence", "enum", "test evidence so far", ("none", "pass", "fail")),
        FieldSpec("substance_over_limit", "bool",
                  "a banned or restricted substance above its limit is reported"),
        FieldSpec("enterprise_known", "bool", "the responsible enterprise is identified"),
        FieldSpec("missing_info", "enum_list", "essential information the signals lack",
                  ("product", "enterprise", "hazard", "description")),
        FieldSpec("signal_count", "int", "signals grouped into this case", minimum=1),
        FieldSpec("repeat_product", "int", "earlier cases on the same product, last 180 days"),
        FieldSpec("repeat_enterprise", "int",
                  "earlier cases on the same enterprise, last 180 days"),
        FieldSpec("repeat_category", "int",
                  "earlier cases on the same category and hazard, last 180 days"),
    )


def _disposal_only() -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("risk_level", "enum", "assessed risk level (matrix, highest scenario)",
                  tuple(reversed(LEVELS))),
        FieldSpec("severity", "int", "severity of the deciding scenario", minimum=1, maximum=4),
        FieldSpec("probability_band", "int",
                  "probability band of the deciding scenario (0 is > 1/2, 7 is <= 1/1 000 000)",
                  minimum=0, maximum=BAND_COUNT - 1),
        FieldSpec("level_stable", "bool",
                  "the level does not change if probability or severity moves one step"),
        FieldSpec("consensus", "bool", "the panel reached consensus"),
        FieldSpec("scope", "enum", "extent of the source of the risk", vocabulary="scopes"),
        FieldSpec("with_consumers", "bool", "products have already reached consumers"),
        FieldSpec("fast_tracked", "bool", "triage fast-tracked the case (interim warning)"),
        FieldSpec("panel_measures", "enum_list",
                  "measures recommended by at least half of the panel", vocabulary="measures"),
        FieldSpec("cases_category_180d", "int",
                  "cases on this category in the last 180 days, this one included", minimum=1),
        FieldSpec("cases_enterprise_180d", "int",
                  "cases on this enterprise in the last 180 days, this one included",
                  minimum=1),
        FieldSpec("cases_province_180d", "int",
                  "cases on this category in the enterprise's province, last 180 days, "
                  "this one included", minimum=1),
        FieldSpec("escalation", "enum",
                  "the pattern an escalation case was opened for (cases/escalation.py): one "
                  "hazard across products of a category, enterprises of an industry or "
                  "localities of a province; none for an ordinary case", ESCALATION_KINDS),
    )


def fact_field(name: str) -> FieldSpec | None:
    """The field of either input kind named `name` (reports label and word facts by it)."""
    return fields("triage").get(name) or fields("disposal").get(name)


@cache
def fields(kind: InputKind) -> dict[str, FieldSpec]:
    """The field table of a rulebook input kind, by name, in documentation order."""
    if kind == "triage":
        specs = _shared_fields() + _triage_only()
    elif kind == "disposal":
        specs = _shared_fields() + _disposal_only()
    else:
        raise ValueError(f"unknown rulebook input {kind!r}; expected one of "
                         + ", ".join(INPUT_KINDS))
    return {spec.name: spec for spec in specs}


def validate_facts(kind: InputKind, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a complete fact set for one rulebook input; unknown and missing fields are errors.

    Returns a new dict in the table's order (lists de-duplicated), ready for the engine.
    """
    table = fields(kind)
    if not isinstance(data, Mapping):
        raise FactError(f"{kind} facts: expected an object of fields, got {data!r:.60}")
    if data.keys() != table.keys():  # one set comparison in C on the usual, complete path
        _reject_field_names(kind, table, data)
    return {name: spec.check(data[name]) for name, spec in table.items()}


def stored_facts(kind: InputKind, data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored decision's facts with the fields added since, at the value that stood for
    them then (LATER_FIELDS); a rulebook of that time never tests them."""
    if not isinstance(data, Mapping):
        return data  # validate_facts says what is wrong with it
    return {**LATER_FIELDS.get(kind, {}), **data}


def _reject_field_names(kind: InputKind, table: Mapping[str, FieldSpec],
                        data: Mapping[str, Any]) -> NoReturn:
    """Raise the FactError that says which field name is reserved, unknown or missing."""
    reserved = RESERVED_FIELDS.intersection(data)
    if reserved:
        raise FactError(f"{sorted(reserved)[0]}: reserved field name (the engine sets it)")
    unknown = [name for name in data if name not in table]
    if unknown:
        raise FactError(f"{unknown[0]}: unknown {kind} field; known fields: "
                        + ", ".join(table))
    missing = [name for name in table if name not in data]
    raise FactError(f"{missing[0]}: missing {kind} field"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
