"""Four-eyes disposal: the rulebook proposes and the case waits; an approver who did not open
the case approves or overrides with a justification; the decision, the proposal and the
difference are recorded and the disposal report shows both; an approval left open past its
deadline is escalated once, on the console and by mail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from cases import accounts, approvals, audit, outbox, store
from cases.accounts import Person
from cases.errors import InvalidInput, WrongState
from cases.models import AuditEvent, MailMessage
from flows import gates
from flows.sweep import sweep_once
from reports.extract import docx_text
from tests.helpers import APPROVER, open_archetype, report_path, score_round

OPENER = Person("test", frozenset({"staff", "approver"}))  # open_archetype opens as staff:test


@pytest.fixture
def proposed(settings, db, roster):
    """The toy case through its panel: the rulebook's disposal waits for approval."""
    case_id, truth = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    score_round(db, case_id, truth)
    done = gates.advance(settings, case_id)
    assert (done.gate, done.state) == ("disposal", "awaiting_approval")
    return case_id


def proposal(db, case_id):
    return [m["code"] for m in approvals.get_review(db, case_id).proposal["measures"]]


def test_the_disposal_gate_proposes_and_waits_with_the_rule_decision_recorded(db, proposed):
    review = approvals.get_review(db, proposed)
    assert review.status == "pending" and proposal(db, proposed)[0] == "recall"
    assert all(m["reasons"] for m in review.proposal["measures"])
    dossier = store.load_dossier(db, proposed)
    assert dossier.gate_record("disposal") is None  # the gate is not complete yet
    assert dossier.decision("disposal").outcome["measures"][0]["code"] == "recall"
    assert review.deadline_at - review.proposed_at == timedelta(hours=24)  # P1


@pytest.mark.parametrize(("who", "message"), [
    (OPENER, "four-eyes: test opened case"),
    (Person("clerk", frozenset({"staff", "auditor"})), "needs the role approver"),
])
def test_the_opener_and_a_person_without_the_role_are_refused(settings, db, proposed, who,
                                                             message):
    events = audit.verify(db, settings.home).events
    with pytest.raises(accounts.Refused, match=message):
        approvals.decide(db, proposed, who)
    assert approvals.get_review(db, proposed).status == "pending"
    assert audit.verify(db, settings.home).events == events


@pytest.mark.parametrize(("measures", "justification", "message"), [
    (["recall"], "", "justification: an override needs a written justification"),
    (["recall"], "too short", "at least 10 characters"),
    (["recall", "teleport"], "the product is unsafe", "unknown measure 'teleport'"),
    (["recall", "recall"], "the product is unsafe", "recall is given twice"),
    ([], "the product is unsafe", "at least one measure"),
])
def test_an_override_without_justification_or_with_bad_measures_is_refused(
        db, proposed, measures, justification, message):
    with pytest.raises(InvalidInput, match=message):
        approvals.decide(db, proposed, APPROVER, measures=measures,
                         justification=justification)
    assert approvals.get_review(db, proposed).status == "pending"
    assert store.get_case(db, proposed).state == "awaiting_approval"


def test_an_override_that_changes_nothing_is_refused(db, proposed):
    with pytest.raises(InvalidInput, match="approve it instead"):
        approvals.decide(db, proposed, APPROVER, measures=proposal(db, proposed),
                         justification="the same measures again")


def test_an_override_records_proposal_decision_and_difference_and_continues_once(
        settings, db, proposed):
    proposed_measures = proposal(db, proposed)
    chosen = ["consumer_warning", "recall", "hazard_disclosure"]
    decided = approvals.decide(db, proposed, APPROVER, measures=chosen,
                               justification="警示先行；说明书同时整改")
    assert decided.claim.claimed and decided.status == "overridden"
    assert decided.difference == {
        "added": ["hazard_disclosure"],
        "removed": [m for m in proposed_measures if m not in chosen],
        "reordered": True}
    assert [o.key for o in outbox.of_case(db, proposed)][-1] == f"{proposed}:disposal:decided"
    with pytest.raises(WrongState, match="not waiting for a disposal decision"):
        approvals.decide(db, proposed, Person("other", frozenset({"approver"})))
    done = gates.advance(settings, proposed)
    assert (done.gate, done.state) == ("follow_up", "awaiting_actions")
    dossier = store.load_dossier(db, proposed)
    assert dossier.case.measures == chosen
    record = dossier.gate_record("disposal")
    assert record.outcome["approval"]["by"] == "user:approver"
    assert [m["code"] for m in record.outcome["proposal"]["measures"]] == proposed_measures
    text = docx_text(report_path(settings, dossier, "disposal"))
    assert "规则建议的处置措施" in text and "调整后批准" in text
    assert "警示先行；说明书同时整改" in text and "审批人增加" in text
    with db.read_session() as session:
        event = session.exec(select(AuditEvent).where(
            AuditEvent.action == "disposal.overridden")).one()
    assert event.actor == "user:approver" and event.detail["added"] == ["hazard_disclosure"]
    assert audit.verify(db, settings.home).ok


def test_an_approval_records_the_proposal_as_decided(settings, db, proposed):
    approvals.decide(db, proposed, APPROVER, justification="同意")
    gates.advance(settings, proposed)
    dossier = store.load_dossier(db, proposed)
    assert dossier.case.measures == proposal(db, proposed)
    assert dossier.gate_record("disposal").outcome["approval"]["difference"] == {
        "added": [], "removed": [], "reordered": False}
    assert "按建议批准" in docx_text(report_path(settings, dossier, "disposal"))


def test_an_overdue_approval_is_escalated_once_by_mail_to_approvers(settings, db, proposed):
    accounts.add(db, "zhao", ["approver"], by="local:root", password=None,
                 email="zhao@centre.example")
    accounts.add(db, "qian", ["staff"], by="local:root", password=None,
                 email="qian@centre.example")
    review = approvals.get_review(db, proposed)
    early = sweep_once(settings, start=lambda *_: None, states_of=lambda _: {},
                       now=review.deadline_at - timedelta(minutes=1))
    assert early.approvals_escalated == []
    late = review.deadline_at + timedelta(minutes=1)
    swept = sweep_once(settings, start=lambda *_: None, states_of=lambda _: {}, now=late)
    assert swept.approvals_escalated == [proposed]
    again = sweep_once(settings, start=lambda *_: None, states_of=lambda _: {}, now=late)
    assert again.approvals_escalated == []
    with db.read_session() as session:
        mails = session.exec(select(MailMessage).where(
            MailMessage.kind == "approval_overdue")).all()
    assert [m.to_addr for m in mails] == ["zhao@centre.example"]
    assert proposed in mails[0].subject and mails[0].sent_at is not None
    assert approvals.pending(db)[0].escalated
    assert audit.verify(db, settings.home).ok
