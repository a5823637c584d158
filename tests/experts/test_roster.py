import re
from pathlib import Path

import pytest

from experts.assignment import select_panel
from experts.panel import PanelRequest
from experts.protocol import Protocol
from experts.roster import DEMO_ROSTER, load_roster

TOY_MAKER = "宁波乐童玩具有限公司"
HEATER_MAKER = "佛山暖家电器有限公司"


@pytest.fixture(scope="module")
def demo():
    return load_roster(DEMO_ROSTER)


def test_demo_roster_shape(demo):
    assert [e.id for e in demo] == [f"E{i:03d}" for i in range(1, 15)]
    for e in demo:
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", e.name), e.name
        assert e.affiliation and e.seniority > 0 and e.email.endswith(".example")
    assert [e.id for e in demo if not e.active] == ["E005"]
    assert sum(1 for e in demo if not e.categories) >= 2  # generalists
    assert any(TOY_MAKER in e.conflicts for e in demo)
    assert any(e.affiliation == HEATER_MAKER for e in demo)


@pytest.mark.parametrize(("category", "hazard", "enterprise"), [
    ("toys", "choking", TOY_MAKER),
    ("electrical_appliances", "electric_shock", HEATER_MAKER),
    ("cosmetics", "chemical", ""),
    ("children_clothing", "labelling", ""),
    ("children_clothing", "labelling", TOY_MAKER),
])
def test_demo_cases_have_at_least_six_eligible_experts(demo, category, hazard, enterprise):
    request = PanelRequest("DEMO", category, (hazard,), enterprise)
    selection = select_panel(request, demo, {}, Protocol())
    eligible = len(demo) - len(selection.excluded)
    assert eligible >= 6
    assert len(selection.voting) == 5 and len(selection.reserves) >= 1


def test_demo_conflict_rules_fire(demo):
    toys = select_panel(PanelRequest("DEMO-1", "toys", ("choking",), TOY_MAKER), demo, {},
                        Protocol())
    reasons = {e.expert_id: e.reason for e in toys.excluded}
    assert reasons["E002"] == "conflict_enterprise"
    assert reasons["E005"] == "inactive"
    heater = select_panel(PanelRequest("DEMO-2", "electrical_appliances",
                                       ("electric_shock", "fire", "burns"), HEATER_MAKER),
                          demo, {}, Protocol())
    assert {e.expert_id: e.reason for e in heater.excluded}["E007"] == "conflict_affiliation"


def test_demo_categories_and_hazards_are_covered(demo):
    groups = {
        ("toys", "childcare", "children_clothing"): ("choking", "suffocation", "strangulation",
                                                     "injuries"),
        ("electrical_appliances", "lighting", "batteries_chargers"): ("electric_shock", "fire",
                                                                      "burns"),
        ("cosmetics",): ("chemical", "microbiological"),
        ("textiles",): ("chemical", "labelling"),
    }
    for categories, hazards in groups.items():
        for category in categories:
            for hazard in hazards:
                request = PanelRequest("DEMO", category, (hazard,))
                assert len(select_panel(request, demo, {}, Protocol()).voting) == 5


def write(tmp_path, text: str):
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
experts:
  - id: X1
    name: 测试
    affiliation: 某研究所
    seniority: 3
    categories: [toys]
    hazards: [choking]
"""


def test_minimal_roster_loads_with_defaults(tmp_path):
    [profile] = load_roster(write(tmp_path, GOOD))
    assert profile.categories == ("toys",) and profile.hazards == ("choking",)
    assert profile.conflicts == () and profile.active and profile.email == ""


@pytest.mark.parametrize(("text", "words"), [
    (GOOD + "    hobby: chess\n", r"expert X1: hobby: Extra inputs are not permitted"),
    (GOOD.replace("[toys]", "[toyz]"), r"expert X1: categories: unknown categories code 'toyz'"),
    (GOOD.replace("[choking]", "[choke]"), r"expert X1: hazards: unknown hazards code 'choke'"),
    (GOOD + GOOD.removeprefix("experts:\n"), r"expert X1: id is used twice"),
    (GOOD.replace("seniority: 3", "seniority: -1"), r"expert X1: seniority"),
    (GOOD.replace("seniority: 3", "seniority: '3'"), r"expert X1: seniority"),
    (GOOD.replace("    name: 测试\n", ""), r"expert X1: name: Field required"),
    (GOOD.replace("id: X1", "id: X1234567890123456789012"), r"at most 20 characters"),
    (GOOD.replace("id: X1", "idx: X1"), r"roster.yaml:2: id: Field required"),
    (GOOD.replace("[toys]", "[]").replace("[choking]", "[]"), r"expert X1: lists neither"),
    ("experts: []\n", r"lists no experts"),
    ("people: []\n", r"one key, `experts:`"),
    ("experts: {X1: {}}\n", r"one key, `experts:`"),
    ("experts:\n  - just a name\n", r"roster.yaml:2: each expert is a mapping"),
    ("experts: [\n", r"cannot read roster"),
])
def test_problems_name_the_file_and_the_expert(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=words) as info:
        load_roster(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.yaml: no such file"):
        load_roster(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="not a regular file"):
        load_roster(Path("/dev/zero"))
