"""Every demo archetype through every gate, without Prefect: the same loop the flow runs.

Each report is opened and read: it must name the case, the gate, its inputs, the decision and the
reasons (fired rule ids with the rulebook version, or the scores and their aggregate).
"""

from __future__ import annotations

import hashlib

import pytest
from docx import Document

from cases import approvals, audit, lease, store
from cases.signals import LabResultIn
from cases.submissions import record_lab_results
from flows import gates
from reports.extract import docx_text
from rules.domain import domain
from rules.rulebook import current_rulebook
from tests.helpers import (
    APPROVER,
    advance_with_people,
    complete_actions,
    open_archetype,
    report_path,
    sample_signal,
    score_round,
)

GATE_TITLES_ZH = {"intake": "受理报告", "triage": "分诊报告", "lab_test": "实验评估报告",
                  "panel": "专家组报告", "assessment": "风险评估报告", "disposal": "风险处置报告",
                  "follow_up": "跟踪报告", "closure": "结案报告"}


def run_to_close(settings, db, case_id, truth, max_rounds=3):
    """Through every gate, playing the panel (and counting its rounds), the approver who
    approves the proposed disposal and the staff who complete the follow-up."""
    done = gates.advance(settings, case_id)
    rounds = 0
    while done.state in ("awaiting_scores", "awaiting_approval", "awaiting_actions"):
        if done.state == "awaiting_scores":
            rounds += 1
            assert rounds <= max_rounds
            score_round(db, case_id, truth, seed="gates")
        elif done.state == "awaiting_approval":
            approvals.decide(db, case_id, APPROVER)
        else:
            complete_actions(db, case_id)
        done = gates.advance(settings, case_id)
    return done, rounds


@pytest.mark.parametrize("key", ["toy_choking", "heater_shock", "cosmetic_banned_substance",
                                 "labelling_defect"])
def test_archetype_passes_every_gate_with_a_report_each(settings, db, roster, key):
    case_id, truth = open_archetype(db, key)
    done, _ = run_to_close(settings, db, case_id, truth)
    assert (done.state, done.gate) == ("closed", "closed")
    dossier = store.load_dossier(db, case_id)
    gates_done = dossier.completed_gates()
    assert gates_done[:2] == ["intake", "triage"]
    assert gates_done[-5:] == ["panel", "assessment", "disposal", "follow_up", "closure"]
    assert [r.gate for r in dossier.reports] == gates_done
    for record in dossier.reports:
        path = settings.home / record.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
        text = docx_text(path)
        assert GATE_TITLES_ZH[record.gate] in text
        assert case_id in text and record.template_version in text
    assert dossier.case.risk_level in ("serious", "high", "medium", "low")
    assert dossier.case.measures
    assert audit.verify(db, settings.home).ok


def test_triage_and_disposal_reports_explain_the_decision(settings, db, roster):
    case_id, truth = open_archetype(db, "toy_choking")
    run_to_close(settings, db, case_id, truth)
    dossier = store.load_dossier(db, case_id)
    triage_text = docx_text(report_path(settings, dossier, "triage"))
    triage = dossier.decision("triage")
    book = current_rulebook("triage")
    assert triage.fired[0] == "T101"
    assert "T101" in triage_text and book.by_id["T101"].title["zh"] in triage_text
    assert f"triage 1.1.0 · SHA-256 {book.sha256}" in triage_text
    # The values the rule tested: label [code] = words [value code], codes for the auditor.
    words = domain()
    assert (f"目标使用人群 [target_users] = {words.target_users.name('infants', 'zh')} [infants]; "
            f"危害类型 [hazards] = {words.hazards.name('choking', 'zh')} [choking]") in triage_text
    assert "durable-rules 2.0.28" in triage_text
    disposal_text = docx_text(report_path(settings, dossier, "disposal"))
    decision = dossier.decision("disposal")
    for rule_id in decision.fired:
        assert rule_id in disposal_text
    assert "产品召回" in disposal_text  # the measure, by name
    assert "D101" in decision.fired


