"""Golden cases: hand-written facts → the decision risk staff expect, and the rules behind it.

Each case starts from a neutral base (only the baseline rule fires) and changes a few facts.
Together the tables must make every rule of both rulebooks fire at least once.
"""

from __future__ import annotations

import pytest

from rules.decisions import decide_disposal, decide_triage
from rules.rulebook import current_rulebook

TRIAGE = current_rulebook("triage")
DISPOSAL = current_rulebook("disposal")

TRIAGE_BASE = {
    "channel": "complaint_12365", "channel_credibility": "medium", "category": "toys",
    "hazards": ["injuries"], "target_users": "general", "vulnerable_users": False,
    "injuries": 0, "severe_injuries": 0, "fatalities": 0, "child_injuries": 0,
    "has_standard": True, "imported": False, "sale_channel": "offline", "on_market": True,
    "credit_class": "B", "violations_3y": 0, "lab_evidence": "none",
    "substance_over_limit": False, "enterprise_known": True, "missing_info": [],
    "signal_count": 1, "repeat_product": 0, "repeat_enterprise": 0, "repeat_category": 0,
}
DISPOSAL_BASE = {
    **{k: v for k, v in TRIAGE_BASE.items() if k in (
        "channel", "channel_credibility", "category", "hazards", "target_users",
        "vulnerable_users", "injuries", "severe_injuries", "fatalities", "child_injuries",
        "has_standard", "imported", "sale_channel", "on_market", "credit_class",
        "violations_3y")},
    "on_market": False, "risk_level": "low", "severity": 1, "probability_band": 5,
    "level_stable": True, "consensus": True, "scope": "batch", "with_consumers": False,
    "fast_tracked": False, "panel_measures": [], "cases_category_180d": 1,
    "cases_enterprise_180d": 1, "cases_province_180d": 1, "escalation": "none",
}

# (name, changes, rules that must fire, expected outcome subset)
TRIAGE_CASES = [
    ("neutral", {}, ["T900"], {"priority": "P4", "risk": None, "next_gate": "expert_panel"}),
    ("rattle beads for a baby", {"target_users": "infants", "vulnerable_users": True,
                                 "hazards": ["choking"]},
     ["T101", "T801", "T900"], {"priority": "P1", "risk": "serious", "next_gate": "fast_track",
                                "interim_measures": ["consumer_warning"]}),
    ("hood drawstring", {"category": "children_clothing", "hazards": ["strangulation"]},
     ["T102"], {"next_gate": "fast_track", "risk": "serious"}),
    ("plastic bag on a child's toy", {"target_users": "children", "hazards": ["suffocation"]},
     ["T103"], {"next_gate": "fast_track"}),
    ("live parts, failed test", {"category": "electrical_appliances",
                                 "hazards": ["electric_shock"], "lab_evidence": "fail"},
     ["T104", "T303"], {"priority": "P1", "risk": "serious", "next_gate": "fast_track"}),
    ("live parts, sampling finding", {"channel": "supervision_sampling",
                                      "channel_credibility": "high",
                                      "hazards": ["electric_shock"]},
     ["T104", "T402"], {"next_gate": "fast_track"}),
    ("live parts, complaint only: test first", {"hazards": ["electric_shock"]},
     ["T302"], {"next_gate": "lab_test"}),
    ("mercury cream from abroad", {"channel": "foreign_regulator", "channel_credibility": "high",
                                   "category": "cosmetics", "hazards": ["chemical"],
                                   "substance_over_limit": True, "imported": True},
     ["T105", "T403", "T701"], {"next_gate": "fast_track", "priority": "P1"}),
    ("power bank fire", {"category": "batteries_chargers", "hazards": ["fire"],
                         "channel_credibility": "high", "channel": "injury_surveillance"},
     ["T106"], {"next_gate": "fast_track"}),
    ("a death", {"fatalities": 1, "injuries": 1}, ["T107", "T201"],
     {"priority": "P1", "risk": "serious", "next_gate": "fast_track"}),
    ("bath seat", {"target_users": "infants", "hazards": ["drowning"]}, ["T108"],
     {"next_gate": "fast_track"}),
    ("food", {"category": "food"}, ["T010"],
     {"next_gate": "close", "referrals": ["food_safety"], "priority": "P4"}),
    ("medicine", {"category": "drugs"}, ["T011"], {"referrals": ["drug_regulator"]}),
    ("lift", {"category": "special_equipment"}, ["T012"],
     {"referrals": ["special_equipment"], "next_gate": "close"}),
    ("food that killed", {"category": "food", "fatalities": 1, "injuries": 1},
     ["T010", "T013", "T107"], {"next_gate": "close", "priority": "P1"}),
    ("no product named", {"missing_info": ["product"]}, ["T020"],
     {"next_gate": "more_info", "request_info": ["product"]}),
    ("no hazard, no description", {"missing_info": ["hazard", "description"]}, ["T021"],
     {"next_gate": "more_info", "request_info": ["hazard", "description"]}),
    ("rumour without enterprise", {"channel": "online_opinion", "channel_credibility": "low",
                                   "missing_info": ["enterprise"], "enterprise_known": False},
     ["T022", "T401"], {"next_gate": "more_info", "priority": "P4"}),
    ("one injury", {"injuries": 1}, ["T201"], {"priority": "P3", "risk": "medium"}),
    ("hospitalised", {"injuries": 1, "severe_injuries": 1}, ["T201", "T202"],
     {"priority": "P2", "risk": "high"}),
    ("three injured", {"injuries": 3}, ["T201", "T203"], {"risk": "high"}),
    ("cluster", {"injuries": 12}, ["T204"], {"priority": "P1", "risk": "serious"}),
    ("child injured", {"injuries": 1, "child_injuries": 1}, ["T205"], {"risk": "high"}),
    ("no standard", {"has_standard": False}, ["T301"],
     {"next_gate": "lab_test", "flags": ["no_standard", "standard_revision_candidate"]}),
    ("passed yet hurt", {"lab_evidence": "pass", "injuries": 2}, ["T304"],
     {"flags": ["injury_reported", "standard_gap_suspected"]}),
    ("repeat product", {"repeat_product": 2}, ["T501"], {"priority": "P2"}),
    ("repeat enterprise", {"repeat_enterprise": 3}, ["T502"], {"priority": "P2"}),
    ("category trend", {"repeat_category": 5}, ["T503"], {"flags": ["category_trend"]}),
    ("many signals", {"signal_count": 3}, ["T504"], {"priority": "P2"}),
    ("credit D", {"credit_class": "D"}, ["T601"], {"flags": ["high_credit_risk"]}),
    ("repeat offender", {"violations_3y": 2}, ["T602"], {"flags": ["repeat_offender"]}),
    ("credit C", {"credit_class": "C"}, ["T603"],
     {"priority": "P3", "flags": ["elevated_credit_risk"]}),
    ("border", {"imported": True, "channel": "port_inspection", "channel_credibility": "high",
                "on_market": False}, ["T702", "T402"], {"priority": "P2"}),
    ("label only", {"hazards": ["labelling"]}, ["T802"], {"risk": "low", "priority": "P4"}),
    ("sold online", {"sale_channel": "online"}, ["T803"], {"flags": ["online_sale"]}),
]

