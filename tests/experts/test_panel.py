import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases import names
from experts.assignment import select_panel
from experts.panel import ExpertProfile, PanelRequest, PanelUnavailable
from experts.protocol import Protocol

TOY_MAKER = "宁波乐童玩具有限公司"
TOY_CODE = "91330200MA2H1234XY"


def expert(id, seniority=10, categories=("toys",), hazards=("choking",), **kw) -> ExpertProfile:
    return ExpertProfile(id=id, name=f"name {id}", affiliation=kw.pop("affiliation", f"inst {id}"),
                         seniority=seniority, categories=tuple(categories),
                         hazards=tuple(hazards), **kw)


REQUEST = PanelRequest("C-1", "toys", ("choking", "injuries"),
                       parties=names.keys([TOY_MAKER], [TOY_CODE]),
                       enterprises=(TOY_MAKER, TOY_CODE))


def roster():
    return [
        expert("E01", 20, hazards=("choking", "injuries")),  # match 4
        expert("E02", 5, hazards=("choking",)),  # match 3
        expert("E03", 30, hazards=("choking",)),  # match 3, most senior
        expert("E04", 8, categories=(), hazards=("injuries",)),  # match 1
        expert("E05", 12, categories=(), hazards=("choking",)),  # match 1
        expert("E06", 9, categories=("toys",), hazards=()),  # match 2
        expert("E07", 9, categories=("cosmetics",), hazards=("chemical",)),  # no expertise
        expert("E08", 40, active=False),  # inactive
        expert("E09", 15, conflicts=(" 宁波乐童 玩具有限公司 ",)),  # conflict by name
        expert("E10", 15, conflicts=(TOY_CODE.lower(),)),  # conflict by credit code
        expert("E11", 15, affiliation=TOY_MAKER),  # works for the enterprise
        expert("E12", 25),  # workload cap
        expert("E13", 1, categories=(), hazards=("injuries",)),  # match 1, reserve
    ]


OPEN = {"E12": 6, "E02": 1, "E05": 2}


def test_panel_is_explained():
    selection = select_panel(REQUEST, roster(), OPEN, Protocol())
    assert [(s.expert_id, s.role, s.match) for s in selection.seats] == [
        ("E03", "chair", 3),
        ("E01", "member", 4),
        ("E02", "member", 3),
        ("E06", "member", 2),
        ("E04", "member", 1),
        ("E13", "reserve", 1),
        ("E05", "reserve", 1),
    ]
    assert selection.chair.reasons == ("category:toys", "hazard:choking", "open_seats:0",
                                       "seniority:30", "senior:10", "chair:most_senior")
    assert selection.members[0].reasons == ("category:toys", "hazard:choking",
                                            "hazard:injuries", "open_seats:0", "seniority:20",
                                            "senior:10")
    assert [s.expert_id for s in selection.voting] == ["E03", "E01", "E02", "E06", "E04"]
    assert [s.expert_id for s in selection.reserves] == ["E13", "E05"]
    assert [(e.expert_id, e.reason) for e in selection.excluded] == [
        ("E07", "no_expertise"),
        ("E08", "inactive"),
        ("E09", "conflict_enterprise"),
        ("E10", "conflict_enterprise"),
        ("E11", "conflict_affiliation"),
        ("E12", "workload_cap"),
    ]
    details = {e.expert_id: e.detail for e in selection.excluded}
    assert details["E09"] == " 宁波乐童 玩具有限公司 "
    assert details["E12"] == "open_seats:6/6"
    assert selection.considered == 13


def test_reason_codes_carry_no_prose():
    selection = select_panel(REQUEST, roster(), OPEN, Protocol())
    for seat in selection.seats:
        for reason in seat.reasons:
            key, _, value = reason.partition(":")
            assert key in {"category", "hazard", "lab", "open_seats", "seniority", "senior",
                           "chair"}
            assert value and " " not in value


def test_to_dict_is_json_safe():
    data = select_panel(REQUEST, roster(), OPEN, Protocol()).to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert list(data) == ["considered", "chair", "members", "reserves", "seats", "excluded",
                          "excluded_by_reason", "senior_years", "uncovered"]
    assert data["chair"] == "E03" and data["members"] == ["E01", "E02", "E06", "E04"]
    assert list(data["excluded_by_reason"].items()) == [
        ("inactive", 1), ("conflict_enterprise", 2), ("conflict_affiliation", 1),
        ("no_expertise", 1), ("workload_cap", 1)]
    assert data["seats"][0] == {"expert_id": "E03", "role": "chair", "match": 3,
                                "reasons": ["category:toys", "hazard:choking", "open_seats:0",
                                            "seniority:30", "senior:10", "chair:most_senior"]}


