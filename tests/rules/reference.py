"""A plain-Python reference interpreter of the rulebook language: the oracle for durable-rules.

Written independently of rules/language.py and rules/decisions.py on purpose: it reads the raw
YAML conditions itself and combines outcomes itself, so that a bug in the production parser,
compiler or combiner cannot hide behind a shared implementation. What it encodes is the
documented semantics (README "Rulebooks"):

* a rule fires when its condition holds; every rule that holds fires, once;
* firing order is priority ascending, then definition order;
* triage: most urgent priority, highest risk, next gate by the rulebook's precedence (else its
  default), flags / interim measures / information requests united in firing order, referrals
  in firing order;
* disposal: measures united and ranked by protectiveness (domain.yaml order), each with the
  rules that call for it in firing order; notifications and flags united.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LEVEL_ORDER = ["low", "medium", "high", "serious"]
PRIORITY_ORDER = ["P1", "P2", "P3", "P4"]
DOMAIN = Path(__file__).resolve().parents[2] / "rules" / "domain.yaml"


def _holds(condition: Any, facts: dict) -> bool:
    if condition == "always":
        return True
    (key, value), = condition.items()
    if key == "all":
        return all(_holds(item, facts) for item in value)
    if key == "any":
        return any(_holds(item, facts) for item in value)
    actual = facts[key]
    tests = value.items() if isinstance(value, dict) else [("eq", value)]
    return all(_test(actual, op, expected) for op, expected in tests)


def _test(actual: Any, op: str, expected: Any) -> bool:
    if op == "eq":
        return actual == expected and type(actual) is type(expected)
    if op == "ne":
        return actual != expected
    if op == "lt":
        return actual < expected
    if op == "lte":
        return actual <= expected
    if op == "gt":
        return actual > expected
    if op == "gte":
        return actual >= expected
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "has":
        return expected in actual
    if op == "has_any":
        return any(item in actual for item in expected)
    if op == "has_all":
        return all(item in actual for item in expected)
    raise ValueError(f"reference interpreter: unknown operator {op}")


class ReferenceRulebook:
    """A rulebook file, interpreted directly."""

    def __init__(self, text: str):
        raw = yaml.safe_load(text)
        self.input = raw["input"]
        self.resolution = raw.get("resolution") or {}
        indexed = list(enumerate(raw["rules"]))
        self.rules = [rule for _, rule in sorted(indexed, key=lambda p: (p[1]["priority"], p[0]))]
        measures = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["measures"]
        self.protectiveness = list(measures)

    @classmethod
    def from_path(cls, path: Path) -> ReferenceRulebook:
        return cls(path.read_text(encoding="utf-8"))

    def fire(self, facts: dict) -> list[dict]:
        return [rule for rule in self.rules if _holds(rule["when"], facts)]

    def decide(self, facts: dict) -> dict:
        fired = self.fire(facts)
        outcome = self._triage(fired) if self.input == "triage" else self._disposal(fired)
        return {"fired": [rule["id"] for rule in fired], **outcome}

    def _triage(self, fired: list[dict]) -> dict:
        thens = [rule["then"] for rule in fired]
        defaults = self.resolution["defaults"]
        priorities = [t["priority"] for t in thens if "priority" in t]
        risks = [t["risk"] for t in thens if "risk" in t]
        asked = [t["next_gate"] for t in thens if "next_gate" in t]
        gate = defaults["next_gate"]
        for candidate in reversed(self.resolution["next_gate"]):
            if candidate in asked:
                gate = candidate
        return {
            "priority": min(priorities, key=PRIORITY_ORDER.index) if priorities
            else defaults["priority"],
            "risk": max(risks, key=LEVEL_ORDER.index) if risks else None,
            "next_gate": gate,
            "flags": _united(thens, "flags"),
            "interim_measures": _united(thens, "interim_measures"),
            "referrals": [t["referral"] for t in thens if "referral" in t],
            "request_info": _united(thens, "request_info"),
        }

    def _disposal(self, fired: list[dict]) -> dict:
        reasons: dict[str, list[str]] = {}
        for rule in fired:
            for code in rule["then"].get("measures", []):
                reasons.setdefault(code, []).append(rule["id"])
        ranked = sorted(reasons, key=self.protectiveness.index)
        thens = [rule["then"] for rule in fired]
        return {
            "measures": [{"code": c, "rank": self.protectiveness.index(c), "reasons": reasons[c]}
                         for c in ranked],
            "notify": _united(thens, "notify"),
            "flags": _united(thens, "flags"),
        }


def comparable(decision) -> dict:
    """A production decision in the oracle's shape: the fired rules in order and the outcome."""
    return {"fired": decision.fired, **decision.outcome()}


def _united(thens: list[dict], key: str) -> list[str]:
    seen: list[str] = []
    for then in thens:
        for item in then.get(key, []):
            if item not in seen:
                seen.append(item)
    return seen
