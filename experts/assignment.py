"""Seating panels for one case or a batch of cases, by integer programming (scipy's HiGHS).

Each case's voting panel is `panel_size` eligible experts (experts.conflicts) with at least one
senior expert; no expert goes past their cap of open seats, counting the seats this batch
gives. Among the panels that satisfy that, the choice is lexicographic, one integer programme
per level, each level's optimum held fixed while the next is optimised:

1. the cases in queue order (the batch's order, oldest first): the first seated if it can be,
   then the second if it still can be, and so on; 2. the most hazards of the cases covered by
   someone on their panel who knows them; 3. the most expertise matched; 4. the experts with
   the fewest open seats; 5. the most experienced; 6. the lower ids.

Exact ties left after that are broken by HiGHS, which is deterministic for the same programme,
and the programme's columns are always in id order: the same input gives the same panels,
whatever the roster's order. Reserves are then the best-ranked eligible experts not voting,
with seats to spare; the chair is the most experienced voting member.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from experts.conflicts import EXCLUSION_ORDER, Exclusion, cap_of, exclusion
from experts.panel import (
    ExpertProfile,
    PanelRequest,
    PanelSelection,
    PanelUnavailable,
    Role,
    Seat,
    match,
)
from experts.protocol import Protocol

SOLVER_OPTIONS = {"mip_rel_gap": 0.0, "presolve": True, "time_limit": 60.0}


@dataclass(frozen=True)
class _Candidate:
    expert: ExpertProfile
    position: int  # in id order on the roster (the last tie-break: the lower id)
    match: int
    reasons: tuple[str, ...]
    seats: int  # open voting seats before this batch
    cap: int

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """The order of preference among experts for one case: more expertise, fewer open
        seats, more experience, lower id. The programme's levels 3-6 are these, summed."""
        return (-self.match, self.seats, -self.expert.seniority, self.position)


# Levels 3-6 of the choice, per seat, to maximise: `rank` with its signs turned.
SEAT_LEVELS: tuple[Callable[[_Candidate], int], ...] = (
    lambda c: c.match, lambda c: -c.seats, lambda c: c.expert.seniority,
    lambda c: -c.position)


@dataclass(frozen=True)
class _Case:
    request: PanelRequest
    eligible: tuple[_Candidate, ...]
    excluded: tuple[Exclusion, ...]


@dataclass(frozen=True)
class Assignment:
    """Panels for the cases that could be seated, and why the others could not."""

    selections: Mapping[str, PanelSelection]
    unavailable: Mapping[str, PanelUnavailable]


def _screen(request: PanelRequest, roster: Sequence[ExpertProfile],
            open_seats: Mapping[str, int], protocol: Protocol, on: date) -> _Case:
    until = on + timedelta(days=protocol.round_days)
    by_id = {e.id: n for n, e in enumerate(sorted(roster, key=lambda e: e.id))}
    eligible: list[_Candidate] = []
    excluded: list[Exclusion] = []
    for expert in roster:
        score, reasons = match(request, expert)
        seats = int(open_seats.get(expert.id, 0))
        cap = cap_of(expert, protocol.max_open_seats)
        out = exclusion(request, expert, match=score, seats=seats, cap=cap, on=on, until=until,
                        employment_years=protocol.employment_years)
        if out is None:
            eligible.append(_Candidate(expert, by_id[expert.id], score, reasons, seats, cap))
        else:
            excluded.append(out)
    excluded.sort(key=lambda e: e.expert_id)
    eligible.sort(key=lambda c: c.position)  # one column order whatever the roster's order
    return _Case(request, tuple(eligible), tuple(excluded))


def _why_not(case: _Case, protocol: Protocol, reason: str) -> PanelUnavailable:
    counts = Counter(e.reason for e in case.excluded)
    excluded = ", ".join(f"{counts[r]} {r}" for r in EXCLUSION_ORDER if counts[r])
    return PanelUnavailable(
        f"no panel for category {case.request.category}: {reason} "
        f"({len(case.eligible)} eligible of {len(case.eligible) + len(case.excluded)}; "
        f"excluded: {excluded or 'none'})",
        eligible=len(case.eligible), needed=protocol.panel_size, excluded=case.excluded)


def _alone_infeasible(case: _Case, protocol: Protocol) -> str | None:
    """Why this case cannot be seated even with the roster's open seats to itself."""
    if len(case.eligible) < protocol.panel_size:
        return f"only {len(case.eligible)} eligible experts, {protocol.panel_size} needed"
    if not any(c.expert.seniority >= protocol.senior_years for c in case.eligible):
        return f"no eligible senior expert ({protocol.senior_years}+ years)"
    return None


