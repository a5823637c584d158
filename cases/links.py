"""Experts' personal links: signed, expiring, revocable, bound to one expert.

A link is a row (its id, the expert, the case it leads to first, when it expires, whether it
was revoked) and a token that carries the id signed with the portal's key
(itsdangerous; the key is generated once into the data directory, owner-only). A tampered token
fails the signature, an expired or revoked link fails the row: either way nothing is opened.
Opening a link starts a browser session (cases/sessions.py) and the token leaves the address
bar.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session, col, select

from cases import audit
from cases.config import Settings
from cases.db import Database
from cases.errors import InvalidInput, NotFound
from cases.models import Expert, ExpertLink, WebSession, utcnow
from cases.secret_files import owner_only_secret

SALT = "riskgate-expert-link"
LINK_PATH = "/e/"


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(owner_only_secret(settings.web_secret_file), salt=SALT)


@dataclass(frozen=True)
class Link:
    id: str
    expert_id: str
    case_id: str | None
    expires_at: datetime
    url: str


def create(session: Session, settings: Settings, *, expert_id: str, case_id: str | None,
           by: str, days: int | None = None, now: datetime | None = None) -> Link:
    """A new link for the expert, in the caller's transaction."""
    if session.get(Expert, expert_id) is None:
        raise NotFound(f"unknown expert {expert_id}")
    moment = now or utcnow()
    row = ExpertLink(id=secrets.token_urlsafe(16)[:22], expert_id=expert_id, case_id=case_id,
                     created_by=by, created_at=moment,
                     expires_at=moment + timedelta(days=days or settings.link_days))
    session.add(row)
    session.flush()
    token = _serializer(settings).dumps(row.id)
    return Link(row.id, expert_id, case_id, row.expires_at,
                f"{settings.public_url}{LINK_PATH}{token}")


def create_link(db: Database, settings: Settings, *, expert_id: str, case_id: str | None,
                by: str, days: int | None = None) -> Link:
    """A link staff hand out themselves (`riskgate experts link`), with its audit event."""
    with db.session() as session:
        link = create(session, settings, expert_id=expert_id, case_id=case_id, by=by,
                      days=days)
        audit.append(db, session, actor=by, action="link.created", case_id=case_id,
                     rows=[session.get(ExpertLink, link.id)],
                     detail={"expert": expert_id, "link": link.id})
        return link


class LinkRefused(InvalidInput):
    """A link that cannot open the portal; `reason` is a catalog key for the page."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def open_link(db: Database, settings: Settings, token: str,
              now: datetime | None = None) -> ExpertLink:
    """The link a token names, if its signature holds and it is neither expired nor revoked;
    its first opening is recorded."""
    try:
        link_id = _serializer(settings).loads(token)
    except BadSignature:
        raise LinkRefused("tampered", "this link is not one RiskGate issued") from None
    moment = now or utcnow()
    with db.session() as session:
        row = session.get(ExpertLink, str(link_id))
        if row is None:
            raise LinkRefused("tampered", "this link is not one RiskGate issued")
        if row.revoked_at is not None:
            raise LinkRefused("revoked", "this link was revoked")
        if row.expires_at <= moment:
            raise LinkRefused("expired", "this link has expired")
        if row.opened_at is None:
            row.opened_at = moment
            session.add(row)
        return row


def revoke(db: Database, *, by: str, link_id: str | None = None,
           expert_id: str | None = None) -> tuple[int, int]:
    """Revoke one link, or every live link of an expert, and end the portal sessions of the
    experts concerned, in one transaction with its audit event; (links revoked, sessions
    ended)."""
    if not link_id and not expert_id:
        raise InvalidInput("name a link (--link) or an expert (--expert) to revoke")
    moment = utcnow()
    with db.session() as session:
        query = select(ExpertLink).where(col(ExpertLink.revoked_at).is_(None))
        if link_id:
            query = query.where(ExpertLink.id == link_id)
        if expert_id:
            query = query.where(ExpertLink.expert_id == expert_id)
        rows = list(session.exec(query).all())
        if not rows:
            raise NotFound("no live link " + (f"{link_id} " if link_id else "")
                           + (f"of expert {expert_id}" if expert_id else ""))
        for row in rows:
            row.revoked_at = moment
            session.add(row)
        experts = sorted({row.expert_id for row in rows})
        live = session.exec(select(WebSession).where(
            WebSession.kind == "expert", col(WebSession.subject).in_(experts),
            col(WebSession.revoked_at).is_(None))).all()
        for web_session in live:
            web_session.revoked_at = moment
            session.add(web_session)
        session.flush()
        audit.append(db, session, actor=by, action="link.revoked",
                     case_id=rows[0].case_id if len({r.case_id for r in rows}) == 1 else None,
                     rows=rows, detail={"experts": experts, "links": [r.id for r in rows],
                                        "sessions_ended": len(live)})
        return len(rows), len(live)