def test_only_the_first_reason_is_recorded():
    # inactive, conflicted and without expertise: inactive is checked first
    e = expert("X", categories=("cosmetics",), hazards=(), active=False, conflicts=(TOY_MAKER,))
    # conflicted both ways, no expertise and overloaded: the declared conflict comes first
    f = expert("Y", categories=(), hazards=(), conflicts=(TOY_MAKER,), affiliation=TOY_MAKER)
    # works for the enterprise and has no expertise: the affiliation is recorded
    g = expert("Z", categories=(), hazards=("fire",), affiliation=TOY_MAKER)
    # no expertise and overloaded: no_expertise comes before the workload cap
    h = expert("W", categories=(), hazards=("fire",))
    with pytest.raises(PanelUnavailable) as info:
        select_panel(REQUEST, [e, f, g, h], {"Y": 9, "W": 9}, Protocol())
    assert [(x.expert_id, x.reason) for x in info.value.excluded] == [
        ("W", "no_expertise"), ("X", "inactive"), ("Y", "conflict_enterprise"),
        ("Z", "conflict_affiliation")]
    assert info.value.excluded[0].detail == "wanted:toys,choking,injuries"


def test_panel_unavailable_counts_why():
    people = [expert("A"), expert("B"), expert("C"), expert("D", conflicts=(TOY_MAKER,)),
              expert("E", categories=(), hazards=("fire",)),
              expert("F", categories=(), hazards=("fire",))]
    with pytest.raises(PanelUnavailable) as info:
        select_panel(REQUEST, people, {}, Protocol())
    assert str(info.value) == ("no panel for category toys: only 3 eligible experts, 5 needed "
                               "(3 eligible of 6; excluded: 1 conflict_enterprise, "
                               "2 no_expertise)")
    assert (info.value.eligible, info.value.needed) == (3, 5)
    assert isinstance(info.value, ValueError)


def test_fewer_reserves_are_acceptable():
    people = [expert(f"E{i}") for i in range(6)]
    selection = select_panel(REQUEST, people, {}, Protocol())
    assert len(selection.voting) == 5 and len(selection.reserves) == 1
    exact = select_panel(REQUEST, people[:5], {}, Protocol())
    assert exact.reserves == ()
    none = select_panel(REQUEST, people, {}, Protocol(reserves=0))
    assert none.reserves == ()


def test_workload_spreads_before_seniority():
    people = [expert("A", 30), expert("B", 5), expert("C", 5), expert("D", 5), expert("E", 5),
              expert("F", 5)]
    selection = select_panel(REQUEST, people, {"A": 3},
                             Protocol(panel_size=3, quorum=2, senior_years=5))
    assert [s.expert_id for s in selection.voting] == ["B", "C", "D"]
    assert [s.expert_id for s in selection.reserves] == ["E", "F"]
    assert "A" not in {s.expert_id for s in selection.seats}
    capped = select_panel(REQUEST, people, {"B": 1}, Protocol(panel_size=3, quorum=2,
                                                              max_open_seats=1, senior_years=5))
    assert ("B", "workload_cap") in {(e.expert_id, e.reason) for e in capped.excluded}


def test_chair_ties_break_by_match_then_id():
    people = [expert("B", 20, hazards=()), expert("A", 20, hazards=()),
              expert("C", 20, hazards=("choking", "injuries")), expert("D", 3), expert("E", 3)]
    selection = select_panel(REQUEST, people, {}, Protocol())
    assert selection.chair.expert_id == "C"
    people[2] = expert("C", 20, hazards=())
    assert select_panel(REQUEST, people, {}, Protocol()).chair.expert_id == "A"


