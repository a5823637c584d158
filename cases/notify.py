"""Sending experts their notices: a personal link and a mail for each, in the caller's
transaction, so both exist exactly when the change that caused them does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from cases import links, mail
from cases.config import Settings
from cases.models import Expert, ExpertLink
from experts.notices import LINK_SLOT, NAME_SLOT, Notice


def send(session: Session, settings: Settings, notices: Iterable[Notice], *,
         case_id: str, by: str) -> list[Any]:
    """Create each expert's link and queue the mail; returns the rows written (for the audit
    event). An expert without an e-mail address still gets a link (staff hand it over:
    `riskgate experts link`)."""
    rows: list[Any] = []
    for notice in notices:
        expert = session.get(Expert, notice.expert_id)
        if expert is None:
            continue
        link = links.create(session, settings, expert_id=expert.id, case_id=case_id, by=by)
        row = session.get(ExpertLink, link.id)
        if row is not None:
            rows.append(row)
        if expert.email:
            rows.append(mail.queue(session, to=expert.email, subject=notice.subject,
                                   body=notice.body.replace(LINK_SLOT, link.url)
                                   .replace(NAME_SLOT, expert.name),
                                   kind=notice.kind, case_id=case_id, expert_id=expert.id))
    return rows
