"""A case's expert panel: who is on the roster, what a case asks for, and the panel chosen.

The types here are what the conflict rules (experts.conflicts) and the solver that seats panels
(experts.assignment) share. Every seat and exclusion carries short machine codes
(`category:toys`, `conflict_group`) that the panel report localises, so the report can explain
each one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from experts.conflicts import EXCLUSION_ORDER, Exclusion

Role = Literal["chair", "member", "reserve"]
CATEGORY_MATCH = 2
HAZARD_MATCH = 1
LAB_METHOD_MATCH = 1


@dataclass(frozen=True)
class ExpertProfile:
    id: str
    name: str
    affiliation: str
    seniority: int  # years of relevant experience
    categories: tuple[str, ...]
    hazards: tuple[str, ...]
    conflicts: tuple[str, ...] = ()  # enterprise names / unified credit codes / declared relations
    active: bool = True
    email: str = ""
    group: str = ""  # the organisation group of the expert's affiliation
    region: str = ""
    lab_methods: tuple[str, ...] = ()
    max_open_seats: int | None = None  # the expert's own cap on concurrent cases
    unavailable: tuple[dict, ...] = ()  # ({"from": "2026-12-01", "to": "2026-12-20"}, …)
    employment: tuple[dict, ...] = ()  # ({"enterprise": …, "from": 2019, "to": 2023}, …)


@dataclass(frozen=True)
class PanelRequest:
    case_id: str
    category: str
    hazards: tuple[str, ...]
    # Comparison keys (cases.names) of every enterprise the case's signals name, their groups
    # and the aliases the store knows for them; `enterprises` are the names as given, for the
    # report.
    parties: frozenset[str] = frozenset()
    enterprises: tuple[str, ...] = ()
    # cases.names keys of whoever reported the case's signals (an expert who signalled a case
    # does not judge it), the lab items and standards tested, and the experts who declared a
    # conflict on this case already (expert id → their reason).
    reporters: frozenset[str] = frozenset()
    lab_items: tuple[str, ...] = ()
    declared: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seat:
    expert_id: str
    role: Role
    match: int
    reasons: tuple[str, ...]  # machine codes with parameters, e.g. "hazard:choking"

    def to_dict(self) -> dict[str, Any]:
        return {"expert_id": self.expert_id, "role": self.role, "match": self.match,
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class PanelSelection:
    seats: tuple[Seat, ...]  # chair, then members in selection order, then reserves
    excluded: tuple[Exclusion, ...]  # ordered by expert id
    considered: int  # roster size
    senior_years: int = 0  # the seniority that counts as senior (one senior sits at least)
    uncovered: tuple[str, ...] = ()  # the case's hazards no eligible expert knows

    @property
    def chair(self) -> Seat:
        return next(s for s in self.seats if s.role == "chair")

    @property
    def members(self) -> tuple[Seat, ...]:
        """Voting members other than the chair (chair + members = the voting panel)."""
        return tuple(s for s in self.seats if s.role == "member")

    @property
    def voting(self) -> tuple[Seat, ...]:
        return (self.chair, *self.members)

    @property
    def reserves(self) -> tuple[Seat, ...]:
        return tuple(s for s in self.seats if s.role == "reserve")

    def to_dict(self) -> dict[str, Any]:
        counts = Counter(e.reason for e in self.excluded)
        return {
            "considered": self.considered,
            "chair": self.chair.expert_id,
            "members": [s.expert_id for s in self.members],
            "reserves": [s.expert_id for s in self.reserves],
            "seats": [s.to_dict() for s in self.seats],
            "excluded": [e.to_dict() for e in self.excluded],
            "excluded_by_reason": {r: counts[r] for r in EXCLUSION_ORDER if counts[r]},
            "senior_years": self.senior_years,
            "uncovered": list(self.uncovered),
        }


class PanelUnavailable(ValueError):
    """Too few eligible experts for a full voting panel; the message counts why."""

    def __init__(self, message: str, *, eligible: int, needed: int,
                 excluded: tuple[Exclusion, ...]) -> None:
        super().__init__(message)
        self.eligible = eligible
        self.needed = needed
        self.excluded = excluded


def match(request: PanelRequest, expert: ExpertProfile) -> tuple[int, tuple[str, ...]]:
    """How well the expert's fields fit the case, and the fields that fit."""
    reasons: list[str] = []
    score = 0
    if request.category in expert.categories:
        score += CATEGORY_MATCH
        reasons.append(f"category:{request.category}")
    for hazard in dict.fromkeys(request.hazards):
        if hazard in expert.hazards:
            score += HAZARD_MATCH
            reasons.append(f"hazard:{hazard}")
    tested = " ".join(request.lab_items).casefold()
    for method in expert.lab_methods:
        if method.strip() and method.strip().casefold() in tested:
            score += LAB_METHOD_MATCH
            reasons.append(f"lab:{method.strip()}")
    return score, tuple(reasons)
