"""Deadlines with a controllable clock (the sweeper's duties: reminders once, reserves after the
deadline, the staff wait when the quorum is out of reach), and mail through a real SMTP server
(aiosmtpd) that may be down: mail is delayed, never lost, never sent twice."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from cases import audit, mail, panel_changes, store
from cases.config import load_settings
from cases.errors import InvalidInput, WrongState
from cases.models import MailMessage, PanelSeat
from experts.panel import ExpertProfile
from flows import gates
from flows.sweep import sweep_once
from tests.helpers import archetypes, open_archetype, score_round


def no_prefect(settings, owed):
    raise AssertionError(f"nothing should be started here ({owed.key})")


@pytest.fixture
def waiting(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    assert gates.advance(settings, case_id).state == "awaiting_scores"
    return case_id


def deadline_of(db, case_id):
    dossier = store.load_dossier(db, case_id)
    return dossier.round(dossier.case.scoring_round).deadline_at


def mails(db, case_id, kind):
    with db.read_session() as session:
        return list(session.exec(select(MailMessage).where(
            MailMessage.case_id == case_id, MailMessage.kind == kind)).all())


def active_seats(db, case_id):
    with db.read_session() as session:
        rows = session.exec(select(PanelSeat).where(PanelSeat.case_id == case_id)).all()
    return {s.expert_id: s for s in rows if s.active}


def score_some(db, case_id, count):
    """`count` voting experts score round 1 (fewer than the quorum leaves it open)."""
    truth = archetypes()["toy_choking"].truth
    return [r.expert_id for r in score_round(db, case_id, truth, limit=count)]


def score_as(db, case_id, experts, truth):
    """These experts score the open round through the store, as the form would."""
    from cases.submissions import record_score
    from experts.scoring import ScoreForm
    from experts.simulation import simulated_score

    dossier = store.load_dossier(db, case_id)
    round_no = dossier.case.scoring_round
    for expert_id in experts:
        form = ScoreForm.model_validate(simulated_score(truth, expert_id, round_no, None,
                                                        seed="test"))
        record_score(db, case_id, expert_id, round_no, form.to_record(),
                     actor=f"expert:{expert_id}")


def test_a_reminder_goes_out_once_before_the_deadline(settings, db, waiting):
    case_id = waiting
    deadline = deadline_of(db, case_id)
    assert deadline is not None
    early = sweep_once(settings, start=no_prefect, states_of=dict, now=deadline - timedelta(
        days=3))
    assert early.reminded == []
    near = deadline - timedelta(hours=47)
    first = sweep_once(settings, start=no_prefect, states_of=dict, now=near)
    assert len(first.reminded) == 5 and first.mail_sent >= 5
    again = sweep_once(settings, start=no_prefect, states_of=dict, now=near + timedelta(hours=1))
    assert again.reminded == [] and len(mails(db, case_id, "reminder")) == 5
    assert audit.verify(db, settings.home).ok


def test_after_the_deadline_non_responders_leave_and_reserves_are_called_with_a_fresh_deadline(
        settings, db, waiting):
    case_id = waiting
    scored = score_some(db, case_id, 3)
    deadline = deadline_of(db, case_id)
    reserves = [e for e, s in active_seats(db, case_id).items() if s.role == "reserve"]
    late = deadline + timedelta(minutes=1)
    swept = sweep_once(settings, start=no_prefect, states_of=dict, now=late)
    assert len(swept.replaced) == 2 and sorted(e.split(":")[1] for e in swept.reserves_called) \
        == sorted(reserves)
    seats = active_seats(db, case_id)
    assert all(seats[e].role == "member" and seats[e].deadline_at == late + timedelta(days=7)
               for e in reserves)
    assert set(seats) == set(scored) | set(reserves)
    assert sorted(m.expert_id for m in mails(db, case_id, "reserve_called")) == sorted(reserves)
    assert store.get_case(db, case_id).state == "awaiting_scores"
    assert audit.verify(db, settings.home).ok


def test_when_the_quorum_is_out_of_reach_the_case_waits_for_staff_with_the_reason(
        settings, db, waiting):
    case_id = waiting
    score_some(db, case_id, 3)
    with pytest.raises(WrongState, match="is not waiting for its panel"):
        panel_changes.extend_round(db, settings, case_id, days=3, by="staff:t")
    deadline = deadline_of(db, case_id)
    sweep_once(settings, start=no_prefect, states_of=dict, now=deadline + timedelta(minutes=1))
    # the reserves do not answer either: no one is left to reach the quorum of 4
    swept = sweep_once(settings, start=no_prefect, states_of=dict,
                       now=deadline + timedelta(days=8))
    assert swept.quorum_lost == [case_id]
    case = store.get_case(db, case_id)
    assert (case.gate, case.state) == ("assessment", "awaiting_panel")
    assert "can no longer reach its quorum of 4: 3 scores in" in case.waiting_reason
    # staff give the round more time: it waits for scores again, with a new deadline
    panel_changes.extend_round(db, settings, case_id, days=5, by="staff:t")
    assert store.get_case(db, case_id).state == "awaiting_scores"
    assert audit.verify(db, settings.home).ok


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def test_mail_goes_through_smtp_and_a_server_that_is_down_delays_it_without_losing_any(
        settings, db, waiting, monkeypatch):
    case_id = waiting
    port = free_port()
    monkeypatch.setenv("RISKGATE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("RISKGATE_SMTP_PORT", str(port))
    monkeypatch.setenv("RISKGATE_SMTP_STARTTLS", "off")
    smtp_settings = load_settings()
    queued = len(mails(db, case_id, "seated"))
    assert queued == 5  # the seated panel's invitations wait in the outbox
    down = mail.deliver(db, smtp_settings)  # nobody listens on the port yet
    assert (down.sent, down.failed) == (0, 5)
    with db.read_session() as session:
        rows = session.exec(select(MailMessage)).all()
    assert all(r.sent_at is None and r.attempts == 1 and "Connection" in r.last_error
               for r in rows)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        up = mail.deliver(db, smtp_settings)
        again = mail.deliver(db, smtp_settings)
    finally:
        controller.stop()
    assert (up.sent, up.failed, again.sent) == (5, 0, 0)
    assert len(inbox.messages) == 5
    first = message_from_bytes(inbox.messages[0].content, policy=policy.default)
    assert first["Subject"].startswith("【风险评估邀请】") and case_id in first["Subject"]
    assert f"{settings.public_url}/e/" in first.get_content()


def test_the_assessment_report_shows_the_panel_changes_and_the_deadlines(settings, db, waiting):
    """A conflict declared, reminders, a seat lost at the deadline and the reserves called in:
    each is in the assessment report with its time, as the audit log records it."""
    from reports.extract import docx_text
    from tests.helpers import report_path

    case_id = waiting
    seats = active_seats(db, case_id)
    voters = sorted(e for e, s in seats.items() if s.role in ("chair", "member"))
    leaving = voters[-1]
    panel_changes.declare_conflict(db, settings, case_id, leaving,
                                   "我曾为涉事企业提供技术咨询")
    called = next(e for e, s in active_seats(db, case_id).items() if s.called_at)
    deadline = deadline_of(db, case_id)
    sweep_once(settings, start=no_prefect, states_of=dict, now=deadline - timedelta(hours=47))
    truth = archetypes()["toy_choking"].truth
    staying = [e for e in voters if e != leaving][:3]
    score_as(db, case_id, staying, truth)  # one original member and the reserve do not
    swept = sweep_once(settings, start=no_prefect, states_of=dict,
                       now=deadline + timedelta(minutes=1))
    assert called in {r.split(":")[1] for r in swept.replaced} and swept.quorum_lost
    # the roster has no one left for toys; staff import an expert, then seat from the roster
    with pytest.raises(InvalidInput, match="needs 1 more expert"):
        panel_changes.seat_more(db, settings, case_id, by="staff:t")
    store.upsert_experts(db, [ExpertProfile(
        id="N001", name="新专家", affiliation="新城质检院", seniority=11, categories=("toys",),
        hazards=("choking",), email="n001@xincheng.example")], actor="staff:t")
    taken = set(seats) | {called}
    change = panel_changes.seat_more(db, settings, case_id, by="staff:t",
                                     now=deadline + timedelta(hours=1))
    assert change.called == ["N001"] and "N001" not in taken
    assert store.get_case(db, case_id).state == "awaiting_scores"
    assert "N001" in {m.expert_id for m in mails(db, case_id, "seated")}
    done = None
    for _ in range(4):  # the new member scores; further rounds if the panel splits
        score_round(db, case_id, truth)
        done = gates.advance(settings, case_id)
        if done.state != "awaiting_scores":
            break
    assert done is not None and store.get_case(db, case_id).gate != "assessment"
    dossier = store.load_dossier(db, case_id)
    text = docx_text(report_path(settings, dossier, "assessment"))
    assert "评分轮次与期限" in text and "专家组席位" in text
    assert f"专家申报利益冲突并离席：我曾为涉事企业提供技术咨询 | {leaving}" in text
    assert text.count("截止前提醒 |") >= 4  # everyone who had not scored, once
    assert "期限届满未评分，离席" in text and "递补候补专家" in text
    assert "riskgate sweeper" in text
    first = dossier.round(1)
    from reports.templating import format_datetime
    assert f"1 | {format_datetime(first.opened_at)} | {format_datetime(first.deadline_at)}" \
        in text
    assert "申报利益冲突离席：我曾为涉事企业提供技术咨询" in text
    assert "第 1 轮期限届满未评分，离席" in text
    assert f"工作人员从专家库增补专家 | {change.called[0]}" in text and "staff:t" in text
    assert "无法达到法定人数，转交工作人员" in text
    assert audit.verify(db, settings.home).ok


def test_staff_cannot_seat_more_than_the_roster_allows_and_nothing_changes(settings, db,
                                                                            waiting):
    case_id = waiting
    with pytest.raises(WrongState, match="is not waiting for its panel"):
        panel_changes.seat_more(db, settings, case_id, by="staff:t")
    score_some(db, case_id, 1)
    deadline = deadline_of(db, case_id)
    sweep_once(settings, start=no_prefect, states_of=dict, now=deadline + timedelta(days=30))
    assert store.get_case(db, case_id).state == "awaiting_panel"
    with db.session() as session:  # everyone else on the roster is now unavailable
        from cases.models import Expert
        for e in session.exec(select(Expert)).all():
            e.active = False
            session.add(e)
    before = active_seats(db, case_id)
    with pytest.raises(InvalidInput,
                       match=r"needs 2 more expert\(s\) for its quorum of 4, but only 0"):
        panel_changes.seat_more(db, settings, case_id, by="staff:t")
    assert active_seats(db, case_id).keys() == before.keys()
    assert store.get_case(db, case_id).state == "awaiting_panel"