class _Programme:
    """The batch's 0/1 programme: x[case, candidate] votes, z[case] is seated, y[case, hazard]
    is covered (someone voting on the case knows the hazard)."""

    def __init__(self, cases: Sequence[_Case], protocol: Protocol) -> None:
        self.cases = cases
        self.x = [(k, c) for k, case in enumerate(cases) for c in case.eligible]
        self.y = [(k, h) for k, case in enumerate(cases)
                  for h in dict.fromkeys(case.request.hazards)]
        self.z0 = len(self.x)
        self.y0 = self.z0 + len(cases)
        self.n = self.y0 + len(self.y)
        rows = (2 * len(cases) + len(self.y)
                + len({c.expert.id for _, c in self.x}))
        matrix = lil_matrix((rows, self.n))
        low: list[float] = []
        high: list[float] = []
        row = 0

        def bound(lo: float, hi: float) -> None:
            nonlocal row
            low.append(lo)
            high.append(hi)
            row += 1

        for k in range(len(cases)):
            for i, (kk, _) in enumerate(self.x):
                if kk == k:
                    matrix[row, i] = 1
            matrix[row, self.z0 + k] = -protocol.panel_size
            bound(0, 0)  # exactly panel_size votes when seated, none otherwise
            for i, (kk, c) in enumerate(self.x):
                if kk == k and c.expert.seniority >= protocol.senior_years:
                    matrix[row, i] = 1
            matrix[row, self.z0 + k] = -1
            bound(0, np.inf)  # a senior expert among them
        for j, (k, hazard) in enumerate(self.y):
            for i, (kk, c) in enumerate(self.x):
                if kk == k and hazard in c.expert.hazards:
                    matrix[row, i] = 1
            matrix[row, self.y0 + j] = -1
            bound(0, np.inf)  # covered only if someone voting knows it
        room: dict[str, tuple[int, list[int]]] = {}
        for i, (_, c) in enumerate(self.x):
            room.setdefault(c.expert.id, (c.cap - c.seats, []))[1].append(i)
        for free, columns in room.values():
            for i in columns:
                matrix[row, i] = 1
            bound(0, free)  # the seats this batch gives stay within the cap
        self.constraint = LinearConstraint(matrix.tocsr(), low, high)

    def levels(self) -> list[np.ndarray]:
        """The levels of the lexicographic choice, each a vector to maximise."""
        found = []
        for k in range(len(self.cases)):
            seated = np.zeros(self.n)
            seated[self.z0 + k] = 1
            found.append(seated)
        covered = np.zeros(self.n)
        covered[self.y0:] = 1
        found.append(covered)
        for value in SEAT_LEVELS:
            vector = np.zeros(self.n)
            for i, (_, c) in enumerate(self.x):
                vector[i] = value(c)
            found.append(vector)
        return found

    def solve(self) -> np.ndarray:
        fixed: list[LinearConstraint] = []
        x: np.ndarray | None = None
        for objective in self.levels():
            result = milp(-objective, integrality=np.ones(self.n), bounds=Bounds(0, 1),
                          constraints=[self.constraint, *fixed], options=SOLVER_OPTIONS)
            if result.status != 0 or result.x is None:  # z = 0 is always feasible: a time-out
                raise RuntimeError(f"panel assignment: the solver did not finish "
                                   f"({result.message})")
            x = np.round(result.x)
            fixed.append(LinearConstraint(objective, float(objective @ x) - 0.5, np.inf))
        assert x is not None
        return x


def _selection(case: _Case, voting: list[_Candidate], given: Counter,
               protocol: Protocol) -> PanelSelection:
    voting.sort(key=lambda c: c.rank)
    chair = min(voting, key=lambda c: (-c.expert.seniority, -c.match, c.expert.id))
    chosen = {c.expert.id for c in voting}
    reserves = sorted((c for c in case.eligible if c.expert.id not in chosen
                       and c.seats + given[c.expert.id] < c.cap), key=lambda c: c.rank)
    reserves = reserves[:protocol.reserves]
    known = {h for c in voting for h in c.expert.hazards}

    def seat(c: _Candidate, role: Role) -> Seat:
        extra: tuple[str, ...] = (f"open_seats:{c.seats}", f"seniority:{c.expert.seniority}")
        if role != "reserve" and c.expert.seniority >= protocol.senior_years:
            extra += (f"senior:{protocol.senior_years}",)
        if role == "chair":
            extra += ("chair:most_senior",)
        return Seat(c.expert.id, role, c.match, c.reasons + extra)

    seats = [seat(chair, "chair")]
    seats += [seat(c, "member") for c in voting if c is not chair]
    seats += [seat(c, "reserve") for c in reserves]
    return PanelSelection(tuple(seats), case.excluded,
                          len(case.eligible) + len(case.excluded), protocol.senior_years,
                          tuple(h for h in dict.fromkeys(case.request.hazards)
                                if h not in known))


