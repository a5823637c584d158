"""What the rulebooks see: a case's signals merged into one profile, then flat facts.

Pure functions over plain data; the store supplies the signals, lab results and history counts.
Merging is deliberately protective: the most vulnerable users, the highest credibility, the worst
credit class and every hazard reported by any signal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cases import names
from cases.lifecycle import FAST_TRACK
from cases.signals import SignalIn
from rules.domain import domain

if TYPE_CHECKING:  # the summary's module pulls in numpy; facts need only its fields
    from experts.assessment import AssessmentSummary

VULNERABILITY_ORDER = ("infants", "children", "elderly", "reduced_capability", "general",
                       "professional")
CREDIBILITY_ORDER = ("high", "medium", "low")
CREDIT_ORDER = ("D", "C", "B", "A", "unknown")


@dataclass(frozen=True)
class History:
    """Counts over the last 180 days from the case store (other cases, this one excluded)."""

    same_product: int = 0
    same_enterprise: int = 0
    same_category_hazard: int = 0
    same_category: int = 0
    same_category_province: int = 0


@dataclass(frozen=True)
class Profile:
    """A case's signals, merged."""

    channel: str
    channel_credibility: str
    category: str
    hazards: list[str]
    target_users: str
    injuries: int
    severe_injuries: int
    fatalities: int
    child_injuries: int
    standard: str | None
    imported: bool
    sale_channel: str
    on_market: bool
    with_consumers: bool
    credit_class: str
    violations_3y: int
    substance_over_limit: bool
    enterprise_known: bool
    missing_info: list[str]
    signal_count: int

    @property
    def vulnerable_users(self) -> bool:
        return domain().target_users.attr(self.target_users, "vulnerability") != "none"


def _first_in(order: tuple[str, ...], values: list[str]) -> str:
    return min(values, key=order.index)


def merge_signals(signals: list[SignalIn]) -> Profile:
    if not signals:
        raise ValueError("a case has at least one signal")
    first = signals[0]
    vocab = domain()
    sale = {s.product.sale_channel for s in signals}
    online = bool(sale & {"online", "both"})
    offline = bool(sale & {"offline", "both"})
    missing = [item for item in first.missing_info()
               if all(item in s.missing_info() for s in signals)]
    return Profile(
        channel=first.channel,
        channel_credibility=_first_in(CREDIBILITY_ORDER, [
            vocab.channels.attr(s.channel, "credibility") for s in signals]),
        category=first.product.category,
        hazards=list(dict.fromkeys(h for s in signals for h in s.hazards)),
        target_users=_first_in(VULNERABILITY_ORDER, [s.product.target_users for s in signals]),
        injuries=sum(s.injuries.count for s in signals),
        severe_injuries=sum(s.injuries.severe for s in signals),
        fatalities=sum(s.injuries.fatalities for s in signals),
        child_injuries=sum(s.injuries.children for s in signals),
        standard=next((s.product.standard for s in signals if s.product.standard), None),
        imported=any(s.product.imported for s in signals),
        sale_channel="both" if online and offline else ("online" if online else "offline"),
        on_market=any(s.product.on_market for s in signals),
        with_consumers=any(s.product.with_consumers for s in signals),
        credit_class=_first_in(CREDIT_ORDER, [s.enterprise.credit_class for s in signals]),
        violations_3y=max(s.enterprise.violations_3y for s in signals),
        substance_over_limit=any(s.substance_over_limit for s in signals),
        enterprise_known=any(s.enterprise.name or s.enterprise.credit_code for s in signals),
        missing_info=missing,
        signal_count=len(signals),
    )


def lab_evidence(results: list[str]) -> str:
    """'fail' if any test failed, 'pass' if all passed, 'none' without tests: the one reading
    of test evidence, for triage and for the lab test gate."""
    if not results:
        return "none"
    return "fail" if "fail" in results else "pass"


