"""From fired rules to a decision, with the trail that explains it.

Rules only say what fired; how several outcomes combine is fixed here, openly, and printed in
every report:

* triage: the most urgent priority wins (P1 first); the highest preliminary risk wins; the next
  gate is the first in the rulebook's `resolution.next_gate` precedence that any fired rule asks
  for (else the rulebook's default); flags, interim measures, referrals and information requests
  are united in firing order.
* disposal: the measures of all fired rules are united (single or composite) and ranked by
  protectiveness (the order of `measures` in rules/domain.yaml); each measure lists the rules
  that call for it; notifications and flags are united.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from rules.domain import domain
from rules.engine import DURABLE_VERSION, RuleEngine, default_engine
from rules.risk_matrix import worst
from rules.rulebook import Rulebook
from rules.schema import validate_facts


class Firing(NamedTuple):
    """One fired rule: the trail entry an auditor reads. (A NamedTuple: a case fires twenty
    rules or more, and building frozen dataclasses was a measurable share of evaluation.)"""

    order: int
    rule_id: str
    title: dict[str, str]
    priority: int
    matched: dict[str, Any]  # the values of exactly the fields the condition tests
    then: dict[str, Any]
    rationale: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "rule": self.rule_id, "title": self.title,
                "priority": self.priority, "matched": self.matched, "then": self.then,
                "rationale": self.rationale}


# Firing(...) goes through a generated Python __new__; tuple.__new__ builds the same
# NamedTuple without that frame (the trail is built for every firing of every evaluation).
_new_firing = tuple.__new__


def trail_for(rulebook: Rulebook, fired: tuple[str, ...], facts: Mapping[str, Any],
              *united_keys: str) -> tuple[tuple[Firing, ...], dict[str, list[str]]]:
    """The trail of the fired rules and, in the same pass, the union in firing order of the
    list outcomes named by `united_keys` (flags, measures, …)."""
    by_id = rulebook.by_id
    united: dict[str, dict[str, None]] = {key: {} for key in united_keys}
    trail = []
    for order, rule_id in enumerate(fired, start=1):
        rule = by_id[rule_id]
        trail.append(_new_firing(Firing, (order, rule_id, rule.title, rule.priority,
                                          {name: facts[name] for name in rule.fields},
                                          rule.then, rule.rationale)))
        for key, items in rule.list_outcomes:
            bucket = united.get(key)
            if bucket is not None:
                for item in items:
                    bucket[item] = None  # dicts keep insertion order: first firing first
    return tuple(trail), {key: list(items) for key, items in united.items()}


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What every rulebook decision keeps: the validated facts, the trail, and what made it."""

    kind: ClassVar[str]
    facts: dict[str, Any]
    trail: tuple[Firing, ...]
    rulebook: dict[str, str]  # name, version, sha256
    engine: str = f"durable-rules {DURABLE_VERSION}"

    @property
    def fired(self) -> list[str]:
        return [f.rule_id for f in self.trail]

    def outcome(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.outcome(), "fired": self.fired,
                "trail": [f.to_dict() for f in self.trail], "facts": self.facts,
                "rulebook": self.rulebook, "engine": self.engine}


@dataclass(frozen=True, kw_only=True)
class TriageDecision(Decision):
    kind: ClassVar[str] = "triage"
    priority: str
    risk: str | None
    next_gate: str
    flags: list[str]
    interim_measures: list[str]
    referrals: list[str]
    request_info: list[str]

    def outcome(self) -> dict[str, Any]:
        return {"priority": self.priority, "risk": self.risk, "next_gate": self.next_gate,
                "flags": self.flags, "interim_measures": self.interim_measures,
                "referrals": self.referrals, "request_info": self.request_info}


def combine_triage(rulebook: Rulebook, facts: dict[str, Any], fired: tuple[str, ...]
                   ) -> TriageDecision:
    trail, united = trail_for(rulebook, fired, facts, "flags", "interim_measures",
                              "request_info")
    priorities, risks, asked, referrals = [], [], set(), []
    for firing in trail:
        then = firing.then
        if "priority" in then:
            priorities.append(then["priority"])
        if "risk" in then:
            risks.append(then["risk"])
        if "next_gate" in then:
            asked.add(then["next_gate"])
        if "referral" in then:
            referrals.append(then["referral"])
    defaults = rulebook.resolution["defaults"]
    return TriageDecision(
        priority=min(priorities) if priorities else defaults["priority"],
        risk=worst(risks),
        next_gate=next((gate for gate in rulebook.resolution["next_gate"] if gate in asked),
                       defaults["next_gate"]),
        flags=united["flags"], interim_measures=united["interim_measures"],
        referrals=referrals, request_info=united["request_info"],
        facts=facts, trail=trail, rulebook=rulebook.ref())


class MeasureChoice(NamedTuple):
    code: str
    rank: int  # protectiveness: 0 is the most protective measure in domain.yaml
    reasons: list[str]  # ids of the rules that call for it, in firing order

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "rank": self.rank, "reasons": self.reasons}


@dataclass(frozen=True, kw_only=True)
class DisposalDecision(Decision):
    kind: ClassVar[str] = "disposal"
    measures: list[MeasureChoice]
    notify: list[str]
    flags: list[str]

    @property
    def measure_codes(self) -> list[str]:
        return [m.code for m in self.measures]

    def outcome(self) -> dict[str, Any]:
        return {"measures": [m.to_dict() for m in self.measures], "notify": self.notify,
                "flags": self.flags}


def combine_disposal(rulebook: Rulebook, facts: dict[str, Any], fired: tuple[str, ...]
                     ) -> DisposalDecision:
    trail, united = trail_for(rulebook, fired, facts, "notify", "flags")
    reasons: dict[str, list[str]] = {}
    for firing in trail:
        for code in firing.then.get("measures", ()):
            reasons.setdefault(code, []).append(firing.rule_id)
    ranking = domain().measures
    measures = sorted((MeasureChoice(code, ranking.rank(code), rule_ids)
                       for code, rule_ids in reasons.items()), key=lambda m: m.rank)
    return DisposalDecision(measures=measures, notify=united["notify"], flags=united["flags"],
                            facts=facts, trail=trail, rulebook=rulebook.ref())


def decide_triage(rulebook: Rulebook, facts: Mapping[str, Any],
                  engine: RuleEngine | None = None) -> TriageDecision:
    """Validate the facts, run the triage rulebook through durable-rules, combine."""
    checked = validate_facts("triage", facts)
    fired = (engine or default_engine()).fire(rulebook, checked)
    return combine_triage(rulebook, checked, fired)


def decide_disposal(rulebook: Rulebook, facts: Mapping[str, Any],
                    engine: RuleEngine | None = None) -> DisposalDecision:
    """Validate the facts, run the disposal rulebook through durable-rules, combine."""
    checked = validate_facts("disposal", facts)
    fired = (engine or default_engine()).fire(rulebook, checked)
    return combine_disposal(rulebook, checked, fired)
