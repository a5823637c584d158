"""`riskgate experts import FILE`: a roster from CSV or YAML with every field the panel rules
read; every bad row reported with its line, and nothing stored unless every row is good."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from cases import store
from cases.models import AuditEvent, Expert
from cases.panels import profiles
from experts.roster import FIELDS, RosterError, load_roster
from tests.flows.test_cli import run

HEADER = ",".join(FIELDS)
X001 = ("X001,王一,青禾大学,青禾集团,w1@qinghe.example,浙江,20,toys;childcare,choking;injuries,"
        "GB 6675.2; XRF,3,2026-12-01/2026-12-20,"
        "宁波乐童玩具有限公司:2019-2023; 某电器公司:2024-,乐童集团,true")
GOOD_CSV = f"""{HEADER}
{X001}
X002,"Li, Er",某院,,,,8,,choking,,,,,,
"""
GOOD_YAML = """experts:
  - id: Y001
    name: 张三
    affiliation: 星河检测中心
    group: 星河集团
    email: z3@xinghe.example
    region: 广东
    seniority: 12
    categories: [toys]
    hazards: [choking]
    lab_methods: [GB 6675.2]
    max_open_seats: 2
    unavailable: [{from: 2026-12-24, to: 2027-01-02}]
    employment: [{enterprise: 宁波乐童玩具有限公司, from: 2015, to: 2020}]
    conflicts: [乐童集团]
