"""Four-eyes disposal: the rulebook proposes, an approver decides.

The disposal gate records the rulebook's ranked measures as a proposal and waits
(`awaiting_approval`). An approver who is not the person who opened the case approves it, or
overrides it — adds, removes or reorders measures — with a written justification. The decision,
the proposal it started from and the difference are recorded together; the decision claims the
lifecycle's transition and owes the case its continuation in the same transaction, exactly as
the score that completes a quorum does (cases/submissions.py), so a second or concurrent
decision starts nothing. An approval left open past its deadline (by priority) is escalated by
the sweeper: flagged on the console and mailed to the approvers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cases import audit, mail, outbox
from cases.accounts import Person, Refused, require
from cases.db import Database
from cases.errors import FieldErrors, InvalidInput, NotFound, WrongState
from cases.lifecycle import Event
from cases.models import Case, utcnow
from cases.models_oversight import Account, DisposalReview
from cases.roles import Action
from cases.store import require_case
from cases.submissions import Claim, claim, waiting_case
from cases.text import plain_text
from rules.domain import Lang, domain

# How long an approval may stay open before it is escalated, by the case's triage priority.
APPROVAL_HOURS = {"P1": 24, "P2": 48, "P3": 120, "P4": 240}
MIN_JUSTIFICATION, MAX_JUSTIFICATION = 10, 4000
ADDED_BY_APPROVER = "approver"  # the reason given for a measure the approver added


def deadline(priority: str | None, start: datetime) -> datetime:
    return start + timedelta(hours=APPROVAL_HOURS.get(priority or "P4", APPROVAL_HOURS["P4"]))


def proposal_of(outcome: dict[str, Any], fired: list[str]) -> dict[str, Any]:
    """What the approver sees: the rulebook's ranked measures with the rules behind each."""
    return {"measures": [{"code": m["code"], "reasons": list(m["reasons"])}
                         for m in outcome["measures"]],
            "notify": list(outcome["notify"]), "flags": list(outcome["flags"]),
            "fired": list(fired)}


def difference(proposed: list[str], decided: list[str]) -> dict[str, Any]:
    """Added, removed, and whether the measures both keep are in another order."""
    kept_then = [m for m in proposed if m in decided]
    kept_now = [m for m in decided if m in proposed]
    return {"added": [m for m in decided if m not in proposed],
            "removed": [m for m in proposed if m not in decided],
            "reordered": kept_then != kept_now}


def check_measures(codes: list[str]) -> list[str]:
    """An approver's ranked measures: known codes, each once, at least one (FieldErrors on
    `measures`)."""
    vocab = domain().measures

    def refuse(code: str, text: str, **params: object) -> FieldErrors:
        return FieldErrors({"measures": (code, params, text)})

    cleaned = [c.strip() for c in codes if c.strip()]
    if not cleaned:
        raise refuse("measures_none", "give at least one measure, best first")
    unknown = [c for c in cleaned if c not in vocab]
    if unknown:
        raise refuse("measure_unknown", f"unknown measure {unknown[0][:40]!r}; expected codes "
                                        f"of rules/domain.yaml ({', '.join(vocab.codes())})")
    twice = sorted({c for c in cleaned if cleaned.count(c) > 1})
    if twice:
        raise refuse("measure_twice", f"{twice[0]} is given twice")
    return cleaned


def check_justification(text: str, field: str = "justification") -> str:
    text = plain_text(text.strip(), field=field)
    if len(text) < MIN_JUSTIFICATION:
        raise FieldErrors({"justification": (
            "justification_short", {"least": MIN_JUSTIFICATION},
            f"an override needs a written justification of at least {MIN_JUSTIFICATION} "
            "characters")})
    if len(text) > MAX_JUSTIFICATION:
        raise FieldErrors({"justification": ("string_too_long",
                                             {"max_length": MAX_JUSTIFICATION},
                                             f"at most {MAX_JUSTIFICATION} characters")})
    return text


def review_of(session: Session, case_id: str) -> DisposalReview | None:
    return session.exec(select(DisposalReview).where(DisposalReview.case_id == case_id)).first()


def get_review(db: Database, case_id: str) -> DisposalReview | None:
    with db.read_session() as session:
        return review_of(session, case_id)


def opened_by(case: Case, person: Person) -> bool:
    """Whether this person opened the case (under their account, or under the name the CLI
    recorded before accounts existed)."""
    return case.opened_by in (person.actor, f"staff:{person.name}")


@dataclass(frozen=True)
class Decided:
    case_id: str
    status: str  # approved | overridden
    measures: list[str]
    difference: dict[str, Any]
    claim: Claim