def test_assessment_report_carries_scores_and_their_aggregate(settings, db, roster):
    case_id, truth = open_archetype(db, "heater_shock")  # a split panel: two Delphi rounds
    _, rounds = run_to_close(settings, db, case_id, truth)
    assert rounds == 2
    dossier = store.load_dossier(db, case_id)
    text = docx_text(report_path(settings, dossier, "assessment"))
    assert "第 1 轮评分" in text and "第 2 轮评分" in text
    assert "是否达成共识 | 否" in text and "是否达成共识 | 是" in text
    for score in dossier.scores_of(2):
        assert score.expert_id in text and score.rationale.split("\n")[0][:12] in text
    assert "肯德尔W" in text and "敏感性检验" in text
    second = dossier.round(2)
    assert second.feedback["rationales"]  # round 2 saw anonymised feedback
    assert not any(seat.expert_id in str(second.feedback) for seat in dossier.seats)


def test_out_of_scope_signal_is_closed_at_triage_with_a_referral(settings, db, roster):
    case_id, _ = open_archetype(db, "out_of_scope_food")
    done = gates.advance(settings, case_id)
    assert done.state == "closed"
    dossier = store.load_dossier(db, case_id)
    assert dossier.completed_gates() == ["intake", "triage", "closure"]
    assert dossier.decision("triage").outcome["referrals"] == ["food_safety"]
    closure = docx_text(report_path(settings, dossier, "closure"))
    assert "分诊后结案" in closure and "食品安全监管部门" in closure


def test_reports_in_english_on_request(settings, db, roster):
    case_id, truth = open_archetype(db, "labelling_defect", lang="en")
    run_to_close(settings, db, case_id, truth)
    dossier = store.load_dossier(db, case_id)
    text = docx_text(report_path(settings, dossier, "disposal"))
    assert "Risk disposal report" in text and "Hazard disclosure" in text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text.split("Case title")[0])
    core = Document(str(report_path(settings, dossier, "disposal"))).core_properties
    assert core.language == "en-US" and case_id in core.keywords


def test_a_case_without_test_evidence_waits_for_the_lab(settings, db, roster):
    signal = sample_signal(reference="lab-1")
    product = signal.product.model_copy(update={"standard": None})  # no standard → lab test
    from cases.intake import open_case

    case_id = open_case(db, signal.model_copy(update={"product": product}), actor="staff:t",
                        lang="zh").case_id
    done = gates.advance(settings, case_id)
    assert (done.state, done.gate) == ("awaiting_lab", "lab_test")
    assert not any(r.gate == "lab_test" for r in store.load_dossier(db, case_id).reports)
    claim = record_lab_results(db, case_id, [LabResultIn(item="小零件测试", result="fail")],
                               actor="lab:t")
    assert claim.claimed and claim.key == f"{case_id}:lab"
    done = gates.advance(settings, case_id)
    assert done.state == "awaiting_scores"
    text = docx_text(report_path(settings, store.load_dossier(db, case_id), "lab_test"))
    assert "小零件测试" in text and "不合格" in text


def test_advancing_a_waiting_or_closed_case_does_nothing(settings, db, roster):
    case_id, _ = open_archetype(db, "out_of_scope_food")
    gates.advance(settings, case_id)
    events = audit.verify(db, settings.home).events
    again = gates.advance(settings, case_id)
    assert again.steps == [] and again.state == "closed"
    assert audit.verify(db, settings.home).events == events


def test_a_continuation_that_finds_the_case_taken_ends_quietly(settings, db, roster):
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    holder = lease.new_owner()
    lease.acquire(db, case_id, holder)  # the first run, in its last moment
    assert score_round(db, case_id, truth)[-1].claim.claimed
    continuation = gates.advance(settings, case_id)
    assert continuation.busy and continuation.steps == [] and continuation.state == "active"
    lease.release(db, case_id, holder)
    assert advance_with_people(settings, db, case_id).state == "closed"