def assign(requests: Sequence[PanelRequest], roster: Sequence[ExpertProfile],
           open_seats: Mapping[str, int], protocol: Protocol, *, on: date) -> Assignment:
    """Panels for a batch of cases (in queue order), sharing the roster's open seats."""
    ids = [e.id for e in roster]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"roster lists expert {duplicates[0]} more than once")
    unavailable: dict[str, PanelUnavailable] = {}
    possible: list[_Case] = []
    for request in requests:
        case = _screen(request, roster, open_seats, protocol, on)
        reason = _alone_infeasible(case, protocol)
        if reason:
            unavailable[request.case_id] = _why_not(case, protocol, reason)
        else:
            possible.append(case)
    selections: dict[str, PanelSelection] = {}
    if not possible:
        return Assignment(selections, unavailable)
    programme = _Programme(possible, protocol)
    x = programme.solve()
    voting: dict[int, list[_Candidate]] = {}
    given: Counter = Counter()
    for i, (k, c) in enumerate(programme.x):
        if x[i] > 0.5:
            voting.setdefault(k, []).append(c)
            given[c.expert.id] += 1
    for k, case in enumerate(possible):
        if x[programme.z0 + k] > 0.5:
            selections[case.request.case_id] = _selection(case, voting[k], given, protocol)
        else:
            unavailable[case.request.case_id] = _why_not(
                case, protocol, "the experts it needs, with a senior among them, are taken by "
                "cases ahead of it in the queue or have no open seat left")
    return Assignment(selections, unavailable)


def _knows(hazard: str) -> Callable[[_Candidate], bool]:
    return lambda c: hazard in c.expert.hazards


def best_eligible(request: PanelRequest, roster: Sequence[ExpertProfile],
                  open_seats: Mapping[str, int], protocol: Protocol, *, on: date, count: int,
                  taken: frozenset[str], sitting: Sequence[ExpertProfile] = ()
                  ) -> tuple[list[Seat], tuple[Exclusion, ...]]:
    """The `count` best eligible experts not in `taken` (who sit or sat on the case), as member
    seats: staff filling a round that lost its quorum. With no senior among those `sitting`
    the best senior comes first, then the best for each hazard no one sitting knows, then the
    best-ranked. Fewer if fewer are eligible; the exclusions say why the others are not."""
    case = _screen(request, roster, open_seats, protocol, on)
    free = sorted((c for c in case.eligible if c.expert.id not in taken), key=lambda c: c.rank)
    chosen: list[_Candidate] = []
    reasons: dict[str, str] = {}

    def take(wanted: Callable[[_Candidate], bool], why: str) -> None:
        found = next((c for c in free if c not in chosen and wanted(c)), None)
        if found is not None and len(chosen) < count:
            chosen.append(found)
            reasons[found.expert.id] = why

    if not any(e.seniority >= protocol.senior_years for e in sitting):
        take(lambda c: c.expert.seniority >= protocol.senior_years,
             f"senior:{protocol.senior_years}")
    for hazard in dict.fromkeys(request.hazards):
        known = {h for e in sitting for h in e.hazards} | {
            h for c in chosen for h in c.expert.hazards}
        if hazard not in known:
            take(_knows(hazard), f"covers:{hazard}")
    for c in free:
        if len(chosen) >= count:
            break
        if c not in chosen:
            chosen.append(c)
    chosen.sort(key=lambda c: c.rank)
    return ([Seat(c.expert.id, "member", c.match,
                  (*c.reasons, f"open_seats:{c.seats}", f"seniority:{c.expert.seniority}",
                   *([reasons[c.expert.id]] if c.expert.id in reasons else []),
                   "seated_by:staff")) for c in chosen], case.excluded)


def select_panel(request: PanelRequest, roster: Sequence[ExpertProfile],
                 open_seats: Mapping[str, int], protocol: Protocol, *,
                 on: date | None = None) -> PanelSelection:
    """The panel for one case; PanelUnavailable says why there is none."""
    today = datetime.now(UTC).date()  # the store's today, as the panel gate's (UTC)
    result = assign([request], roster, open_seats, protocol, on=on or today)
    if request.case_id in result.unavailable:
        raise result.unavailable[request.case_id]
    return result.selections[request.case_id]