DISPOSAL_CASES = [
    ("low, neutral", {}, ["D303", "D900"],
     {"measures": ["hazard_disclosure"], "notify": ["credit"]}),
    ("serious, sold and on sale online from abroad",
     {"risk_level": "serious", "with_consumers": True, "on_market": True,
      "sale_channel": "online", "imported": True},
     ["D101", "D102", "D103", "D504"],
     {"measures": ["recall", "delisting", "market_access", "consumer_warning"],
      "notify": ["customs", "ecommerce_platform", "credit"]}),
    ("serious, still at the border", {"risk_level": "serious"}, ["D104"],
     {"measures": ["market_access"]}),
    ("high on sale", {"risk_level": "high", "on_market": True}, ["D201"],
     {"measures": ["delisting"]}),
    ("high with consumers", {"risk_level": "high", "with_consumers": True}, ["D202"],
     {"measures": ["consumer_warning"]}),
    ("high for children", {"risk_level": "high", "with_consumers": True,
                           "vulnerable_users": True}, ["D202", "D203"],
     {"measures": ["recall", "consumer_warning"]}),
    ("medium", {"risk_level": "medium"}, ["D301"], {"measures": ["hazard_disclosure"]}),
    ("medium for children", {"risk_level": "medium", "vulnerable_users": True,
                             "with_consumers": True}, ["D301", "D302"],
     {"measures": ["consumer_warning", "hazard_disclosure"]}),
    ("panel wants recall", {"risk_level": "high", "panel_measures": ["recall"]}, ["D401"],
     {"measures": ["recall"]}),
    ("panel wants recall at low risk", {"panel_measures": ["recall"]}, ["D303"],
     {"measures": ["hazard_disclosure"]}),
    ("panel wants a warning", {"panel_measures": ["consumer_warning"]}, ["D402"],
     {"measures": ["consumer_warning", "hazard_disclosure"]}),
    ("panel wants a standard", {"panel_measures": ["standard_revision"]}, ["D403"],
     {"notify": ["standards", "credit"]}),
    ("no standard", {"risk_level": "medium", "has_standard": False}, ["D501"],
     {"measures": ["hazard_disclosure", "standard_revision"]}),
    ("repeat offender", {"risk_level": "high", "violations_3y": 2}, ["D502"],
     {"notify": ["enforcement", "credit"]}),
    ("credit D", {"risk_level": "serious", "credit_class": "D"}, ["D503"],
     {"measures": ["market_access", "enforcement_referral"]}),
    ("imported, high", {"risk_level": "high", "imported": True}, ["D505"],
     {"measures": ["market_access"]}),
    ("category escalation", {"cases_category_180d": 5}, ["D601", "D605"],
     {"measures": ["consumer_warning", "hazard_disclosure", "industry_rectification"],
      "flags": ["escalation_category"]}),
    ("province escalation", {"cases_province_180d": 3}, ["D602"],
     {"flags": ["escalation_province"]}),
    ("enterprise escalation", {"cases_enterprise_180d": 3}, ["D603"],
     {"measures": ["hazard_disclosure", "enforcement_referral"]}),
    ("industry-wide source", {"scope": "industry"}, ["D604"],
     {"measures": ["hazard_disclosure", "industry_rectification"]}),
    ("phase out", {"risk_level": "serious", "scope": "industry", "cases_category_180d": 10},
     ["D606", "D607", "D604", "D601"],
     {"measures": ["forced_elimination", "market_access", "industry_rectification",
                   "standard_revision"]}),
    ("escalation across an industry", {"escalation": "industry"}, ["D608", "D303"],
     {"measures": ["hazard_disclosure", "industry_rectification"],
      "notify": ["industry_department", "credit"], "flags": ["escalation_case"]}),
    ("escalation across a province", {"risk_level": "high", "on_market": True,
                                      "escalation": "province"}, ["D201", "D608"],
     {"measures": ["delisting", "industry_rectification"]}),
    ("escalation across a category", {"risk_level": "medium", "escalation": "category"},
     ["D301", "D609"], {"measures": ["hazard_disclosure", "standard_revision"],
                        "notify": ["standards", "credit"], "flags": ["escalation_case"]}),
    ("no escalation, no escalation measures", {"escalation": "none", "risk_level": "medium"},
     ["D301"], {"measures": ["hazard_disclosure"], "flags": []}),
    ("no consensus", {"consensus": False}, ["D701"], {"flags": ["unsettled_risk"]}),
    ("on a boundary", {"risk_level": "high", "level_stable": False}, ["D702"],
     {"measures": ["risk_alert"]}),
    ("fast-tracked and confirmed", {"risk_level": "serious", "fast_tracked": True,
                                    "with_consumers": True}, ["D703", "D101"],
     {"measures": ["recall", "consumer_warning"]}),
]


