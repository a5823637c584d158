"""The escalation watch's pure logic (cases/escalation.py is its store side): which cases
are members of which pattern, the patterns at or over the threshold, and the words and the
synthetic signal an escalation case is opened with. No store, no Prefect."""


from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cases import names
from cases.facts import merge_signals
from cases.signals import SignalIn, parse_signal
from rules.domain import Lang, domain

Kind = Literal["category", "industry", "province"]
KINDS: tuple[Kind, ...] = ("category", "industry", "province")
CHANNEL = "risk_monitoring"
THRESHOLD = 3
MAX_DESCRIBED = 60  # cases listed in the escalation signal's description; the rest counted
WHAT_COUNTS = {"category": "products", "industry": "enterprises", "province": "localities"}
WHAT_COUNTS_ZH = {"category": "产品", "industry": "企业", "province": "地区"}



# --------------------------------------------------------------------------------------------
# pure logic


@dataclass(frozen=True)
class Member:
    """A case as the watch sees it (plain data, read from the store)."""

    case_id: str
    title: str
    category: str
    hazards: tuple[str, ...]
    product_key: str
    enterprise_key: str
    province: str
    locality: str
    created_at: datetime
    product: str = ""  # for people: name, brand, model
    enterprise: str = ""  # for people: name or credit code

    def counted(self, kind: Kind) -> str:
        """What this case adds to a pattern of `kind` (a product, an enterprise, a locality),
        as compared; "" when it names none."""
        if kind == "category":
            return self.product_key if self.product_key.strip("|") else ""
        if kind == "industry":
            return self.enterprise_key
        return names.text_key(self.locality)


@dataclass(frozen=True)
class Pattern:
    """One hazard across several products, enterprises or localities."""

    kind: Kind
    hazard: str
    category: str = ""  # category and province patterns
    industry: str = ""  # industry patterns
    province: str = ""  # province patterns, as the first case gives it
    members: tuple[Member, ...] = ()  # oldest first

    @property
    def key(self) -> dict[str, str]:
        """What identifies the pattern (compared normalised)."""
        return {"kind": self.kind, "hazard": self.hazard, "category": self.category,
                "industry": self.industry, "province": names.text_key(self.province)}

    @property
    def digest(self) -> str:
        text = json.dumps(self.key, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    @property
    def prefix(self) -> str:
        return f"ESC-{self.kind}-{self.digest}"

    def reference(self, n: int) -> str:
        """The escalation signal's reference: the pattern's nth escalation."""
        return self.prefix if n == 1 else f"{self.prefix}-{n}"

    def distinct(self, members: Iterable[Member] | None = None) -> list[str]:
        """The distinct products, enterprises or localities counted, in order of appearance."""
        chosen = self.members if members is None else members
        return list(dict.fromkeys(m.counted(self.kind) for m in chosen if m.counted(self.kind)))

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "hazard": self.hazard, "category": self.category,
                "industry": self.industry, "province": self.province}


def _keys(member: Member, kind: Kind) -> list[tuple[str, ...]]:
    """The pattern keys (besides the kind) a case belongs to."""
    if kind == "category":
        return [(h, member.category) for h in member.hazards]
    if kind == "industry":
        industry = domain().industry_of(member.category)
        return [(h, industry) for h in member.hazards] if industry else []
    province = names.text_key(member.province)
    return [(h, member.category, province) for h in member.hazards] if province else []


def group_members(members: Iterable[Member]) -> list[Pattern]:
    """Every candidate pattern with the cases that count towards it (any number of them)."""
    ordered = sorted(members, key=lambda m: (m.created_at, m.case_id))
    found: list[Pattern] = []
    for kind in KINDS:
        groups: dict[tuple[str, ...], list[Member]] = defaultdict(list)
        for member in ordered:
            if member.counted(kind):
                for key in _keys(member, kind):
                    groups[key].append(member)
        for key, group in groups.items():
            hazard = key[0]
            if kind == "category":
                pattern = Pattern(kind, hazard, category=key[1], members=tuple(group))
            elif kind == "industry":
                pattern = Pattern(kind, hazard, industry=key[1], members=tuple(group))
            else:
                pattern = Pattern(kind, hazard, category=key[1], province=group[0].province,
                                  members=tuple(group))
            found.append(pattern)
    return found


def find_patterns(members: Iterable[Member], threshold: int = THRESHOLD) -> list[Pattern]:
    """The patterns with at least `threshold` distinct products, enterprises or localities."""
    return [p for p in group_members(members) if len(p.distinct()) >= threshold]


