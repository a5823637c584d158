"""What experts are sent: the texts of the mails the panel, its rounds and its deadlines cause.

Each notice is written in the case's language from the portal's catalog (experts/locales) and
carries a slot for the link: the commit that sends it creates the expert's personal link in the
same transaction (cases/commits.py), so a link exists exactly when its mail does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from reports.i18n import Catalog
from rules.domain import Lang

LOCALES = Path(__file__).with_name("locales")
CENTRE_ZONE = ZoneInfo("Asia/Shanghai")
KINDS = ("seated", "round_opened", "reminder", "reserve_called")
LINK_SLOT = "\x00link\x00"  # where the link goes; no text a person gives holds a NUL
NAME_SLOT = "\x00name\x00"  # where the expert's name goes when the sender did not know it


@dataclass(frozen=True)
class Notice:
    """A mail to one expert; `body` holds LINK_SLOT where their personal link goes."""

    expert_id: str
    kind: str
    subject: str
    body: str
    with_link: bool = True


def catalog(lang: Lang) -> Catalog:
    return Catalog.merged(lang, LOCALES)


def when(moment: datetime | None) -> str:
    """A deadline as people read it: the centre's local time."""
    if moment is None:
        return "—"
    return moment.astimezone(CENTRE_ZONE).strftime("%Y-%m-%d %H:%M") + " (UTC+08:00)"


def notice(kind: str, *, lang: Lang, expert_id: str, case_id: str, title: str, round_no: int,
           deadline: datetime | None, role: str = "member",
           link_days: int = 14, expert_name: str | None = None) -> Notice:
    if kind not in KINDS:
        raise ValueError(f"unknown notice {kind!r}; expected one of {KINDS}")
    t = catalog(lang).t
    values = {"case_id": case_id, "title": title, "round": round_no, "prior": round_no - 1,
              "deadline": when(deadline), "role": t(f"role.{role}")}
    greeting = t("mail.greeting", name=expert_name or NAME_SLOT)
    body = "\n\n".join((greeting, t(f"mail.{kind}.body", **values),
                        t("mail.link_note", days=link_days, link=LINK_SLOT),
                        t("mail.signature")))
    return Notice(expert_id, kind, t(f"mail.{kind}.subject", **values), body)