def _outcome(decision) -> dict:
    data = decision.outcome()
    if "measures" in data:
        data["measures"] = [m["code"] for m in data["measures"]]
    return data


def _check(decision, must_fire: list[str], expected: dict) -> None:
    assert set(must_fire) <= set(decision.fired), decision.fired
    outcome = _outcome(decision)
    for key, value in expected.items():
        if key == "flags":  # flags: the listed ones at least
            assert set(value) <= set(outcome["flags"]), outcome["flags"]
        else:
            assert outcome[key] == value, (key, outcome)


@pytest.mark.parametrize(("name", "changes", "must_fire", "expected"), TRIAGE_CASES,
                         ids=[c[0] for c in TRIAGE_CASES])
def test_triage_golden(name, changes, must_fire, expected):
    _check(decide_triage(TRIAGE, {**TRIAGE_BASE, **changes}), must_fire, expected)


@pytest.mark.parametrize(("name", "changes", "must_fire", "expected"), DISPOSAL_CASES,
                         ids=[c[0] for c in DISPOSAL_CASES])
def test_disposal_golden(name, changes, must_fire, expected):
    _check(decide_disposal(DISPOSAL, {**DISPOSAL_BASE, **changes}), must_fire, expected)


def test_the_golden_tables_cover_every_rule():
    covered = {rule for _, _, fired, _ in TRIAGE_CASES + DISPOSAL_CASES for rule in fired}
    every = {r.id for r in TRIAGE.rules} | {r.id for r in DISPOSAL.rules}
    assert every - covered == set()


def test_measures_are_ranked_by_protectiveness_with_their_reasons():
    decision = decide_disposal(DISPOSAL, {**DISPOSAL_BASE, "risk_level": "serious",
                                          "with_consumers": True, "fast_tracked": True,
                                          "panel_measures": ["recall"]})
    assert [(m.code, m.reasons) for m in decision.measures] == [
        ("recall", ["D101", "D401"]), ("consumer_warning", ["D101", "D703"])]
    assert [m.rank for m in decision.measures] == sorted(m.rank for m in decision.measures)


def test_the_trail_records_the_tested_values_in_firing_order():
    decision = decide_triage(TRIAGE, {**TRIAGE_BASE, "target_users": "infants",
                                      "vulnerable_users": True, "hazards": ["choking"],
                                      "sale_channel": "online"})
    trail = [(f.order, f.rule_id, f.priority, f.matched) for f in decision.trail]
    assert trail == [
        (1, "T101", 100, {"target_users": "infants", "hazards": ["choking"]}),
        (2, "T801", 800, {"vulnerable_users": True, "hazards": ["choking"]}),
        (3, "T803", 860, {"sale_channel": "online"}),
        (4, "T900", 900, {}),
    ]
    assert decision.rulebook == TRIAGE.ref()
