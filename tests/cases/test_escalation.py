"""The escalation watch (cases/escalation.py): one hazard across several products of a category,
enterprises of an industry or localities of a province opens one escalation case, linked to the
cases behind it; it goes through the gates like any case and its disposal proposes industry
rectification or a standard revision. On SQLite and PostgreSQL, without Prefect."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import col, select

from cases import audit, escalation, store
from cases.escalation import run_watch
from cases.escalation_patterns import Member, Pattern, find_patterns
from cases.intake import open_case
from cases.models import Case, Signal, utcnow
from cases.models_intake import CaseLink
from cases.signals import parse_signal
from flows import gates
from flows.cli import main
from reports.extract import docx_text
from tests.helpers import archetypes, report_path, score_round

CODES = ("91330206MA2H3L7X0K", "91330100MA27XK3A1B", "91440300MA5F8T2C3D",
         "91110105MA01Q7RN4E", "91320500MA1N6P9J5F")


def signal(reference: str, *, code: int = 0, category: str = "toys", name: str = "婴儿摇铃",
           model: str = "R1", locality: str = "", province: str = "浙江",
           hazards: tuple[str, ...] = ("choking",)):
    return parse_signal({
        "channel": "complaint_12365", "reference": reference,
        "received_at": "2026-11-18T10:42:00+08:00",
        "description": "消费者投诉：小零件脱落，婴儿放入口中。",
        "product": {"category": category, "name": name, "brand": "乐童", "model": model,
                    "target_users": "infants", "standard": "GB 6675.2-2014"},
        "enterprise": {"name": f"企业{code}", "credit_code": CODES[code],
                       "province": province, "locality": locality},
        "hazards": list(hazards)})


def open_all(db, signals, lang: str = "zh") -> list[str]:
    return [open_case(db, s, actor="staff:test", lang=lang).case_id for s in signals]


def products(db, n: int, start: int = 0) -> list[str]:
    """n different products of one enterprise, one category, one hazard: a category
    pattern only (one enterprise, no locality)."""
    return open_all(db, [signal(f"p-{i}", model=f"R{i}") for i in range(start, start + n)])


def enterprises(db) -> list[str]:
    """Three enterprises of the toys and children's products industry (toys and childcare):
    an industry pattern only (at most two products a category)."""
    return open_all(db, [signal("e-0", code=0, category="toys"),
                         signal("e-1", code=1, category="childcare", name="婴儿床铃"),
                         signal("e-2", code=2, category="toys", name="拨浪鼓")])


def localities(db) -> list[str]:
    """One enterprise's unnamed product reported from three localities of one province: a
    province pattern only (one product key, one enterprise)."""
    return open_all(db, [signal(f"l-{i}", name="", locality=city)
                         for i, city in enumerate(("杭州", "宁波", "温州"))])


def escalation_cases(db) -> list[Case]:
    with db.read_session() as session:
        ids = set(session.exec(select(CaseLink.case_id)).all())
        return list(session.exec(select(Case).where(col(Case.id).in_(ids))).all())


def links(db, case_id: str) -> list[str]:
    with db.read_session() as session:
        return sorted(session.exec(select(CaseLink.linked_case_id)
                                   .where(CaseLink.case_id == case_id)).all())


@pytest.mark.parametrize(("make", "kind"), [(products, "category"), (enterprises, "industry"),
                                            (localities, "province")])
def test_each_pattern_opens_exactly_one_escalation_case_with_its_links(db, settings, make,
                                                                       kind):
    behind = make(db) if make is not products else products(db, 3)
    result = run_watch(db)
    assert [o.kind for o in result.opened] == [kind] and result.linked == []
    opened = result.opened[0]
    assert opened.reference.startswith(f"ESC-{kind}-") and sorted(opened.linked) == sorted(behind)
    assert [c.id for c in escalation_cases(db)] == [opened.case_id]
    assert links(db, opened.case_id) == sorted(behind)
    dossier = store.load_dossier(db, opened.case_id)
    assert dossier.case.opened_by == escalation.ACTOR and dossier.case.gate == "intake"
    assert dossier.signals[0].channel == "risk_monitoring"
    assert dossier.signals[0].hazards == ["choking"]
    assert "风险升级" in dossier.case.title
    assert all(case_id in dossier.signals[0].description for case_id in behind)
    assert escalation.kind_of(db, opened.case_id) == kind
    assert escalation.kind_of(db, behind[0]) == "none"
    with db.read_session() as session:
        detail = session.exec(select(CaseLink.detail)).first()
    assert detail["pattern"]["kind"] == kind and "within 30 days (threshold 3)" in detail["why"]
    assert audit.verify(db, settings.home).ok


def test_below_the_threshold_or_outside_the_window_nothing_opens(db, settings):
    products(db, 2)
    assert run_watch(db).opened == []
    assert run_watch(db, threshold=4).opened == []
    products(db, 1, start=2)
    later = utcnow() + timedelta(days=31)
    assert run_watch(db, now=later).opened == []  # the three are older than the window
    assert run_watch(db, now=later, window_days=60).opened  # a wider window sees them
    assert len(escalation_cases(db)) == 1


def test_a_rerun_opens_nothing_and_a_fourth_case_is_linked_not_reopened(db, settings):
    behind = products(db, 3)
    first = run_watch(db).opened[0]
    again = run_watch(db)
    assert again.opened == [] and again.linked == []
    fourth = products(db, 1, start=3)
    result = run_watch(db)
    assert result.opened == []
    assert [(x.case_id, x.linked) for x in result.linked] == [(first.case_id, tuple(fourth))]
    assert links(db, first.case_id) == sorted(behind + fourth)
    assert [c.id for c in escalation_cases(db)] == [first.case_id]
    with db.read_session() as session:
        why = session.exec(select(CaseLink.detail).where(
            CaseLink.linked_case_id == fourth[0])).one()["why"]
        escalated = session.exec(select(Signal).where(
            col(Signal.reference).startswith("ESC-"))).all()
    assert "linked after the escalation case was opened" in why and len(escalated) == 1
    assert run_watch(db).linked == []
    assert audit.verify(db, settings.home).ok


def test_escalation_cases_are_not_input_and_a_closed_one_needs_new_cases(db, settings):
    products(db, 3)
    first = run_watch(db, threshold=2).opened
    assert [o.kind for o in first] == ["category"]  # the escalation case is no product here
    with db.session() as session:  # close it (as closure would)
        case = session.get(Case, first[0].case_id)
        case.state, case.gate = "closed", "closed"
        session.add(case)
    assert run_watch(db).opened == []  # the same cases do not escalate twice
    products(db, 3, start=3)
    second = run_watch(db).opened
    assert len(second) == 1 and second[0].reference == first[0].reference + "-2"
    assert links(db, second[0].case_id) == sorted(second[0].linked)
    assert not set(second[0].linked) & set(first[0].linked)
    assert run_watch(db).linked == []  # the first one's cases stay with it


def test_find_patterns_is_plain_logic():
    now = utcnow()

    def member(i: int, **changes) -> Member:
        base = {"case_id": f"C{i}", "title": "t", "category": "toys", "hazards": ("choking",),
                "product_key": f"e|p{i}|", "enterprise_key": "e", "province": "浙江",
                "locality": "", "created_at": now}
        return Member(**{**base, **changes})

    assert find_patterns([member(i) for i in range(2)]) == []
    found = find_patterns([member(i) for i in range(3)])
    assert [(p.kind, p.category, len(p.distinct())) for p in found] == [("category", "toys", 3)]
    mixed = [member(0, enterprise_key="a"), member(1, enterprise_key="b", category="childcare"),
             member(2, enterprise_key="c", category="children_clothing")]
    assert [p.kind for p in find_patterns(mixed)] == []  # clothing is another industry
    same = [member(i, product_key="e||", locality=city)
            for i, city in enumerate(("杭州市", "杭州 市", "宁波"))]
    assert find_patterns(same) == []  # two localities, as compared
    assert Pattern("category", "choking", "toys").digest == \
        Pattern("category", "choking", "toys").digest


@pytest.mark.parametrize(("make", "kind", "measure", "rule"),
                         [(enterprises, "industry", "industry_rectification", "D608"),
                          (localities, "province", "industry_rectification", "D608"),
                          (products, "category", "standard_revision", "D609")])
def test_the_escalation_case_goes_through_the_gates_to_its_disposal(db, settings, roster, make,
                                                                    kind, measure, rule):
    make(db) if make is not products else products(db, 3)
    case_id = run_watch(db).opened[0].case_id
    truth = archetypes()["toy_choking"].truth
    done = gates.advance(settings, case_id)
    for _ in range(3):
        if done.state != "awaiting_scores":
            break
        score_round(db, case_id, truth, seed="escalation")
        done = gates.advance(settings, case_id)
    assert done.state == "awaiting_approval"
    dossier = store.load_dossier(db, case_id)
    assert dossier.decision("triage").outcome["next_gate"] in ("fast_track", "expert_panel")
    decision = dossier.decision("disposal")
    assert decision.facts["escalation"] == kind and rule in decision.fired
    assert measure in [m["code"] for m in decision.outcome["measures"]]
    assert "escalation_case" in decision.outcome["flags"]
    assert audit.verify(db, settings.home).ok


def test_an_ordinary_case_decides_with_no_escalation(db, settings, roster):
    case_id = products(db, 1)[0]
    truth = archetypes()["toy_choking"].truth
    done = gates.advance(settings, case_id)
    while done.state == "awaiting_scores":
        score_round(db, case_id, truth, seed="ordinary")
        done = gates.advance(settings, case_id)
    decision = store.load_dossier(db, case_id).decision("disposal")
    assert decision.facts["escalation"] == "none"
    assert not {"D608", "D609"} & set(decision.fired)


@pytest.mark.parametrize(("lang", "words"), [
    ("zh", ("风险升级", "单一企业 → 所在行业", "监测窗口", "立案前 30 天内", "玩具及儿童用品行业",
            "婴儿床铃", "企业1")),
    ("en", ("Escalation", "One enterprise → its industry", "Window watched",
            "30 days before the case was opened", "Toys and children's products industry",
            "婴儿床铃", "企业1"))])
def test_the_intake_report_lists_the_pattern_and_the_linked_cases(db, settings, lang, words):
    behind = enterprises(db)
    case_id = run_watch(db, lang=lang).opened[0].case_id
    gates.advance(settings, case_id)
    dossier = store.load_dossier(db, case_id)
    text = docx_text(report_path(settings, dossier, "intake"))
    for word in words:
        assert word in text, word
    for other in behind:
        assert other in text
    assert dossier.reports[0].template_version.startswith("v1.1+")
    assert (("Escalation:" in dossier.case.title) if lang == "en"
            else ("风险升级" in dossier.case.title))


def test_the_cli_runs_the_watch_in_process(db, settings, cli_user, capsys):
    products(db, 3)
    with pytest.raises(SystemExit) as exit_code:
        main(["intake", "watch", "--window-days", "10", "--threshold", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert exit_code.value.code == 0
    assert out["window_days"] == 10 and [o["kind"] for o in out["opened"]] == ["category"]
    with pytest.raises(SystemExit):
        main(["intake", "watch"])
    assert "nothing to escalate" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_code:
        main(["intake", "watch", "--threshold", "1"])
    assert exit_code.value.code == 2


def test_the_case_page_shows_linked_cases_both_ways(db, settings, roster):
    from flows.web.app import create_app
    from tests.web.console_helpers import add_people, csrf, sign_in

    behind = products(db, 3)
    case_id = run_watch(db).opened[0].case_id
    add_people(db)
    client = sign_in(create_app(settings, start=lambda s, claim: None), "alice")
    page = client.get(f"/console/cases/{case_id}").text
    assert "本升级案件所依据的案件" in page and 'id="links-behind"' in page
    assert all(f'href="/console/cases/{other}"' in page for other in behind)
    other = client.get(f"/console/cases/{behind[0]}").text
    assert "本案件已被纳入的风险升级案件" in other and f'href="/console/cases/{case_id}"' in other
    client.post("/lang", data={"csrf": csrf(other), "lang": "en",
                               "next": f"/console/cases/{behind[0]}"})
    english = client.get(f"/console/cases/{behind[0]}").text
    assert "Escalation cases this case is part of" in english
    assert "Escalation: one product → its category" in english
    unlinked = client.get(f"/console/cases/{products(db, 1, start=9)[0]}").text
    assert 'id="links"' not in unlinked