def test_a_claim_landing_just_before_the_lease_is_released_is_not_lost(settings, db, roster,
                                                                         monkeypatch):
    """The run has looked (awaiting scores) and is about to release its lease when the quorum
    lands; the continuation would find the lease taken. The run must notice and go on."""
    case_id, truth = open_archetype(db, "toy_choking")
    release = lease.release
    landed = []

    def quorum_then_release(db_, case, owner):
        if store.get_case(db, case).state == "awaiting_scores" and not landed:
            landed.append(score_round(db, case, truth)[-1].claim.claimed)
        release(db_, case, owner)

    monkeypatch.setattr(lease, "release", quorum_then_release)
    done = gates.advance(settings, case_id)
    assert landed == [True]
    assert done.state == "awaiting_approval" and not done.busy  # the run went on
    assert [s.gate for s in done.steps if s.completed][-1:] == ["assessment"]


def test_more_information_then_a_second_triage_round(settings, db, roster):
    from cases.intake import open_case
    from cases.submissions import add_information

    vague = sample_signal(reference="vague-1")
    vague = vague.model_copy(update={"product": vague.product.model_copy(update={"name": ""})})
    case_id = open_case(db, vague, actor="staff:t", lang="zh").case_id
    done = gates.advance(settings, case_id)
    assert (done.state, done.gate) == ("awaiting_information", "triage")
    first = store.load_dossier(db, case_id).decision("triage")
    assert "T020" in first.fired and first.outcome["request_info"] == ["product"]

    claim = add_information(db, case_id, sample_signal(reference="vague-1-more"), actor="t")
    assert claim.claimed and claim.key == f"{case_id}:triage:r2"
    done = gates.advance(settings, case_id)
    assert done.state == "awaiting_scores"
    dossier = store.load_dossier(db, case_id)
    assert [(g.gate, g.round) for g in dossier.gates][:3] == [("intake", 1), ("triage", 1),
                                                               ("triage", 2)]
    assert dossier.decision("triage").round == 2 and "T020" not in dossier.decision(
        "triage").fired
    assert [(r.gate, r.round) for r in dossier.reports][1:3] == [("triage", 1), ("triage", 2)]
    assert (settings.home / "reports" / case_id / "02-triage-r2.docx").is_file()


def test_the_assessment_report_records_every_dissent(settings, db, roster):
    """An expert's dissent (an outlier must give one from round 2 on) is printed, by expert and
    round, in the assessment report's dissent section."""
    from cases.submissions import record_score
    from experts.scoring import ScoreForm
    from experts.simulation import simulated_score

    case_id, truth = open_archetype(db, "heater_shock")  # a split panel: two Delphi rounds
    assert gates.advance(settings, case_id).state == "awaiting_scores"
    score_round(db, case_id, truth, seed="gates")
    assert gates.advance(settings, case_id).state == "awaiting_scores"  # round 2 opens
    dossier = store.load_dossier(db, case_id)
    panel = sorted(s.expert_id for s in dossier.voting_seats() if s.active)
    feedback = dossier.round(2).feedback
    dissenter = panel[0]
    for expert_id in panel:
        form = simulated_score(truth, expert_id, 2, feedback, seed="gates", panel=panel)
        if expert_id == dissenter:
            form["dissent"] = "样品外壳阻燃等级不足，我仍认为应定为严重风险"
        receipt = record_score(db, case_id, expert_id, 2,
                               ScoreForm.model_validate(form).to_record(),
                               actor=f"expert:{expert_id}")
        if receipt.claim.claimed:
            break
    gates.advance(settings, case_id)
    text = docx_text(report_path(settings, store.load_dossier(db, case_id), "assessment"))
    section = text[text.index("专家异议"):]
    assert f"{dissenter} (轮次 2)：样品外壳阻燃等级不足，我仍认为应定为严重风险" in section
