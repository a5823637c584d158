"""Who may not sit on a case's panel, and why: the conflict, availability and workload rules.

Each rule is checked in EXCLUSION_ORDER and the first that applies is recorded with the fact
behind it (the declared relation, the employment, the period), so the panel report can say of
every expert left out exactly what kept them out. Conflicts come before expertise so that every
conflict of interest on the roster shows in the report, whether or not the expert would have
matched; the workload cap comes last because it is the only one that passes with time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, get_args

from cases import names

if TYPE_CHECKING:
    from experts.panel import ExpertProfile, PanelRequest

# In the order they are checked.
ExclusionReason = Literal[
    "invalid_roster_data", "inactive", "conflict_declared", "conflict_enterprise",
    "conflict_affiliation", "conflict_group", "conflict_employment", "conflict_signalled",
    "unavailable", "no_expertise", "workload_cap"]
EXCLUSION_ORDER: tuple[ExclusionReason, ...] = get_args(ExclusionReason)


@dataclass(frozen=True)
class Exclusion:
    expert_id: str
    reason: ExclusionReason
    detail: str  # the fact that excluded the expert (the conflict as declared, a count, …)

    def to_dict(self) -> dict[str, Any]:
        return {"expert_id": self.expert_id, "reason": self.reason, "detail": self.detail}


def cap_of(expert: ExpertProfile, protocol_cap: int) -> int:
    """The expert's cap on open voting seats: their own if lower than the protocol's."""
    own = expert.max_open_seats
    return protocol_cap if own is None else min(own, protocol_cap)


def _employment_conflict(expert: ExpertProfile, request: PanelRequest, on: date,
                         years: int) -> str | None:
    """Work for a party of the case that lasts, or ended in one of the last `years` calendar
    years (ended 2023, judged in 2026 with 3 years: a conflict)."""
    for job in expert.employment:
        ended = job["to"]
        if (ended is None or int(ended) >= on.year - years) \
                and names.declared_key(str(job["enterprise"])) in request.parties:
            return f"{job['enterprise']} {int(job['from'])}–{'' if ended is None else int(ended)}"
    return None


def _unavailable(expert: ExpertProfile, on: date, until: date) -> str | None:
    """A period of unavailability that overlaps the round (`on`..`until`, both included)."""
    for period in expert.unavailable:
        start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
        if start <= until and end >= on:
            return f"{start.isoformat()}..{end.isoformat()}"
    return None


def _stored_data_problem(expert: ExpertProfile) -> str | None:
    """What is wrong with an entry stored by other means than the roster import (its periods
    and jobs are read as the import writes them), or None."""
    try:
        for period in expert.unavailable:
            date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
        for job in expert.employment:
            str(job["enterprise"]), int(job["from"])
            if job["to"] is not None:
                int(job["to"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"unreadable unavailable/employment entry ({type(exc).__name__}: {exc}); " \
               "re-import the expert"
    return None


def exclusion(request: PanelRequest, expert: ExpertProfile, *, match: int, seats: int,
              cap: int, on: date, until: date, employment_years: int) -> Exclusion | None:
    """The first rule that keeps `expert` off this case's panel, or None if they may sit.

    `on`..`until` is the first round (the panel is asked to sit then); `seats` the voting seats
    the expert holds now, `cap` their limit; work for a party of the case that lasts or ended
    in one of the last `employment_years` calendar years is a conflict.
    """
    problem = _stored_data_problem(expert)
    if problem:
        return Exclusion(expert.id, "invalid_roster_data", problem)
    if not expert.active:
        return Exclusion(expert.id, "inactive", "")
    if expert.id in request.declared:
        return Exclusion(expert.id, "conflict_declared", request.declared[expert.id])
    for declared in expert.conflicts:
        if names.declared_key(declared) in request.parties:
            return Exclusion(expert.id, "conflict_enterprise", declared)
    if expert.affiliation and names.name_key(expert.affiliation) in request.parties:
        return Exclusion(expert.id, "conflict_affiliation", expert.affiliation)
    if expert.group and names.name_key(expert.group) in request.parties:
        return Exclusion(expert.id, "conflict_group", expert.group)
    job = _employment_conflict(expert, request, on, employment_years)
    if job:
        return Exclusion(expert.id, "conflict_employment", job)
    for who in (expert.id, expert.name, expert.affiliation):
        if who and names.name_key(who) in request.reporters:
            return Exclusion(expert.id, "conflict_signalled", who)
    away = _unavailable(expert, on, until)
    if away:
        return Exclusion(expert.id, "unavailable", away)
    if match == 0:
        wanted = ",".join([request.category, *dict.fromkeys(request.hazards)])
        return Exclusion(expert.id, "no_expertise", f"wanted:{wanted}")
    if seats >= cap:
        return Exclusion(expert.id, "workload_cap", f"open_seats:{seats}/{cap}")
    return None