@dataclass(frozen=True)
class Parties:
    """Every enterprise a case's signals name: the responsible ones and their groups."""

    names: tuple[str, ...]  # as the signals give them (shown in the panel report)
    codes: tuple[str, ...]
    groups: tuple[str, ...]

    def keys(self, aliases: frozenset[str] = frozenset()) -> frozenset[str]:
        """Comparison keys (cases.names) of all of them, with aliases found in the store."""
        return names.keys([*self.names, *self.groups], self.codes) | aliases


def parties(signals: list[SignalIn]) -> Parties:
    def unique(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for v in values if v))

    return Parties(names=unique(s.enterprise.name for s in signals),
                   codes=unique(s.enterprise.credit_code for s in signals),
                   groups=unique(s.enterprise.group for s in signals))


def _shared(profile: Profile) -> dict:
    return {
        "channel": profile.channel,
        "channel_credibility": profile.channel_credibility,
        "category": profile.category,
        "hazards": profile.hazards,
        "target_users": profile.target_users,
        "vulnerable_users": profile.vulnerable_users,
        "injuries": profile.injuries,
        "severe_injuries": profile.severe_injuries,
        "fatalities": profile.fatalities,
        "child_injuries": profile.child_injuries,
        "has_standard": profile.standard is not None,
        "imported": profile.imported,
        "sale_channel": profile.sale_channel,
        "on_market": profile.on_market,
        "credit_class": profile.credit_class,
        "violations_3y": profile.violations_3y,
    }


def triage_facts(profile: Profile, history: History, lab_results: list[str]) -> dict:
    return {
        **_shared(profile),
        "lab_evidence": lab_evidence(lab_results),
        "substance_over_limit": profile.substance_over_limit,
        "enterprise_known": profile.enterprise_known,
        "missing_info": profile.missing_info,
        "signal_count": profile.signal_count,
        "repeat_product": history.same_product,
        "repeat_enterprise": history.same_enterprise,
        "repeat_category": history.same_category_hazard,
    }


def fast_tracked(triage_outcome: dict) -> bool:
    """Whether triage fast-tracked the case (an interim warning while the panel assesses)."""
    return triage_outcome.get("next_gate") == FAST_TRACK


def disposal_facts(profile: Profile, history: History, assessment: AssessmentSummary,
                   *, fast_tracked: bool, escalation: str = "none") -> dict:
    """`escalation`: the pattern an escalation case stands for (cases/escalation.py), or
    none."""
    shared = _shared(profile)
    # The panel may find vulnerable users exposed where the signals did not say so.
    shared["vulnerable_users"] = shared["vulnerable_users"] or assessment.vulnerable_users
    return {
        **shared,
        "risk_level": assessment.risk_level,
        "severity": assessment.severity,
        "probability_band": assessment.band,
        "level_stable": assessment.level_stable,
        "consensus": assessment.consensus,
        "scope": assessment.scope or ("enterprise" if profile.enterprise_known else "batch"),
        "with_consumers": profile.with_consumers,
        "fast_tracked": fast_tracked,
        "panel_measures": assessment.panel_measures,
        "cases_category_180d": history.same_category + 1,
        "cases_enterprise_180d": history.same_enterprise + 1,
        "cases_province_180d": history.same_category_province + 1,
        "escalation": escalation,
    }


CREDIT_FACTS = ("credit_class", "violations_3y")


def with_credit_file(facts: dict, file: Any | None) -> tuple[dict, dict | None]:
    """The facts with `credit_class` and `violations_3y` from the enterprise's credit file
    (cases/credit.py) when it has one; and the evidence for the report: what the file says and
    what the signals claimed (kept in the signals, never lost)."""
    if file is None:
        return facts, None
    from_file = file.facts()
    claimed = {name: facts[name] for name in CREDIT_FACTS}
    return {**facts, **from_file}, {"file": {"key": file.key, "name": file.name,
                                             **from_file},
                                    "claimed": claimed}
