"""The condition language of RiskGate rulebooks, and its translation to durable-rules JSON.

A condition is written for people:

    when:
      all:
        - category: toys                      # equality
        - target_users: {in: [infants]}       # one of
        - hazards: {has: choking}             # list contains
        - injuries: {gte: 1, lt: 10}          # several tests on one field: all must hold
        - any: [{fatalities: {gt: 0}}, {severe_injuries: {gte: 3}}]

or `when: always`. Operators by field kind:

    bool       eq ne
    int        eq ne lt lte gt gte in not_in
    enum       eq ne in not_in
    enum_list  has has_any has_all

Every condition is type-checked against the input's field table (rules/schema.py) when the
rulebook loads, so durable's loose coercion never meets a value of the wrong type. Only the
compiled condition and the priority reach durable-rules (field notes §2.1: any other key in a rule
is error 105); titles, outcomes and rationales stay in Python.

durable quirks the compilation relies on (checked in tests/rules): a `$or` fires the rule once
per true branch, so the engine de-duplicates firings; there is no `$in`, so `in` becomes `$or`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rules.schema import RESERVED_FIELDS, FieldSpec

OPERATORS_BY_KIND: dict[str, tuple[str, ...]] = {
    "bool": ("eq", "ne"),
    "int": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in"),
    "enum": ("eq", "ne", "in", "not_in"),
    "enum_list": ("has", "has_any", "has_all"),
}
ALL_OPERATORS = frozenset(op for ops in OPERATORS_BY_KIND.values() for op in ops)
LIST_OPERATORS = frozenset({"in", "not_in", "has_any", "has_all"})
_DURABLE_COMPARE = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


class ConditionError(ValueError):
    """A condition that does not type-check; `line` points into the rulebook when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Test:
    """`field <op> value`; for list operators `value` is a tuple."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Always:
    pass


Condition = Test | AllOf | AnyOf | Always


def _line_of(node: Any, key: Any = None) -> int | None:
    lines = getattr(node, "lines", None)
    found = lines[key] if lines and key in lines else getattr(node, "line", None)
    return found if isinstance(found, int) else None


def parse_condition(raw: Any, table: dict[str, FieldSpec], line: int | None = None) -> Condition:
    """Parse and type-check one condition (the value of a rule's `when`)."""
    if raw == "always":
        return Always()
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConditionError(
            "a condition is `always` or a mapping with exactly one key: `all`, `any` or a "
            f"field name; got {_show(raw)}", _line_of(raw) or line)
    (key, value), = raw.items()
    here = _line_of(raw, key) or line
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ConditionError(f"`{key}` needs a non-empty list of conditions", here)
        items = tuple(parse_condition(item, table, here) for item in value)
        return AllOf(items) if key == "all" else AnyOf(items)
    return _parse_field_tests(str(key), value, table, here)


def _parse_field_tests(name: str, value: Any, table: dict[str, FieldSpec],
                       line: int | None) -> Condition:
    if name in RESERVED_FIELDS:
        raise ConditionError(f"`{name}` is a reserved name and cannot be tested", line)
    spec = table.get(name)
    if spec is None:
        raise ConditionError(f"unknown field `{name}`; known fields: " + ", ".join(table), line)
    if isinstance(value, dict):
        if not value:
            raise ConditionError(f"`{name}`: empty test", line)
        tests = [_make_test(spec, str(op), arg, _line_of(value, op) or line)
                 for op, arg in value.items()]
        return tests[0] if len(tests) == 1 else AllOf(tuple(tests))
    if spec.kind == "enum_list":
        raise ConditionError(f"`{name}` is a list; test it with has, has_any or has_all", line)
    return _make_test(spec, "eq", value, line)


def _make_test(spec: FieldSpec, op: str, arg: Any, line: int | None) -> Test:
    allowed = OPERATORS_BY_KIND[spec.kind]
    if op not in ALL_OPERATORS:
        raise ConditionError(f"`{spec.name}`: unknown operator `{op}`; operators: "
                             + ", ".join(sorted(ALL_OPERATORS)), line)
    if op not in allowed:
        raise ConditionError(f"`{spec.name}` ({spec.kind}) cannot use `{op}`; allowed: "
                             + ", ".join(allowed), line)
    if op in LIST_OPERATORS:
        if not isinstance(arg, list) or not arg:
            raise ConditionError(f"`{spec.name}` {op}: expected a non-empty list, "
                                 f"got {_show(arg)}", line)
        if len(set(map(repr, arg))) != len(arg):
            raise ConditionError(f"`{spec.name}` {op}: repeated value in {_show(arg)}", line)
        return Test(spec.name, op, tuple(_check_value(spec, v, op, line) for v in arg))
    return Test(spec.name, op, _check_value(spec, arg, op, line))


def _check_value(spec: FieldSpec, value: Any, op: str, line: int | None) -> Any:
    kind = spec.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConditionError(f"`{spec.name}` {op}: expected true or false, "
                                 f"got {_show(value)}", line)
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConditionError(f"`{spec.name}` {op}: expected a whole number, "
                                 f"got {_show(value)}", line)
    elif value not in spec.values:
        raise ConditionError(f"`{spec.name}` {op}: unknown value {_show(value)}; expected one of "
                             + ", ".join(spec.values), line)
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def fields_of(condition: Condition) -> tuple[str, ...]:
    """Field names a condition reads, in first-use order (what the trail records)."""
    found: list[str] = []

    def walk(node: Condition) -> None:
        if isinstance(node, Test):
            if node.field not in found:
                found.append(node.field)
        elif isinstance(node, AllOf | AnyOf):
            for item in node.items:
                walk(item)

    walk(condition)
    return tuple(found)


def to_durable(condition: Condition) -> dict:
    """The durable-rules JSON expression for one condition (inside an `m` pattern)."""
    if isinstance(condition, Always):
        return {"$ex": {"t": 1}}
    if isinstance(condition, AllOf):
        return {"$and": [to_durable(item) for item in condition.items]}
    if isinstance(condition, AnyOf):
        return {"$or": [to_durable(item) for item in condition.items]}
    name, op, value = condition.field, condition.op, condition.value
    if op == "eq":
        return {name: value}
    if op in _DURABLE_COMPARE:
        return {_DURABLE_COMPARE[op]: {name: value}}
    if op == "in":
        return _join("$or", [{name: v} for v in value])
    if op == "not_in":
        return _join("$and", [{"$neq": {name: v}} for v in value])
    if op == "has":
        return {"$iany": {name: {"$i": value}}}
    if op == "has_any":
        return _join("$or", [{"$iany": {name: {"$i": v}}} for v in value])
    if op == "has_all":
        return _join("$and", [{"$iany": {name: {"$i": v}}} for v in value])
    raise AssertionError(f"unhandled operator {op}")  # parse_condition admits no other


def _join(operator: str, parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {operator: parts}


_SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥", "in": "∈",
            "not_in": "∉", "has": "∋", "has_any": "∋ any of", "has_all": "∋ all of"}
_JOINERS = {"zh": ("且", "或", "总是"), "en": ("and", "or", "always")}


def render(condition: Condition, lang: str = "en") -> str:
    """A condition as one readable line, e.g. `target_users = infants 且 hazards ∋ choking`."""
    and_word, or_word, always = _JOINERS.get(lang, _JOINERS["en"])

    def walk(node: Condition, nested: bool) -> str:
        if isinstance(node, Always):
            return always
        if isinstance(node, Test):
            value = node.value
            shown = ("[" + ", ".join(map(_literal, value)) + "]" if isinstance(value, tuple)
                     else _literal(value))
            return f"{node.field} {_SYMBOLS[node.op]} {shown}"
        word = and_word if isinstance(node, AllOf) else or_word
        text = f" {word} ".join(walk(item, True) for item in node.items)
        return f"({text})" if nested else text

    return walk(condition, False)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
