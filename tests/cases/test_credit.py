"""The enterprise credit file closes the loop from disposal back to triage: a disposal and its
follow-up write to the file, and a new case on the same enterprise is triaged with the file's
credit class and violations, the signal's own claim kept as evidence."""

from __future__ import annotations

import pytest

from cases import approvals, audit, credit, store
from cases.credit import derive_class
from cases.intake import open_case
from cases.signals import parse_signal
from flows import gates
from reports.extract import docx_text
from tests.helpers import (
    APPROVER,
    advance_with_people,
    archetypes,
    complete_actions,
    report_path,
    score_round,
)

ENTERPRISES = {"recall": ("宁波甲玩具有限公司", "91330206MA2H3L7X1A"),
               "warning": ("宁波乙玩具有限公司", "91330206MA2H3L7X2B")}


def signal_of(key: str, tag: str, enterprise: tuple[str, str]):
    """An archetype's signal, made by the given enterprise, which claims a clean record."""
    data = archetypes(tag)[key].signal.model_dump(mode="json")
    data["enterprise"] = {**data["enterprise"], "name": enterprise[0],
                          "credit_code": enterprise[1], "credit_class": "A",
                          "violations_3y": 0}
    return parse_signal(data)


def first_case(settings, db, arm: str) -> str:
    """A toy case of the arm's enterprise, through to closure: as proposed (a recall), or
    overridden to warnings only."""
    item = archetypes(f"first-{arm}")["toy_choking"]
    case_id = open_case(db, signal_of("toy_choking", f"first-{arm}", ENTERPRISES[arm]),
                        actor="staff:test", lang="zh").case_id
    gates.advance(settings, case_id)
    score_round(db, case_id, item.truth)
    assert gates.advance(settings, case_id).state == "awaiting_approval"
    if arm == "recall":
        approvals.decide(db, case_id, APPROVER)
    else:
        approvals.decide(db, case_id, APPROVER, measures=["consumer_warning",
                                                           "hazard_disclosure"],
                         justification="批次已售罄，以警示和整改说明书为主")
    assert gates.advance(settings, case_id).state == "awaiting_actions"
    complete_actions(db, case_id)
    assert gates.advance(settings, case_id).state == "closed"
    return case_id


def second_triages(settings, db):
    """The same labelling signal, once from each arm's enterprise, both opened before either is
    triaged (so each counts the other alike among the category's recent cases)."""
    opened = {arm: open_case(db, signal_of("labelling_defect", f"second-{arm}",
                                           ENTERPRISES[arm]),
                             actor="staff:test", lang="zh").case_id for arm in ENTERPRISES}
    found = {}
    for arm, case_id in opened.items():
        gates.advance(settings, case_id)
        dossier = store.load_dossier(db, case_id)
        found[arm] = (dossier, dossier.decision("triage"))
    return found


def test_a_recall_on_the_first_case_changes_the_triage_of_the_second(settings, db, roster):
    recalled = first_case(settings, db, "recall")
    warned = first_case(settings, db, "warning")
    assert "recall" in store.get_case(db, recalled).measures
    assert "recall" not in store.get_case(db, warned).measures

    second = second_triages(settings, db)
    after_recall, triage_r = second["recall"]
    triage_w = second["warning"][1]
    # the same signal but for its enterprise; the files differ, so the triage does
    assert (triage_r.facts["credit_class"], triage_r.facts["violations_3y"]) == ("C", 1)
    assert (triage_w.facts["credit_class"], triage_w.facts["violations_3y"]) == ("B", 0)
    assert "T603" in triage_r.fired and "T603" not in triage_w.fired
    assert triage_r.outcome["priority"] == "P3" and triage_w.outcome["priority"] == "P4"
    assert "elevated_credit_risk" in triage_r.outcome["flags"]
    others = {k: v for k, v in triage_r.facts.items() if k not in ("credit_class",
                                                                    "violations_3y")}
    assert others == {k: v for k, v in triage_w.facts.items()
                      if k not in ("credit_class", "violations_3y")}
    # the signal's own claim is kept, and shown beside the file's values
    assert after_recall.signals[0].enterprise.credit_class == "A"
    evidence = after_recall.gate_record("triage").outcome["credit_file"]
    assert evidence["claimed"] == {"credit_class": "A", "violations_3y": 0}
    assert evidence["file"]["credit_class"] == "C"
    text = docx_text(report_path(settings, after_recall, "triage"))
    assert "企业信用档案（宁波甲玩具有限公司）：信用风险分类 C" in text and "分类 A" in text
    assert audit.verify(db, settings.home).ok


def test_the_file_lists_cases_measures_actions_and_violations(settings, db, roster):
    case_id = first_case(settings, db, "recall")
    file = credit.for_case(db, store.load_dossier(db, case_id))
    assert file is not None and file.key == "code:" + ENTERPRISES["recall"][1]
    assert file.name == ENTERPRISES["recall"][0]
    assert [c["id"] for c in file.cases] == [case_id]
    assert file.measures["recall"] == 1 and file.violations_3y == 1
    assert file.actions_completed == len(store.get_case(db, case_id).measures)
    kinds = [e["kind"] for e in reversed(file.entries)]
    assert kinds[:2] == ["disposal", "violation"] and kinds.count("action_completed") >= 1


def test_a_signal_naming_the_enterprise_only_by_name_finds_its_file(settings, db, roster):
    first_case(settings, db, "recall")
    data = archetypes("by-name")["labelling_defect"].signal.model_dump(mode="json")
    data["enterprise"] = {"name": "宁波甲玩具（浙江）有限公司", "credit_code": ""}
    case_id = open_case(db, parse_signal(data), actor="staff:test", lang="zh").case_id
    done = advance_with_people(settings, db, case_id)
    assert done.gate in ("panel", "assessment", "lab_test")
    assert store.load_dossier(db, case_id).decision("triage").facts["credit_class"] == "C"


@pytest.mark.parametrize(("violations", "overdue", "expected"), [
    ([], 0, "B"), ([], 1, "C"), ([{"measures": ["recall"]}], 0, "C"),
    ([{"measures": ["recall"]}, {"measures": ["delisting"]}], 0, "D"),
    ([{"measures": ["enforcement_referral"]}], 0, "D"),
])
def test_the_class_follows_from_the_record(violations, overdue, expected):
    assert derive_class(violations, overdue) == expected