def main_category(pattern: Pattern) -> str:
    """The pattern's category: its own, or the commonest among an industry's cases (ties in
    vocabulary order)."""
    if pattern.category:
        return pattern.category
    counts = Counter(m.category for m in pattern.members)
    order = domain().categories.codes()
    return min(counts, key=lambda c: (-counts[c], order.index(c) if c in order else len(order)))


def title(pattern: Pattern, count: int, lang: Lang) -> str:
    """What escalated, in the case's language."""
    vocab = domain()
    hazard = vocab.hazards.name(pattern.hazard, lang)
    category = vocab.categories.name(pattern.category, lang)
    if pattern.kind == "category":
        text = (f"风险升级：{category}·{hazard}——{count} 种产品" if lang == "zh" else
                f"Escalation: {hazard} across {count} products of {category}")
    elif pattern.kind == "industry":
        industry = vocab.industries.name(pattern.industry, lang)
        text = (f"风险升级：{industry}·{hazard}——{count} 家企业" if lang == "zh" else
                f"Escalation: {hazard} across {count} enterprises of the {industry}")
    else:
        text = (f"风险升级：{pattern.province}·{category}·{hazard}——{count} 个地区"
                if lang == "zh" else
                f"Escalation: {hazard} in {category} across {count} localities of "
                f"{pattern.province}")
    return text[:200]


def description(pattern: Pattern, members: list[Member], window_days: int, threshold: int,
                lang: Lang) -> str:
    """The escalation signal's text: the pattern and the cases behind it."""
    zh = lang == "zh"
    count = len(pattern.distinct(members))
    head = (f"升级监测：{window_days} 天内同一危害涉及 {count} 个不同的"
            f"{WHAT_COUNTS_ZH[pattern.kind]}（阈值 {threshold}）。涉及案件：" if zh else
            f"Escalation watch: one hazard across {count} distinct "
            f"{WHAT_COUNTS[pattern.kind]} within {window_days} days (threshold {threshold}). "
            "Cases behind it:")
    lines = [head]
    for m in members[:MAX_DESCRIBED]:
        parts = [p for p in (m.product, m.enterprise, m.locality) if p]
        lines.append(f"- {m.case_id} {m.title} ({' / '.join(parts) or '—'}; "
                     f"{m.created_at:%Y-%m-%d})"[:300])
    if len(members) > MAX_DESCRIBED:
        more = len(members) - MAX_DESCRIBED
        lines.append(f"…另有 {more} 个案件" if zh else f"… and {more} more cases")
    return "\n".join(lines)[:10_000]


def escalation_signal(pattern: Pattern, members: list[Member], signals: list[SignalIn],
                      *, reference: str, window_days: int, threshold: int, lang: Lang,
                      now: datetime) -> SignalIn:
    """The synthetic signal an escalation case is opened from: the pattern's hazard and
    category, and the cases' signals merged as intake merges a case's own (the most
    vulnerable users, every injury, any standard); no one enterprise is responsible."""
    profile = merge_signals(signals)
    vocab = domain()
    category = pattern.category or main_category(pattern)
    shown = Pattern(pattern.kind, pattern.hazard, category, pattern.industry, pattern.province,
                    pattern.members)
    count = len(pattern.distinct(members))
    product = (f"多个产品：{vocab.categories.name(category, 'zh')}" if lang == "zh" else
               f"Several products: {vocab.categories.name(category, 'en')}")
    cap = 1_000_000
    return parse_signal({
        "channel": CHANNEL, "reference": reference, "received_at": now.isoformat(),
        "title": title(shown, count, lang),
        "description": description(shown, members, window_days, threshold, lang),
        "product": {"category": category, "name": product[:200],
                    "target_users": profile.target_users, "imported": profile.imported,
                    "sale_channel": profile.sale_channel, "on_market": profile.on_market,
                    "with_consumers": profile.with_consumers, "standard": profile.standard},
        "enterprise": {"province": pattern.province if pattern.kind == "province" else ""},
        "hazards": [pattern.hazard],
        "substance_over_limit": profile.substance_over_limit,
        "injuries": {"count": min(profile.injuries, cap),
                     "severe": min(profile.severe_injuries, cap),
                     "fatalities": min(profile.fatalities, cap),
                     "children": min(profile.child_injuries, cap)},
        "reporter": "RiskGate escalation watch",
    }, source=f"escalation {reference}")


# --------------------------------------------------------------------------------------------
# the store