"""


def experts_in(db) -> int:
    with db.read_session() as session:
        return session.exec(select(func.count()).select_from(Expert)).one()


def test_a_csv_roster_imports_every_field(capsys, cli_user, db, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeff" + GOOD_CSV, encoding="utf-8")  # a spreadsheet's UTF-8 mark
    code, out, err = run(capsys, "experts", "import", str(path), "--json")
    assert code == 0, err
    assert json.loads(out) == {"file": str(path), "experts": 2, "added": ["X001", "X002"],
                               "updated": [], "unchanged": 0}
    x1 = next(p for p in profiles(db) if p.id == "X001")
    assert (x1.group, x1.email, x1.region, x1.seniority, x1.max_open_seats) == (
        "青禾集团", "w1@qinghe.example", "浙江", 20, 3)
    assert x1.categories == ("toys", "childcare") and x1.hazards == ("choking", "injuries")
    assert x1.lab_methods == ("GB 6675.2", "XRF") and x1.conflicts == ("乐童集团",)
    assert x1.unavailable == ({"from": "2026-12-01", "to": "2026-12-20"},)
    assert x1.employment == ({"enterprise": "宁波乐童玩具有限公司", "from": 2019, "to": 2023},
                             {"enterprise": "某电器公司", "from": 2024, "to": None})
    x2 = next(p for p in profiles(db) if p.id == "X002")
    assert x2.name == "Li, Er" and x2.active and x2.max_open_seats is None


def test_reimporting_reports_what_changed_and_audits_it(capsys, cli_user, db, tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text(GOOD_YAML, encoding="utf-8")
    assert run(capsys, "experts", "import", str(path))[1].strip() == (
        "1 experts in roster.yaml: 1 added, 0 updated, 0 unchanged")
    assert run(capsys, "experts", "import", str(path))[1].strip() == (
        "1 experts in roster.yaml: 0 added, 0 updated, 1 unchanged")
    path.write_text(GOOD_YAML.replace("seniority: 12", "seniority: 13"), encoding="utf-8")
    assert run(capsys, "experts", "import", str(path))[1].strip() == (
        "1 experts in roster.yaml: 0 added, 1 updated, 0 unchanged")
    with db.read_session() as session:
        events = session.exec(select(AuditEvent).where(
            AuditEvent.action == "roster.updated")).all()
    assert [(e.detail["experts"], e.detail["added"], list(e.detail["records"]))
            for e in events] == [(1, 1, ["expert:Y001"]), (1, 0, ["expert:Y001"])]
    assert store.roster(db)[0].seniority == 13


def test_every_bad_row_is_reported_by_line_and_nothing_is_imported(capsys, cli_user, db, tmp_path):
    rows = GOOD_CSV.splitlines()
    bad = "\n".join([
        rows[0],
        rows[1],  # line 2: good
        "X003,王三,某院,,not-an-address,,10,toys,choking,,,,,,",  # 3: e-mail
        "X004,\"王\n四\",某院,,,,ten,toys,choking,,,,,,",  # 4-5: a quoted line break; seniority
        "",  # 6: blank, skipped
        "X005,王五,某院,,,,10,toyz,choking,,,,,,",  # 7: unknown category
        "X006,王六,某院,,,,10,toys,choking,,,2026-12-20/2026-12-01,,,",  # 8: period backwards
        "X007,王七,某院,,,,10,toys,choking,,,,乐童:2019,,",  # 9: employment without years
        "X001,王八,某院,,,,10,toys,choking,,,,,,",  # 10: id used on line 2
        "X009,王九,某院,,,,10,toys,choking,,,,,,maybe",  # 11: active
        "X010,王十,某院",  # 12: too few cells
    ]) + "\n"
    path = tmp_path / "roster.csv"
    path.write_text(bad, encoding="utf-8")
    before = experts_in(db)
    code, out, err = run(capsys, "experts", "import", str(path))
    assert code != 0 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: ")
    expected = [
        ("3", "expert X003: email: is not an e-mail address"),
        ("4", "expert X004: seniority: 'ten' is not a whole number"),
        ("7", "expert X005: categories: unknown categories code 'toyz'"),
        ("8", "expert X006: unavailable[0]: ends (2026-12-01) before it starts (2026-12-20)"),
        ("9", "expert X007: employment: '乐童:2019'; write ENTERPRISE:FROM-TO"),
        ("10", "expert X001: id is used twice (first on line 2)"),
        ("11", "expert X009: active: 'maybe'; write true or false"),
        ("12", "expert X010: has 3 cells, the header 15"),
    ]
    assert len(lines) == len(expected) + 1
    for line, (number, problem) in zip(lines, expected, strict=False):
        assert f"roster.csv:{number}: {problem}" in line, line
    assert lines[-1].endswith("8 problem(s); nothing was imported")
    assert experts_in(db) == before  # not even the good row


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("roster.csv", "id,name\nX,Y\n", "required column 'affiliation' is missing"),
    ("roster.csv", f"{HEADER},hobby\n", "unknown column 'hobby'"),
    ("roster.csv", f"{HEADER},name\n", "column 'name' is given twice"),
    ("roster.csv", "", "the CSV roster is empty"),
    ("roster.csv", f"{HEADER}\n", "the roster lists no experts"),
    ("roster.yaml", GOOD_YAML.replace("from: 2026-12-24", "from: 2026-13-01"),
     "cannot read roster"),  # a scalar YAML cannot build
    ("roster.yaml", GOOD_YAML + "experts: []\n", "given once"),
])
def test_a_file_that_cannot_be_read_as_a_roster_is_named(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RosterError, match=problem):
        load_roster(path)


def test_yaml_rows_are_reported_by_line(tmp_path):
    path = tmp_path / "roster.yaml"
    second = GOOD_YAML.removeprefix("experts:\n").replace("Y001", "Y002").replace(
        "to: 2020}", "to: 2010}").replace("max_open_seats: 2", "max_open_seats: 0")
    path.write_text(GOOD_YAML + second + "  - id: Y003\n    name: a\n    name: b\n",
                    encoding="utf-8")
    with pytest.raises(RosterError) as info:
        load_roster(path)
    assert info.value.problems == [
        f"{path}:16: expert Y002: max_open_seats: Input should be greater than or equal to 1 "
        "(got 0) [+1 more]",
        f"{path}:30: expert Y003: field 'name' is given twice"]


def test_dry_run_checks_and_stores_nothing(capsys, cli_user, db, tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text(GOOD_YAML, encoding="utf-8")
    code, out, _ = run(capsys, "experts", "import", str(path), "--dry-run")
    assert code == 0 and "valid; nothing stored" in out
    assert experts_in(db) == 0


@pytest.mark.parametrize("name", ["roster.txt", "roster.json"])
def test_other_formats_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_text(GOOD_YAML, encoding="utf-8")
    with pytest.raises(RosterError, match=r"\.yaml, \.yml or \.csv"):
        load_roster(path)


def test_the_imported_fields_reach_the_panel_rules(db, tmp_path, settings):
    """An expert imported with a recent job at the case's enterprise stands aside, with the
    job named, in the panel the store would seat."""
    from experts.assignment import assign
    from experts.panel import PanelRequest
    from experts.protocol import Protocol

    path = tmp_path / "roster.yaml"
    people = "\n".join(
        f"  - {{id: F{i}, name: 专家{i}, affiliation: 院{i}, seniority: 12, "
        f"categories: [toys], hazards: [choking]}}" for i in range(5))
    path.write_text(GOOD_YAML.replace("to: 2020}", "to: 2024}") + people + "\n",
                    encoding="utf-8")
    store.upsert_experts(db, load_roster(path), actor="test")
    from cases import names
    request = PanelRequest("C-1", "toys", ("choking",),
                           parties=names.keys(["宁波乐童玩具有限公司"], []))
    from datetime import date
    result = assign([request], profiles(db), {}, Protocol(), on=date(2026, 12, 1))
    out = {e.expert_id: (e.reason, e.detail) for e in result.selections["C-1"].excluded}
    assert out["Y001"] == ("conflict_employment", "宁波乐童玩具有限公司 2015–2024")


def test_the_documented_example_roster_imports(db):
    """docs/roster-example.csv, which the README points to, is a valid roster."""
    from tests.conftest import REPO

    profiles_ = load_roster(REPO / "docs" / "roster-example.csv")
    assert [p.id for p in profiles_] == ["R001", "R002", "R003"]
    assert profiles_[1].name == "Maria Rossi" and profiles_[1].lab_methods == (
        "IEC 60335-1", "IEC 60598-1")
    assert profiles_[1].employment == ({"enterprise": "Acme Heaters S.r.l.", "from": 2015,
                                        "to": 2021},)


def test_control_characters_in_a_bad_row_cannot_forge_output_lines(capsys, cli_user, db, tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text('experts:\n  - {id: "X\\nerror: forged\\u001b[31m", name: a, affiliation: b, '
                    "seniority: 1, hazards: [choking]}\n", encoding="utf-8")
    code, _, err = run(capsys, "experts", "import", str(path))
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and "forged" in lines[0]
    assert "\x1b" not in err and lines[1].endswith("1 problem(s); nothing was imported")


def test_a_full_width_semicolon_separates_list_items_too(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(f"{HEADER}\nX1,王一,某院,,,,10,toys,choking,,,,,宁波乐童玩具有限公司；乐童控股集团,\n",
                    encoding="utf-8")
    assert load_roster(path)[0].conflicts == ("宁波乐童玩具有限公司", "乐童控股集团")


def test_a_signal_giving_only_the_credit_code_still_excludes_who_declared_the_name(
        settings, db, roster):
    """Issue 9 (5): the store knows the code and the name belong together from an earlier
    signal, so a conflict declared by name holds for a case whose signal gives only the code."""
    from dataclasses import replace

    from cases.intake import open_case
    from cases.panels import request_for
    from experts.assignment import select_panel
    from experts.protocol import Protocol
    from tests.helpers import sample_signal

    open_case(db, sample_signal(reference="with-both"), actor="staff:t", lang="zh")
    only_code = sample_signal(reference="code-only")
    only_code = only_code.model_copy(update={"enterprise": only_code.enterprise.model_copy(
        update={"name": ""}), "product": only_code.product.model_copy(update={
            "model": "another"})})
    case_id = open_case(db, only_code, actor="staff:t", lang="zh").case_id
    toys = next(p for p in profiles(db) if "toys" in p.categories)
    conflicted = replace(toys, id="Z001", seniority=40,
                         conflicts=("宁波乐童玩具（浙江）有限公司",))
    request = request_for(db, store.load_dossier(db, case_id))
    assert request.enterprises == ("91330206MA2H3L7X0K",)  # the signal names no one else
    selection = select_panel(request, [*profiles(db), conflicted], {}, Protocol())
    assert ("Z001", "conflict_enterprise") in {(e.expert_id, e.reason)
                                               for e in selection.excluded}
