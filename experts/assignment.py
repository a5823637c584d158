"""Seating panels for one case or a batch of cases, by integer programming (scipy's HiGHS).

Each case's voting panel is `panel_size` eligible experts (experts.conflicts) with at least one
senior expert and, for every hazard of the case that some eligible expert knows, at least one
who knows it; no expert goes past their cap of open seats, counting the seats this batch gives.
Among the panels that satisfy all that, the choice is lexicographic, one integer programme per
level, each level's optimum held fixed while the next is optimised:

1. as many cases seated as possible; 2. the earlier cases in the batch first (the batch is in
queue order); 3. the most expertise matched; 4. the least-loaded experts; 5. the most
experienced; 6. the lower ids (ties, so the panel never depends on the solver's mood).

Same input, same panels. Reserves are then the best-ranked eligible experts not voting, with
seats to spare; the chair is the most experienced voting member.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

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
        """The order of preference one case alone would use (reserves, member listing)."""
        return (-self.match, self.seats, -self.expert.seniority, self.position)


@dataclass(frozen=True)
class _Case:
    request: PanelRequest
    eligible: tuple[_Candidate, ...]
    excluded: tuple[Exclusion, ...]
    coverable: tuple[str, ...]  # the hazards some eligible expert knows
    uncovered: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    """Panels for the cases that could be seated, and why the others could not."""

    selections: Mapping[str, PanelSelection]
    unavailable: Mapping[str, PanelUnavailable]


def _screen(request: PanelRequest, roster: Sequence[ExpertProfile],
            open_seats: Mapping[str, int], protocol: Protocol, on: date) -> _Case:
    until = on + timedelta(days=protocol.round_days)
    eligible: list[_Candidate] = []
    excluded: list[Exclusion] = []
    by_id = {e.id: n for n, e in enumerate(sorted(roster, key=lambda e: e.id))}
    for expert in roster:
        position = by_id[expert.id]
        score, reasons = match(request, expert)
        seats = int(open_seats.get(expert.id, 0))
        cap = cap_of(expert, protocol.max_open_seats)
        out = exclusion(request, expert, match=score, seats=seats, cap=cap, on=on, until=until,
                        employment_years=protocol.employment_years)
        if out is None:
            eligible.append(_Candidate(expert, position, score, reasons, seats, cap))
        else:
            excluded.append(out)
    excluded.sort(key=lambda e: e.expert_id)
    eligible.sort(key=lambda c: c.position)  # one column order whatever the roster's order
    hazards = tuple(dict.fromkeys(request.hazards))
    known = {h for c in eligible for h in c.expert.hazards}
    return _Case(request, tuple(eligible), tuple(excluded),
                 tuple(h for h in hazards if h in known),
                 tuple(h for h in hazards if h not in known))


def _why_not(case: _Case, protocol: Protocol, reason: str) -> PanelUnavailable:
    counts = Counter(e.reason for e in case.excluded)
    excluded = ", ".join(f"{counts[r]} {r}" for r in EXCLUSION_ORDER if counts[r])
    return PanelUnavailable(
        f"no panel for category {case.request.category}: {reason} "
        f"({len(case.eligible)} eligible of {len(case.eligible) + len(case.excluded)}; "
        f"excluded: {excluded or 'none'})",
        eligible=len(case.eligible), needed=protocol.panel_size, excluded=case.excluded)


def _alone_feasible(case: _Case, protocol: Protocol) -> str | None:
    """Why this case cannot be seated even with the whole roster to itself (None: it can)."""
    if len(case.eligible) < protocol.panel_size:
        return f"only {len(case.eligible)} eligible experts, {protocol.panel_size} needed"
    if not any(c.expert.seniority >= protocol.senior_years for c in case.eligible):
        return f"no eligible senior expert ({protocol.senior_years}+ years)"
    return None


class _Programme:
    """The batch's 0/1 programme: x[case, candidate] votes, z[case] is seated."""

    def __init__(self, cases: Sequence[_Case], protocol: Protocol) -> None:
        self.cases = cases
        self.index: list[tuple[int, _Candidate]] = [
            (k, c) for k, case in enumerate(cases) for c in case.eligible]
        self.n_x = len(self.index)
        self.n = self.n_x + len(cases)
        rows: list[np.ndarray] = []
        low: list[float] = []
        high: list[float] = []

        def add(row: np.ndarray, lo: float, hi: float) -> None:
            rows.append(row)
            low.append(lo)
            high.append(hi)

        for k, case in enumerate(cases):
            size = np.zeros(self.n)
            senior = np.zeros(self.n)
            for i, (kk, c) in enumerate(self.index):
                if kk == k:
                    size[i] = 1
                    senior[i] = c.expert.seniority >= protocol.senior_years
            size[self.n_x + k] = -protocol.panel_size
            senior[self.n_x + k] = -1
            add(size, 0, 0)  # exactly panel_size votes when seated, none otherwise
            add(senior, 0, np.inf)  # a senior expert among them
            for hazard in case.coverable:
                cover = np.zeros(self.n)
                for i, (kk, c) in enumerate(self.index):
                    cover[i] = kk == k and hazard in c.expert.hazards
                cover[self.n_x + k] = -1
                add(cover, 0, np.inf)  # someone who knows each hazard anyone eligible knows
        load: dict[str, np.ndarray] = {}
        room: dict[str, int] = {}
        for i, (_, c) in enumerate(self.index):
            load.setdefault(c.expert.id, np.zeros(self.n))[i] = 1
            room[c.expert.id] = c.cap - c.seats
        for expert_id, row in load.items():
            add(row, 0, room[expert_id])  # the seats this batch gives stay within the cap
        self.rows, self.low, self.high = rows, low, high
        self.fixed: list[tuple[np.ndarray, float]] = []

    def objectives(self) -> list[np.ndarray]:
        """The levels of the lexicographic choice, each a vector to maximise."""
        seated = np.zeros(self.n)
        seated[self.n_x:] = 1
        order = np.zeros(self.n)
        order[self.n_x:] = np.arange(len(self.cases), 0, -1)
        levels = [seated, order]
        for value in (lambda c: c.match, lambda c: c.cap - c.seats,
                      lambda c: c.expert.seniority, lambda c: -c.position):
            vector = np.zeros(self.n)
            for i, (_, c) in enumerate(self.index):
                vector[i] = value(c)
            levels.append(vector)
        return levels

    def solve(self) -> np.ndarray:
        x: np.ndarray | None = None
        for objective in self.objectives():
            constraints = [LinearConstraint(np.array(self.rows), self.low, self.high)]
            for vector, best in self.fixed:
                constraints.append(LinearConstraint(vector, best - 0.5, np.inf))
            result = milp(-objective, integrality=np.ones(self.n), bounds=Bounds(0, 1),
                          constraints=constraints, options=SOLVER_OPTIONS)
            if result.x is None:  # z = 0 everywhere is always feasible, so only a time-out
                raise RuntimeError(f"panel assignment: the solver gave no answer "
                                   f"({result.message})")
            x = np.round(result.x)
            self.fixed.append((objective, float(objective @ x)))
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
                          len(case.eligible) + len(case.excluded),
                          protocol.senior_years, case.uncovered)


