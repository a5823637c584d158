"""The mail outbox: every message is stored first, in the transaction that decided to send it,
and delivered after — by whoever wrote it, then by the sweeper — so a failing SMTP server
delays mail and loses none.

Delivery goes to the SMTP server configured by `RISKGATE_SMTP_*` (cases/config.py), or, with
none set, to `.eml` files under the data directory (`mail/`), so the demo works offline and a
person can open what the experts were sent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

from sqlalchemy import update
from sqlmodel import Session, col, select

from cases.config import Settings
from cases.db import Database
from cases.models import MailMessage, utcnow

SMTP_TIMEOUT = 10.0
MAX_ATTEMPTS = 50  # then it waits for a person (it stays in the outbox, unsent)
MAX_ERROR = 300


def queue(session: Session, *, to: str, subject: str, body: str, kind: str,
          case_id: str | None = None, expert_id: str | None = None) -> MailMessage:
    """Store a message in the caller's transaction; it is sent once that transaction
    commits (`deliver`)."""
    message = MailMessage(to_addr=to, subject=subject, body=body, kind=kind, case_id=case_id,
                          expert_id=expert_id, created_at=utcnow(), attempts=0, last_error="")
    session.add(message)
    session.flush()
    return message


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    user: str
    password: str
    starttls: bool

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message)


@dataclass(frozen=True)
class FileTransport:
    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{message['X-RiskGate-Mail']}-{message['X-RiskGate-Kind']}.eml"
        staged = self.folder / f".{name}"
        staged.write_bytes(bytes(message))
        staged.replace(self.folder / name)


def transport(settings: Settings) -> Transport:
    smtp = settings.smtp
    if smtp.host:
        return SmtpTransport(smtp.host, smtp.port, smtp.user, smtp.password, smtp.starttls)
    return FileTransport(settings.mail_dir)


def as_email(row: MailMessage, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="riskgate")
    message["X-RiskGate-Mail"] = str(row.id)
    message["X-RiskGate-Kind"] = row.kind
    message.set_content(row.body)
    return message


@dataclass(frozen=True)
class Delivered:
    sent: int
    failed: int


def deliver(db: Database, settings: Settings, *, via: Transport | None = None,
            limit: int = 200) -> Delivered:
    """Send what the outbox holds, oldest first; a failure is counted on the message and
    retried by the next delivery (the sweeper runs one every sweep)."""
    target = via or transport(settings)
    with db.read_session() as session:
        rows = list(session.exec(select(MailMessage).where(
            col(MailMessage.sent_at).is_(None), MailMessage.attempts < MAX_ATTEMPTS)
            .order_by(col(MailMessage.id)).limit(limit)).all())
    sent = failed = 0
    for row in rows:
        try:
            target.send(as_email(row, settings.smtp.sender))
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            with db.session() as session:
                session.exec(update(MailMessage).where(col(MailMessage.id) == row.id).values(
                    attempts=MailMessage.attempts + 1,
                    last_error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR]))
            continue
        sent += 1
        with db.session() as session:
            session.exec(update(MailMessage).where(col(MailMessage.id) == row.id)
                         .values(sent_at=utcnow(), attempts=MailMessage.attempts + 1,
                                 last_error=""))
    return Delivered(sent, failed)