@pytest.mark.parametrize("declared", [
    "宁波乐童\u200b玩具有限公司",  # a zero-width space
    "宁波乐童玩具（浙江）有限公司",  # a region inserted
    "宁波乐童玩具股份有限公司",  # another company form
    "宁波　乐童玩具有限公司",  # a full-width space
    " 91330200ma2h1234xy ",  # the credit code, lower case and padded
    "９１３３０２００ＭＡ２Ｈ１２３４ＸＹ",  # the credit code in full-width digits and letters
])
def test_a_declared_conflict_is_found_through_variations_of_the_name_or_code(declared):
    people = [expert(f"E{i}") for i in range(5)] + [expert("X", 30, conflicts=(declared,))]
    selection = select_panel(REQUEST, people, {}, Protocol())
    assert ("X", "conflict_enterprise") in {(e.expert_id, e.reason) for e in selection.excluded}


def test_a_conflict_with_the_group_or_another_signal_of_the_case_excludes():
    parties = names.keys(["某某电器有限公司", "宁波乐童玩具有限公司", "乐童集团"], [])
    request = PanelRequest("C-3", "toys", ("choking",), parties=parties)
    people = [expert(f"E{i}") for i in range(5)] + [
        expert("G", 30, conflicts=("乐童集团有限公司",)),
        expert("S", 30, affiliation="宁波乐童玩具有限公司")]
    excluded = {(e.expert_id, e.reason) for e in select_panel(request, people, {},
                                                               Protocol()).excluded}
    assert {("G", "conflict_enterprise"), ("S", "conflict_affiliation")} <= excluded


def test_blank_requests_match_nothing():
    blank = PanelRequest("C-2", "toys", ("choking",))
    people = [expert(f"E{i}", affiliation="", conflicts=("", " ")) for i in range(5)]
    assert len(select_panel(blank, people, {}, Protocol()).voting) == 5


def test_duplicate_roster_ids_are_refused():
    with pytest.raises(ValueError, match="more than once"):
        select_panel(REQUEST, [expert("A"), expert("A")], {}, Protocol())


@given(st.randoms(use_true_random=False))
def test_same_inputs_same_panel_whatever_the_roster_order(rnd):
    people = roster()
    rnd.shuffle(people)
    shuffled = select_panel(REQUEST, people, OPEN, Protocol())
    assert shuffled == select_panel(REQUEST, roster(), OPEN, Protocol())


@given(st.lists(st.tuples(st.integers(0, 40), st.sets(st.sampled_from(["toys", "cosmetics"])),
                          st.sets(st.sampled_from(["choking", "injuries", "fire"])),
                          st.booleans(), st.integers(0, 8)),
                min_size=5, max_size=14))
def test_panel_invariants(rows):
    people = [expert(f"E{i:02d}", s, tuple(sorted(c)), tuple(sorted(h)), active=a)
              for i, (s, c, h, a, _) in enumerate(rows)]
    open_seats = {f"E{i:02d}": seats for i, (*_, seats) in enumerate(rows)}
    protocol = Protocol()
    try:
        selection = select_panel(REQUEST, people, open_seats, protocol)
    except PanelUnavailable as exc:
        eligible = {p.id for p in people} - {e.expert_id for e in exc.excluded}
        assert exc.eligible == len(eligible)
        assert exc.eligible < protocol.panel_size or not any(
            p.seniority >= protocol.senior_years for p in people if p.id in eligible)
        return
    seated = [s.expert_id for s in selection.seats]
    excluded = [e.expert_id for e in selection.excluded]
    assert len(selection.voting) == protocol.panel_size
    assert len(selection.reserves) <= protocol.reserves
    assert len(set(seated)) == len(seated) and not set(seated) & set(excluded)
    assert len(selection.excluded) + len(selection.voting) + len(selection.reserves) <= len(people)
    assert selection.chair.expert_id in {s.expert_id for s in selection.voting}
    by_id = {p.id: p for p in people}
    assert by_id[selection.chair.expert_id].seniority == max(
        by_id[s.expert_id].seniority for s in selection.voting)
    assert any(by_id[s.expert_id].seniority >= protocol.senior_years for s in selection.voting)
    for hazard in REQUEST.hazards:  # every hazard some eligible expert knows is covered
        if any(hazard in p.hazards for p in people if p.id not in excluded):
            assert any(hazard in by_id[s.expert_id].hazards for s in selection.voting)
    for s in selection.seats:
        assert s.match > 0 and by_id[s.expert_id].active
        assert open_seats[s.expert_id] < protocol.max_open_seats
    random.Random(0).shuffle(people)
    assert select_panel(REQUEST, people, open_seats, protocol) == selection
