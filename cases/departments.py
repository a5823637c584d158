"""Notices to the departments a disposal names: one mail each, queued in the transaction that
starts the follow-up (cases/mail.py delivers it), and shown on the case page and in the reports
as sent once delivered."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from cases import mail
from cases.errors import InvalidInput
from cases.models import Case, MailMessage
from rules.domain import Lang, domain

DEFAULT_FILE = Path(__file__).with_name("departments.yaml")
KIND = "department_notice"


@cache
def addresses(path: Path = DEFAULT_FILE) -> dict[str, str]:
    """Department code → e-mail address, from the file RISKGATE_DEPARTMENTS names."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"RISKGATE_DEPARTMENTS={path}: cannot read it ({exc})") from None
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in raw.items()):
        raise InvalidInput(f"RISKGATE_DEPARTMENTS={path}: expected `code: address` lines")
    return raw


def notify(session: Session, case: Case, plan: dict[str, Any], lang: Lang,
           path: Path = DEFAULT_FILE) -> list[Any]:
    """Queue one notice per department with a known address; returns the mail rows."""
    vocab = domain()
    known = addresses(path)
    lines = "\n".join(f"- {vocab.measures.name(a['measure'], lang)}: {a['lead']} "
                      f"({'due' if lang == 'en' else '期限'} {a['due_on']})"
                      for a in plan["actions"])
    rows = []
    for code in plan["notifications"]:
        if code not in known:
            continue
        name = vocab.authorities.name(code, lang)
        if lang == "en":
            subject = f"[RiskGate] Risk disposal notice: {case.id}"
            body = (f"To the {name}:\n\nThe risk centre has decided the disposal of case "
                    f"{case.id} ({case.title}), risk level {case.risk_level or '—'}:\n\n{lines}"
                    "\n\nPlease take the measures in your remit and report back to the centre.")
        else:
            subject = f"[RiskGate] 风险处置通报：{case.id}"
            body = (f"{name}：\n\n风险监测中心已对案件 {case.id}（{case.title}）作出处置决定，"
                    f"风险等级：{case.risk_level or '—'}。处置措施如下：\n\n{lines}\n\n"
                    "请在职责范围内落实，并向中心反馈。")
        rows.append(mail.queue(session, to=known[code], subject=subject, body=body, kind=KIND,
                               case_id=case.id))
    return rows


def sent(session: Session, case_id: str) -> list[MailMessage]:
    """The department notices of a case, with when each was delivered."""
    return list(session.exec(select(MailMessage).where(
        MailMessage.case_id == case_id, MailMessage.kind == KIND)).all())
