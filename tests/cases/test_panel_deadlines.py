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
from cases.errors import WrongState
from cases.models import MailMessage, PanelSeat
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
