"""Browser sessions: a random token in an HttpOnly cookie; the store keeps only its SHA-256,
with who it is, its CSRF token, its language and when it ends."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from cases.db import Database
from cases.models import WebSession, utcnow

SESSION_HOURS = 12


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    kind: str  # expert | account
    subject: str
    csrf: str
    lang: str
    expires_at: datetime


def start(db: Database, *, kind: str, subject: str, lang: str,
          hours: int = SESSION_HOURS) -> tuple[str, Session]:
    """A new session; returns the cookie's token (never stored) and the session."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(id=_key(token), kind=kind, subject=subject,
                     csrf=secrets.token_urlsafe(32), lang=lang, created_at=now,
                     expires_at=now + timedelta(hours=hours))
    with db.session() as session:
        session.add(row)
    return token, Session(row.kind, row.subject, row.csrf, row.lang, row.expires_at)


def find(db: Database, token: str | None, now: datetime | None = None) -> Session | None:
    if not token or len(token) > 200:
        return None
    with db.read_session() as session:
        row = session.get(WebSession, _key(token))
    if row is None or row.revoked_at is not None or row.expires_at <= (now or utcnow()):
        return None
    return Session(row.kind, row.subject, row.csrf, row.lang, row.expires_at)


def set_lang(db: Database, token: str, lang: str) -> None:
    with db.session() as session:
        row = session.get(WebSession, _key(token))
        if row is not None:
            row.lang = lang
            session.add(row)


def end(db: Database, token: str) -> None:
    with db.session() as session:
        row = session.get(WebSession, _key(token))
        if row is not None:
            row.revoked_at = utcnow()
            session.add(row)


def end_all(db: Database, *, kind: str, subject: str) -> int:
    """End every live session of someone (a revoked expert, a disabled account)."""
    with db.session() as session:
        rows = session.exec(select(WebSession).where(
            WebSession.kind == kind, WebSession.subject == subject,
            col(WebSession.revoked_at).is_(None))).all()
        for row in rows:
            row.revoked_at = utcnow()
            session.add(row)
        return len(rows)