def decide(db: Database, case_id: str, person: Person, *, measures: list[str] | None = None,
           justification: str = "") -> Decided:
    """Approve the proposal (`measures` None) or override it with `measures`, ranked, and a
    justification. Refused, with nothing written: a person without the approver role, the
    case's opener, a case not waiting for approval, an override without justification or with
    unknown measures, an override that changes nothing."""
    require(person, Action.DECIDE_DISPOSAL)
    override = measures is not None
    chosen = check_measures(measures) if measures is not None else None
    reason = check_justification(justification) if override else \
        plain_text(justification.strip(), field="comment")
    if len(reason) > MAX_JUSTIFICATION:
        raise InvalidInput(f"comment: at most {MAX_JUSTIFICATION} characters")
    with db.session() as session:
        case = waiting_case(db, session, case_id, Event.DISPOSAL_APPROVED,
                            "a disposal decision")
        if opened_by(case, person):
            raise Refused(f"four-eyes: {person.name} opened case {case_id} and may not decide "
                          "its disposal; another approver must", code="four_eyes",
                          name=person.name, case_id=case_id)
        review = review_of(session, case_id)
        if review is None or review.status != "pending":
            raise WrongState(f"case {case_id} has no disposal proposal waiting for a decision")
        proposed = [m["code"] for m in review.proposal["measures"]]
        decided = chosen if chosen is not None else proposed
        if override and decided == proposed:
            raise FieldErrors({"measures": ("override_unchanged", {},
                                            "the override is the proposal itself; approve it "
                                            "instead")})
        event = Event.DISPOSAL_OVERRIDDEN if override else Event.DISPOSAL_APPROVED
        now = utcnow()
        review.status = "overridden" if override else "approved"
        review.decided_by, review.decided_at = person.actor, now
        review.measures, review.justification = decided, reason
        review.difference = difference(proposed, decided)
        session.add(review)
        claim(session, case, event, "approver")
        owed = outbox.owe(session, case_id, "disposal:decided", event.value)
        audit.append(db, session, actor=person.actor, action=event.value, case_id=case_id,
                     rows=[review], detail={"proposed": proposed, "decided": decided,
                                            **review.difference})
        result = Decided(case_id, review.status, decided, dict(review.difference),
                         Claim(case_id, True, owed.key, owed.id))
    return result


def final_outcome(review: DisposalReview) -> dict[str, Any]:
    """The disposal gate's outcome once decided: the measures as decided (each with the rules
    behind it, or `approver` for one the approver added), the proposal, and the approval."""
    reasons = {m["code"]: m["reasons"] for m in review.proposal["measures"]}
    return {
        "measures": [{"code": code, "rank": rank,
                      "reasons": reasons.get(code, [ADDED_BY_APPROVER])}
                     for rank, code in enumerate(review.measures, start=1)],
        "notify": list(review.proposal["notify"]),
        "flags": list(review.proposal["flags"]),
        "fired": list(review.proposal.get("fired", [])),
        "proposal": review.proposal,
        "approval": {"status": review.status, "by": review.decided_by,
                     "at": review.decided_at.isoformat() if review.decided_at else None,
                     "justification": review.justification, "difference": review.difference,
                     "escalated": review.escalated_at is not None},
    }


@dataclass(frozen=True)
class PendingApproval:
    case_id: str
    title: str
    priority: str | None
    opened_by: str
    proposed: list[str]
    proposed_at: datetime
    deadline_at: datetime
    escalated: bool

    def overdue(self, now: datetime) -> bool:
        return self.deadline_at <= now


def pending(db: Database) -> list[PendingApproval]:
    """Approvals waiting, the most urgent deadline first."""
    with db.read_session() as session:
        rows = session.exec(select(DisposalReview, Case)
                            .join(Case, col(Case.id) == DisposalReview.case_id)
                            .where(DisposalReview.status == "pending")
                            .order_by(col(DisposalReview.deadline_at))).all()
    return [PendingApproval(r.case_id, c.title, c.priority, c.opened_by,
                            [m["code"] for m in r.proposal["measures"]], r.proposed_at,
                            r.deadline_at, r.escalated_at is not None) for r, c in rows]


def escalate_overdue(db: Database, now: datetime) -> list[str]:
    """Flag every pending approval past its deadline once and mail the approvers; returns the
    case ids escalated now."""
    escalated: list[str] = []
    with db.session() as session:
        overdue = session.exec(select(DisposalReview).where(
            DisposalReview.status == "pending", col(DisposalReview.escalated_at).is_(None),
            col(DisposalReview.deadline_at) <= now)).all()
        if not overdue:
            return escalated
        approvers = [a for a in session.exec(select(Account).where(
            col(Account.active).is_(True))).all() if "approver" in a.roles and a.email]
        for review in overdue:
            case = require_case(session, review.case_id)
            review.escalated_at = now
            session.add(review)
            rows: list[Any] = [review]
            for account in approvers:
                if not opened_by(case, Person(account.name, frozenset(account.roles))):
                    rows.append(mail.queue(session, to=account.email,
                                           **escalation_mail(case, review),
                                           kind="approval_overdue", case_id=case.id))
            audit.append(db, session, actor="riskgate sweeper", action="disposal.escalated",
                         case_id=case.id, rows=rows,
                         detail={"deadline": review.deadline_at.isoformat(),
                                 "mailed": len(rows) - 1})
            escalated.append(case.id)
    return escalated


def escalation_mail(case: Case, review: DisposalReview) -> dict[str, str]:
    """The escalation mail to approvers, in the case's language."""
    from experts.notices import when

    lang: Lang = "en" if case.lang == "en" else "zh"
    names = ", ".join(domain().measures.name(m["code"], lang)
                      for m in review.proposal["measures"])
    if lang == "en":
        return {"subject": f"[RiskGate] Disposal approval overdue: {case.id}",
                "body": f"The disposal proposed for case {case.id} ({case.title}) has waited "
                        f"for approval since {when(review.proposed_at)}; it was due "
                        f"{when(review.deadline_at)}.\n\nProposed: {names}\n\nApprove or "
                        "override it on the staff console."}
    return {"subject": f"[RiskGate] 处置审批已逾期：{case.id}",
            "body": f"案件 {case.id}（{case.title}）的处置建议自 {when(review.proposed_at)} "
                    f"起等待审批，审批期限为 {when(review.deadline_at)}，现已逾期。\n\n"
                    f"建议措施：{names}\n\n请在工作台批准或调整。"}


def require_review(db: Database, case_id: str) -> DisposalReview:
    review = get_review(db, case_id)
    if review is None:
        raise NotFound(f"case {case_id} has no disposal proposal")
    return review
