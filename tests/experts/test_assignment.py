"""Panel assignment: the conflict, availability and workload rules, each explained; the senior
and hazard-coverage requirements; batches seated jointly; and the solver's panels checked
against brute force on small rosters."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest

from cases import names
from experts.assignment import assign, select_panel
from experts.panel import ExpertProfile, PanelRequest, PanelUnavailable
from experts.protocol import Protocol

TOY_MAKER = "宁波乐童玩具有限公司"
GROUP = "乐童控股集团"
ON = date(2026, 12, 1)
SMALL = Protocol(panel_size=3, quorum=2, reserves=1, senior_years=10)


def expert(id, seniority=12, categories=("toys",), hazards=("choking",), **kw) -> ExpertProfile:
    return ExpertProfile(id=id, name=kw.pop("name", f"name {id}"),
                         affiliation=kw.pop("affiliation", f"inst {id}"), seniority=seniority,
                         categories=tuple(categories), hazards=tuple(hazards), **kw)


def request(case_id="C-1", hazards=("choking",), **kw) -> PanelRequest:
    return PanelRequest(case_id, "toys", tuple(hazards),
                        parties=names.keys([TOY_MAKER, GROUP], []),
                        enterprises=(TOY_MAKER, GROUP), **kw)


def fillers(n: int, prefix: str = "F") -> list[ExpertProfile]:
    return [expert(f"{prefix}{i}") for i in range(n)]


def excluded(selection_or_error) -> dict[str, tuple[str, str]]:
    return {e.expert_id: (e.reason, e.detail) for e in selection_or_error.excluded}


# ── each rule excludes, with the fact behind it ──────────────────────────────────────────────

@pytest.mark.parametrize(("who", "req", "reason", "detail"), [
    (expert("X", group="乐童控股集团有限公司"), {}, "conflict_group", "乐童控股集团有限公司"),
    (expert("X", employment=({"enterprise": TOY_MAKER, "from": 2018, "to": 2024},)), {},
     "conflict_employment", f"{TOY_MAKER} 2018–2024"),
    (expert("X", employment=({"enterprise": TOY_MAKER, "from": 2021, "to": None},)), {},
     "conflict_employment", f"{TOY_MAKER} 2021–"),
    (expert("X", affiliation="青禾检测中心"),
     {"reporters": frozenset({names.name_key("青禾检测中心")})}, "conflict_signalled",
     "青禾检测中心"),
    (expert("X", name="王建华"), {"reporters": frozenset({names.name_key("王建华")})},
     "conflict_signalled", "王建华"),
    (expert("X"), {"declared": {"X": "my brother works there"}}, "conflict_declared",
     "my brother works there"),
    (expert("X", unavailable=({"from": "2026-12-05", "to": "2026-12-09"},)), {},
     "unavailable", "2026-12-05..2026-12-09"),
    (expert("X", max_open_seats=2), {}, "workload_cap", "open_seats:2/2"),
])
def test_each_rule_excludes_with_its_reason(who, req, reason, detail):
    selection = select_panel(request(**req), [*fillers(5), who], {"X": 2}, Protocol(), on=ON)
    assert excluded(selection)["X"] == (reason, detail)
    assert "X" not in {s.expert_id for s in selection.seats}


@pytest.mark.parametrize("who", [
    expert("X", employment=({"enterprise": TOY_MAKER, "from": 2010, "to": 2022},)),  # > 3 years
    expert("X", employment=({"enterprise": "另一家公司", "from": 2020, "to": None},)),
    expert("X", unavailable=({"from": "2026-12-09", "to": "2026-12-31"},)),  # after the round
    expert("X", unavailable=({"from": "2026-11-01", "to": "2026-11-30"},)),  # before it
    expert("X", max_open_seats=3),  # 2 of 3 seats taken: room for one more
])
def test_what_does_not_exclude(who):
    selection = select_panel(request(), [*fillers(5), who], {"X": 2}, Protocol(), on=ON)
    assert "X" not in excluded(selection)


def test_the_round_s_first_and_last_day_count_as_unavailable():
    for period in ({"from": "2026-11-20", "to": "2026-12-01"},
                   {"from": "2026-12-08", "to": "2026-12-20"}):  # 7-day round: 1st..8th
        who = expert("X", unavailable=(period,))
        selection = select_panel(request(), [*fillers(5), who], {}, Protocol(), on=ON)
        assert excluded(selection)["X"][0] == "unavailable"


def test_lab_methods_that_the_case_used_add_to_the_match():
    lab = expert("L", seniority=12, categories=(), hazards=("choking",),
                 lab_methods=("GB 6675.2", "XRF"))
    plain = expert("P", seniority=30, categories=(), hazards=("choking",))
    req = request(lab_items=("小零件 GB 6675.2-2014",))
    selection = select_panel(req, [*fillers(2), lab, plain], {}, SMALL, on=ON)
    seat = next(s for s in selection.seats if s.expert_id == "L")
    assert seat.match == 2 and "lab:GB 6675.2" in seat.reasons
    assert "L" in {s.expert_id for s in selection.voting}
    assert "P" not in {s.expert_id for s in selection.voting}  # match 1 < 2, seniority aside


# ── requirements: a senior expert, every coverable hazard ────────────────────────────────────

def test_a_senior_expert_sits_even_if_juniors_match_better():
    juniors = [expert(f"J{i}", seniority=4, hazards=("choking", "injuries")) for i in range(3)]
    senior = expert("S", seniority=20, hazards=())
    selection = select_panel(request(hazards=("choking", "injuries")), [*juniors, senior], {},
                             SMALL, on=ON)
    assert sorted(s.expert_id for s in selection.voting) == ["J0", "J1", "S"]
    assert selection.chair.expert_id == "S" and "senior:10" in selection.chair.reasons
    assert [s.expert_id for s in selection.reserves] == ["J2"]


def test_no_senior_eligible_means_no_panel_and_says_so():
    with pytest.raises(PanelUnavailable, match=r"no eligible senior expert \(10\+ years\)"):
        select_panel(request(), [expert(f"J{i}", seniority=3) for i in range(4)], {}, SMALL,
                     on=ON)


def test_every_hazard_someone_knows_is_covered_and_the_rest_reported():
    people = [expert("A", 15, hazards=("choking",)), expert("B", 14, hazards=("choking",)),
              expert("C", 13, hazards=("choking",)), expert("D", 2, categories=(),
                                                           hazards=("fire",))]
    selection = select_panel(request(hazards=("choking", "fire", "chemical")), people, {},
                             SMALL, on=ON)
    assert "D" in {s.expert_id for s in selection.voting}  # the only one who knows fire
    assert selection.uncovered == ("chemical",)
    assert selection.to_dict()["uncovered"] == ["chemical"]


def test_coverage_is_maximised_when_no_panel_can_cover_everything():
    # four hazards, each known by one expert, on a panel of three that must seat the senior A:
    # three are covered (A, then the lower ids of the equal B, C, D), burns is not
    people = [expert("A", 15, hazards=("choking",)), expert("B", 5, categories=(),
                                                           hazards=("fire",)),
              expert("C", 5, categories=(), hazards=("chemical",)),
              expert("D", 5, categories=(), hazards=("burns",))]
    selection = select_panel(request(hazards=("choking", "fire", "chemical", "burns")), people,
                             {}, SMALL, on=ON)
    assert sorted(s.expert_id for s in selection.voting) == ["A", "B", "C"]
    assert selection.uncovered == ("burns",)


def test_fewest_open_seats_before_headroom():
    # X has a low cap of its own but no open seat; Y has a higher cap and three open seats:
    # X, with fewer open seats, votes (the preference is seats held, not room left)
    people = [expert("S", 20), expert("T", 20), expert("X", 12, max_open_seats=2),
              expert("Y", 12)]
    selection = select_panel(request(), people, {"Y": 3}, SMALL, on=ON)
    assert "X" in {s.expert_id for s in selection.voting}
    assert [s.expert_id for s in selection.reserves] == ["Y"]


def test_stored_roster_data_that_cannot_be_read_excludes_with_the_reason():
    odd = [expert("P", unavailable=({"from": "soon", "to": "2026-12-09"},)),
           expert("Q", employment=({"enterprise": TOY_MAKER, "from": "2023年", "to": None},)),
           expert("R", unavailable=({"to": "2026-12-09"},))]
    selection = select_panel(request(), [*fillers(5), *odd], {}, Protocol(), on=ON)
    reasons = excluded(selection)
    assert {reasons[e][0] for e in "PQR"} == {"invalid_roster_data"}
    assert "re-import the expert" in reasons["P"][1]


# ── batches ─────────────────────────────────────────────────────────────────────────────────

def test_a_batch_shares_the_caps_and_serves_the_queue_in_order():
    # S is the only senior and may take one more seat: the first case in the queue gets them,
    # the second is told why it waits; with a lower seniority bar both sit.
    people = [expert("S", 25, max_open_seats=1), *[expert(f"J{i}", 3) for i in range(6)]]
    first, second = request("C-1"), request("C-2")
    result = assign([first, second], people, {}, SMALL, on=ON)
    assert "S" in {s.expert_id for s in result.selections["C-1"].voting}
    assert "C-2" not in result.selections
    assert "taken by cases ahead of it in the queue" in str(result.unavailable["C-2"])
    swapped = assign([second, first], people, {}, SMALL, on=ON)
    assert set(swapped.selections) == {"C-2"}
    relaxed = assign([first, second], people, {}, Protocol(panel_size=3, quorum=2,
                                                           senior_years=3), on=ON)
    assert set(relaxed.selections) == {"C-1", "C-2"}
    loads = [s.expert_id for sel in relaxed.selections.values() for s in sel.voting]
    assert loads.count("S") <= 1


def test_the_batch_seats_more_cases_than_greedy_one_by_one():
    # Greedy would seat C-1 with its best matches, A and B (both know choking and injuries),
    # leaving C-2, which needs injuries covered, without anyone who knows it. Jointly, C-1
    # takes C and D and both cases sit.
    both = ("choking", "injuries")
    people = [expert("A", 20, hazards=both, max_open_seats=1),
              expert("B", 20, hazards=both, max_open_seats=1),
              expert("C", 20, hazards=("choking",), max_open_seats=1),
              expert("D", 20, hazards=("choking",), max_open_seats=1),
              expert("E", 20, hazards=("choking",), max_open_seats=1),
              expert("F", 20, hazards=("choking",), max_open_seats=1)]
    one = request("C-1", hazards=("choking",))
    two = request("C-2", hazards=both)
    result = assign([one, two], people, {}, SMALL, on=ON)
    assert set(result.selections) == {"C-1", "C-2"}
    alone = select_panel(one, people, {}, SMALL, on=ON)
    assert {"A", "B"} <= {s.expert_id for s in alone.voting}  # what greedy would have done


def test_the_queue_is_served_in_order_not_by_the_count_of_cases_seated():
    # S1 may sit once and S2 once, and each case needs a senior. A (first) can sit with either;
    # B, C and D each know a hazard only one senior does. Seating A first leaves one senior
    # for the later cases: A and then the earliest of B, C, D it leaves room for.
    people = [expert("S1", 20, hazards=("choking", "fire"), max_open_seats=1),
              expert("S2", 20, hazards=("choking", "burns"), max_open_seats=1),
              *[expert(f"J{i}", 3, hazards=("choking", "fire", "burns")) for i in range(8)]]
    senior_only = Protocol(panel_size=3, quorum=2, reserves=0, senior_years=10)
    batch = [request("A"), request("B"), request("C"), request("D")]
    result = assign(batch, people, {}, senior_only, on=ON)
    assert "A" in result.selections and len(result.selections) == 2
    assert "B" in result.selections  # the earliest after A, not a later pair
    for later in ("C", "D"):
        assert "taken by cases ahead of it" in str(result.unavailable[later])


def test_same_input_same_panels():
    rnd = random.Random(7)
    people = [expert(f"E{i:02d}", rnd.randint(1, 30), ("toys",),
                     tuple(rnd.sample(["choking", "injuries", "fire"], rnd.randint(1, 2))),
                     max_open_seats=rnd.randint(1, 3)) for i in range(14)]
    batch = [request(f"C-{k}", hazards=("choking", "injuries")) for k in range(4)]
    first = assign(batch, people, {}, SMALL, on=ON)
    for _ in range(3):
        rnd.shuffle(people)
        again = assign(batch, people, {}, SMALL, on=ON)
        assert again.selections == first.selections
        assert {k: str(v) for k, v in again.unavailable.items()} == \
               {k: str(v) for k, v in first.unavailable.items()}


# ── the solver against brute force ───────────────────────────────────────────────────────────

def _brute_force(batch, people, seats, protocol):
    """The best lexicographic value over every feasible choice, by enumeration: the cases in
    queue order, then hazards covered, match, fewest open seats, seniority, lower ids."""
    ids = sorted(p.id for p in people)
    position = {i: n for n, i in enumerate(ids)}
    cap = {p.id: min(p.max_open_seats or protocol.max_open_seats, protocol.max_open_seats)
           for p in people}

    def match(req, p):
        return 2 * (req.category in p.categories) + sum(h in p.hazards for h in req.hazards)

    options = []
    for req in batch:
        eligible = [p for p in people if match(req, p) > 0 and seats.get(p.id, 0) < cap[p.id]]
        found = [None]
        for panel in itertools.combinations(eligible, protocol.panel_size):
            if any(p.seniority >= protocol.senior_years for p in panel):
                found.append(panel)
        options.append(found)
    best = None
    for choice in itertools.product(*options):
        load = {}
        for panel in choice:
            for p in panel or ():
                load[p.id] = load.get(p.id, 0) + 1
        if any(seats.get(i, 0) + n > cap[i] for i, n in load.items()):
            continue
        chosen = [(k, p) for k, panel in enumerate(choice) for p in panel or ()]
        value = (*[panel is not None for panel in choice],
                 sum(any(h in p.hazards for p in panel)
                     for req, panel in zip(batch, choice, strict=True)
                     if panel for h in dict.fromkeys(req.hazards)),
                 sum(match(batch[k], p) for k, p in chosen),
                 -sum(seats.get(p.id, 0) for _, p in chosen),
                 sum(p.seniority for _, p in chosen),
                 -sum(position[p.id] for _, p in chosen))
        best = value if best is None or value > best else best
    return best


def _value(result, batch, people, seats, protocol):
    by_id = {p.id: p for p in people}
    position = {i: n for n, i in enumerate(sorted(by_id))}
    seated = [req.case_id in result.selections for req in batch]
    total = [0, 0, 0, 0, 0]
    for req in batch:
        selection = result.selections.get(req.case_id)
        if selection is None:
            continue
        voters = [by_id[s.expert_id] for s in selection.voting]
        total[0] += sum(any(h in p.hazards for p in voters) for h in dict.fromkeys(req.hazards))
        for seat in selection.voting:
            p = by_id[seat.expert_id]
            total[1] += seat.match
            total[2] -= seats.get(p.id, 0)
            total[3] += p.seniority
            total[4] -= position[p.id]
    return (*seated, *total)


@pytest.mark.parametrize("seed", range(30))
def test_the_solver_finds_the_brute_force_optimum(seed):
    rnd = random.Random(seed)
    hazards = ["choking", "injuries", "fire"]
    people = [expert(f"E{i}", rnd.choice([3, 5, 8, 12, 20]),
                     rnd.choice([("toys",), ()]),
                     tuple(rnd.sample(hazards, rnd.randint(1, 2))),
                     max_open_seats=rnd.choice([1, 1, 2, None]))
              for i in range(rnd.randint(5, 7))]
    seats = {p.id: rnd.choice([0, 0, 1]) for p in people}
    batch = [PanelRequest(f"C-{k}", "toys", tuple(rnd.sample(hazards, rnd.randint(1, 3))))
             for k in range(rnd.choice([2, 3]))]
    result = assign(batch, people, seats, SMALL, on=ON)
    assert _value(result, batch, people, seats, SMALL) == _brute_force(batch, people, seats,
                                                                       SMALL)
    load = {}
    by_id = {p.id: p for p in people}
    for req in batch:  # every panel meets the requirements; caps hold across the batch
        selection = result.selections.get(req.case_id)
        if selection:
            voters = [s.expert_id for s in selection.voting]
            assert len(voters) == SMALL.panel_size
            assert any(by_id[e].seniority >= SMALL.senior_years for e in voters)
            assert selection.chair.expert_id in voters
            for e in voters:
                load[e] = load.get(e, 0) + 1
    for e, n in load.items():
        own = by_id[e].max_open_seats or SMALL.max_open_seats
        assert seats.get(e, 0) + n <= min(own, SMALL.max_open_seats)


def test_staff_seating_brings_a_senior_and_the_missing_hazard_first():
    from experts.assignment import best_eligible

    sitting = [expert("M1", 4, hazards=("choking",)), expert("M2", 5, hazards=("choking",))]
    candidates = [expert("J1", 6, hazards=("choking", "injuries", "fire")),  # best match
                  expert("S1", 25, categories=(), hazards=("choking",)),  # the only senior
                  expert("F1", 3, categories=(), hazards=("fire",))]  # the only other fire
    req = request(hazards=("choking", "fire"))
    seats, _ = best_eligible(req, [*sitting, *candidates], {}, Protocol(), on=ON, count=2,
                             taken=frozenset({"M1", "M2"}), sitting=sitting)
    chosen = {s.expert_id: s.reasons for s in seats}
    assert set(chosen) == {"S1", "J1"}  # the senior, then J1 knows fire (and ranks first)
    assert "senior:10" in chosen["S1"] and "covers:fire" in chosen["J1"]
    one, _ = best_eligible(req, [*sitting, *candidates], {}, Protocol(), on=ON, count=1,
                           taken=frozenset({"M1", "M2"}), sitting=[*sitting, candidates[1]])
    assert [s.expert_id for s in one] == ["J1"]  # a senior sits: the best for fire
