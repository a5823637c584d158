"""Follow-up to completion: one tracked action per measure with a lead department and a due
date by priority; progress recorded and checked per measure; the last action completed (or
staff closing with a reason) moves the case to closure; overdue actions are flagged once;
departments named by the disposal get a notice, recorded as sent; the closure report lists
every action and its outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from cases import actions, approvals, audit, mail, store
from cases.accounts import Person, Refused
from cases.errors import FieldErrors, WrongState
from cases.models import MailMessage, utcnow
from cases.models_oversight import CreditEntry
from flows import gates
from flows.sweep import sweep_once
from reports.extract import docx_text
from tests.helpers import (
    APPROVER,
    FOLLOWER,
    complete_actions,
    open_archetype,
    report_path,
    score_round,
)


@pytest.fixture
def tracking(settings, db, roster):
    """The toy case approved as proposed: its actions are tracked."""
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    score_round(db, case_id, truth)
    gates.advance(settings, case_id)
    approvals.decide(db, case_id, APPROVER)
    done = gates.advance(settings, case_id)
    assert (done.gate, done.state) == ("follow_up", "awaiting_actions")
    return case_id


def update(db, case_id, number, **data):
    return actions.update_action(db, case_id, number, FOLLOWER,
                                 actions.parse_update({"status": "in_progress", **data}))


def test_each_measure_is_an_action_due_by_the_priority_and_departments_are_notified(
        settings, db, tracking):
    tracked = actions.list_actions(db, tracking)
    measures = store.get_case(db, tracking).measures
    disposal = store.load_dossier(db, tracking).gate_record("disposal")
    assert [a.measure for a in tracked] == measures and measures[0] == "recall"
    assert {a.status for a in tracked} == {"open"}
    assert {a.due_on for a in tracked} == {actions.today() + timedelta(days=3)}  # P1
    assert tracked[0].lead.startswith("企业实施召回")
    with db.read_session() as session:
        notices = session.exec(select(MailMessage).where(
            MailMessage.kind == "department_notice")).all()
    assert len(notices) == len(disposal.outcome["notify"]) > 0
    assert all(tracking in m.subject and "召回" in m.body for m in notices)
    sweep_once(settings, start=lambda *_: None, states_of=lambda _: {})
    with db.read_session() as session:
        assert all(m.sent_at for m in session.exec(select(MailMessage).where(
            MailMessage.kind == "department_notice")).all())


@pytest.mark.parametrize(("data", "field", "code"), [
    ({"status": "completed", "progress": {"units_affected": "1200"}, "outcome": "done"},
     "progress.units_recovered", "progress_needed"),
    ({"status": "completed", "progress": {"units_affected": "10", "units_recovered": "12"},
      "outcome": "done"}, "progress.units_recovered", "recovered_over_affected"),
    ({"status": "completed", "progress": {"units_affected": "10", "units_recovered": "9"}},
     "outcome", "outcome_needed"),
    ({"status": "in_progress", "progress": {"units_affected": "ten"}},
     "progress.units_affected", "count"),
    ({"status": "in_progress", "progress": {"units_affected": "-1"}},
     "progress.units_affected", "count"),
    ({"status": "in_progress", "progress": {"listings_removed": "3"}},
     "progress.listings_removed", "progress_unknown"),
])
def test_progress_is_checked_per_measure_and_nothing_is_stored_on_refusal(
        db, tracking, data, field, code):
    before = actions.list_actions(db, tracking)[0]
    with pytest.raises(FieldErrors) as refused:
        actions.update_action(db, tracking, 1, FOLLOWER, actions.parse_update(data))
    assert refused.value.errors[field][0] == code
    after = actions.list_actions(db, tracking)[0]
    assert (after.status, after.details, after.outcome) == (before.status, before.details, "")


def test_a_bad_status_or_date_is_refused_by_name(db, tracking):
    with pytest.raises(FieldErrors) as refused:
        actions.parse_update({"status": "done"})
    assert "status" in refused.value.errors
    number = next(a.number for a in actions.list_actions(db, tracking)
                  if a.measure == "consumer_warning")
    with pytest.raises(FieldErrors) as bad_date:
        update(db, tracking, number, progress={"published_on": "2026-13-40"})
    assert bad_date.value.errors["progress.published_on"][0] == "date"


def test_progress_accumulates_and_the_last_completion_continues_the_case(settings, db,
                                                                         tracking):
    first = update(db, tracking, 1, progress={"units_affected": "1200"},
                   note="召回公告已发布")
    assert first.claim is None and first.action.details == {"units_affected": 1200}
    done = update(db, tracking, 1, progress={"units_recovered": "900"})
    assert done.action.details == {"units_affected": 1200, "units_recovered": 900}
    assert done.action.note == "召回公告已发布"
    with pytest.raises(Refused, match="needs the role staff"):
        actions.update_action(db, tracking, 1, Person("aud", frozenset({"auditor"})),
                              actions.parse_update({"status": "in_progress"}))
    claim = complete_actions(db, tracking)
    assert claim is not None and claim.claimed
    assert store.get_case(db, tracking).state == "active"
    with pytest.raises(WrongState):
        actions.update_action(db, tracking, 1, FOLLOWER,
                              actions.parse_update({"status": "in_progress"}))
    mail.deliver(db, settings)  # the sweeper (or the console, after a post) sends the notices
    closed = gates.advance(settings, tracking)
    assert closed.state == "closed"
    dossier = store.load_dossier(db, tracking)
    follow_up = docx_text(report_path(settings, dossier, "follow_up"))
    closure = docx_text(report_path(settings, dossier, "closure"))
    for text in (follow_up, closure):
        assert "已召回数量" in text or "演示：已按期办结" in text
        assert "产品召回" in text
    assert "全部跟踪事项均已办结" in follow_up and "已发送" in follow_up
    with db.read_session() as session:
        kinds = [e.kind for e in session.exec(select(CreditEntry).where(
            CreditEntry.case_id == tracking)).all()]
    assert kinds.count("action_completed") == len(dossier.case.measures)
    assert audit.verify(db, settings.home).ok


def test_staff_close_the_follow_up_with_a_reason_and_open_actions_are_withdrawn(
        settings, db, tracking):
    complete_number = 1
    actions.update_action(db, tracking, complete_number, FOLLOWER, actions.parse_update({
        "status": "completed", "progress": {"units_affected": "10", "units_recovered": "10"},
        "outcome": "全部召回"}))
    with pytest.raises(FieldErrors) as short:
        actions.close_follow_up(db, tracking, FOLLOWER, "too short")
    assert short.value.errors["reason"][0] == "reason_short"
    claim = actions.close_follow_up(db, tracking, FOLLOWER,
                                    "企业已注销，其余事项无法继续办理，转入执法程序")
    assert claim.claimed
    statuses = {a.number: (a.status, a.outcome) for a in actions.list_actions(db, tracking)}
    assert statuses[1] == ("completed", "全部召回")
    assert all(s == "withdrawn" and "企业已注销" in o for n, (s, o) in statuses.items()
               if n != 1)
    assert gates.advance(settings, tracking).state == "closed"
    dossier = store.load_dossier(db, tracking)
    assert dossier.gate_record("follow_up").outcome["closed_by_staff"]["by"] == \
        "user:follower"
    closure = docx_text(report_path(settings, dossier, "closure"))
    assert "工作人员结束跟踪" in closure and "已撤销" in closure
    assert audit.verify(db, settings.home).ok


def test_an_overdue_action_is_flagged_once_and_written_to_the_credit_file(settings, db,
                                                                          tracking):
    due = actions.list_actions(db, tracking)[0].due_on
    late = utcnow() + (due - actions.today()) + timedelta(days=2)
    first = sweep_once(settings, start=lambda *_: None, states_of=lambda _: {}, now=late)
    assert len(first.actions_overdue) == len(actions.list_actions(db, tracking))
    again = sweep_once(settings, start=lambda *_: None, states_of=lambda _: {}, now=late)
    assert again.actions_overdue == []
    with db.read_session() as session:
        overdue = session.exec(select(CreditEntry).where(
            CreditEntry.kind == "action_overdue")).all()
    assert len(overdue) == len(first.actions_overdue)
    assert all(a.overdue_at is not None for a in actions.list_actions(db, tracking))
    assert audit.verify(db, settings.home).ok
