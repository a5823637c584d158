"""Choosing a case's expert panel from the roster, with the reason for every seat and exclusion.

The choice is deterministic (same roster, workloads and request → same panel) so that a rerun
of the panel gate after a crash seats the same people, and every step is recorded as a short
machine code (`category:toys`, `conflict_enterprise`) that the panel report can localise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cases import names
from experts.protocol import Protocol

Role = Literal["chair", "member", "reserve"]
ExclusionReason = Literal["inactive", "conflict_enterprise", "conflict_affiliation",
                          "no_expertise", "workload_cap"]
# The order in which exclusions are checked; only the first that applies is recorded. Conflicts
# come before expertise so that every conflict of interest on the roster shows in the panel
# report, and the workload cap comes last because it is the only passing reason.
EXCLUSION_ORDER: tuple[ExclusionReason, ...] = (
    "inactive", "conflict_enterprise", "conflict_affiliation", "no_expertise", "workload_cap")
CATEGORY_MATCH = 2
HAZARD_MATCH = 1


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
class Exclusion:
    expert_id: str
    reason: ExclusionReason
    detail: str  # the fact that excluded the expert (the conflict as declared, a count, …)

    def to_dict(self) -> dict[str, Any]:
        return {"expert_id": self.expert_id, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class PanelSelection:
    seats: tuple[Seat, ...]  # chair, then members in selection order, then reserves
    excluded: tuple[Exclusion, ...]  # ordered by expert id
    considered: int  # roster size

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
        }


class PanelUnavailable(ValueError):
    """Too few eligible experts for a full voting panel; the message counts why."""

    def __init__(self, message: str, *, eligible: int, needed: int,
                 excluded: tuple[Exclusion, ...]) -> None:
        super().__init__(message)
        self.eligible = eligible
        self.needed = needed
        self.excluded = excluded


def _match(request: PanelRequest, expert: ExpertProfile) -> tuple[int, tuple[str, ...]]:
    reasons: list[str] = []
    score = 0
    if request.category in expert.categories:
        score += CATEGORY_MATCH
        reasons.append(f"category:{request.category}")
    for hazard in dict.fromkeys(request.hazards):
        if hazard in expert.hazards:
            score += HAZARD_MATCH
            reasons.append(f"hazard:{hazard}")
    return score, tuple(reasons)


def _exclusion(request: PanelRequest, expert: ExpertProfile, match: int, seats: int,
               protocol: Protocol) -> Exclusion | None:
    if not expert.active:
        return Exclusion(expert.id, "inactive", "")
    for declared in expert.conflicts:
        if names.declared_key(declared) in request.parties:
            return Exclusion(expert.id, "conflict_enterprise", declared)
    if expert.affiliation and names.name_key(expert.affiliation) in request.parties:
        return Exclusion(expert.id, "conflict_affiliation", expert.affiliation)
    if match == 0:
        wanted = ",".join([request.category, *dict.fromkeys(request.hazards)])
        return Exclusion(expert.id, "no_expertise", f"wanted:{wanted}")
    if seats >= protocol.max_open_seats:
        return Exclusion(expert.id, "workload_cap", f"open_seats:{seats}/{protocol.max_open_seats}")
    return None


def select_panel(request: PanelRequest, roster: Sequence[ExpertProfile],
                 open_seats: Mapping[str, int], protocol: Protocol) -> PanelSelection:
    """Seat the best-matched, least-loaded, most senior eligible experts.

    Eligible experts are ordered by (−match, open seats, −seniority, id): expertise first, then
    spreading the workload, then experience; the id only breaks exact ties. The first
    `panel_size` vote, the next (up to `reserves`) wait as reserves; the chair is the most senior
    voting member (ties: higher match, then lower id).
    """
    ids = [e.id for e in roster]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"roster lists expert {duplicates[0]} more than once")
    eligible: list[tuple[ExpertProfile, int, tuple[str, ...], int]] = []
    excluded: list[Exclusion] = []
    for expert in roster:
        match, reasons = _match(request, expert)
        seats = int(open_seats.get(expert.id, 0))
        exclusion = _exclusion(request, expert, match, seats, protocol)
        if exclusion is None:
            eligible.append((expert, match, reasons, seats))
        else:
            excluded.append(exclusion)
    excluded.sort(key=lambda e: e.expert_id)
    needed = protocol.panel_size
    if len(eligible) < needed:
        counts = Counter(e.reason for e in excluded)
        why = ", ".join(f"{counts[r]} {r}" for r in EXCLUSION_ORDER if counts[r]) or "none excluded"
        raise PanelUnavailable(
            f"only {len(eligible)} eligible experts for category {request.category} "
            f"(need {needed}): {why}",
            eligible=len(eligible), needed=needed, excluded=tuple(excluded))
    eligible.sort(key=lambda c: (-c[1], c[3], -c[0].seniority, c[0].id))
    voting = eligible[:needed]
    reserve = eligible[needed:needed + protocol.reserves]
    chair = min(voting, key=lambda c: (-c[0].seniority, -c[1], c[0].id))

    def seat(candidate: tuple[ExpertProfile, int, tuple[str, ...], int], role: Role) -> Seat:
        expert, match, reasons, seats = candidate
        extra: tuple[str, ...] = (f"open_seats:{seats}", f"seniority:{expert.seniority}")
        if role == "chair":
            extra += ("chair:most_senior",)
        return Seat(expert.id, role, match, reasons + extra)

    chosen = [seat(chair, "chair")]
    chosen += [seat(c, "member") for c in voting if c is not chair]
    chosen += [seat(c, "reserve") for c in reserve]
    return PanelSelection(tuple(chosen), tuple(excluded), len(roster))