def assign(requests: Sequence[PanelRequest], roster: Sequence[ExpertProfile],
           open_seats: Mapping[str, int], protocol: Protocol, *, on: date) -> Assignment:
    """Panels for a batch of cases (in queue order), sharing the roster's open seats."""
    ids = [e.id for e in roster]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"roster lists expert {duplicates[0]} more than once")
    screened = [_screen(r, roster, open_seats, protocol, on) for r in requests]
    unavailable: dict[str, PanelUnavailable] = {}
    possible: list[_Case] = []
    for case in screened:
        reason = _alone_feasible(case, protocol)
        if reason:
            unavailable[case.request.case_id] = _why_not(case, protocol, reason)
        else:
            possible.append(case)
    selections: dict[str, PanelSelection] = {}
    if not possible:
        return Assignment(selections, unavailable)
    programme = _Programme(possible, protocol)
    x = programme.solve()
    voting: dict[int, list[_Candidate]] = {}
    given: Counter = Counter()
    for i, (k, c) in enumerate(programme.index):
        if x[i] > 0.5:
            voting.setdefault(k, []).append(c)
            given[c.expert.id] += 1
    for k, case in enumerate(possible):
        if x[programme.n_x + k] > 0.5:
            selections[case.request.case_id] = _selection(case, voting[k], given, protocol)
        elif len(possible) == 1 or _Programme([case], protocol).solve()[-1] < 0.5:
            unavailable[case.request.case_id] = _why_not(
                case, protocol, "no panel of that size has a senior expert and covers "
                f"the hazards {', '.join(case.coverable)} within the experts' open seats")
        else:
            unavailable[case.request.case_id] = _why_not(
                case, protocol, "the experts it needs are taken by cases ahead of it")
    return Assignment(selections, unavailable)


def best_eligible(request: PanelRequest, roster: Sequence[ExpertProfile],
                  open_seats: Mapping[str, int], protocol: Protocol, *, on: date, count: int,
                  taken: frozenset[str]) -> tuple[list[Seat], tuple[Exclusion, ...]]:
    """The `count` best-ranked eligible experts not in `taken` (who sit or sat on the case),
    as member seats: staff filling a round that lost its quorum. Fewer if fewer are eligible;
    the exclusions say why the others are not."""
    case = _screen(request, roster, open_seats, protocol, on)
    free = sorted((c for c in case.eligible if c.expert.id not in taken), key=lambda c: c.rank)
    return ([Seat(c.expert.id, "member", c.match,
                  (*c.reasons, f"open_seats:{c.seats}", f"seniority:{c.expert.seniority}",
                   "seated_by:staff")) for c in free[:count]], case.excluded)


def select_panel(request: PanelRequest, roster: Sequence[ExpertProfile],
                 open_seats: Mapping[str, int], protocol: Protocol, *,
                 on: date | None = None) -> PanelSelection:
    """The panel for one case; PanelUnavailable says why there is none."""
    result = assign([request], roster, open_seats, protocol, on=on or date.today())
    if request.case_id in result.unavailable:
        raise result.unavailable[request.case_id]
    return result.selections[request.case_id]
