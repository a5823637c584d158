"""One case as staff and auditors read it: its dossier with the timeline of its gates, the
disposal review, the follow-up actions and notices, the scenarios, the enterprise's credit file,
the cases linked to it (escalation) and the case's audit events. A read; the pages decide what
to show to whom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from cases import actions, approvals, credit, departments, escalation, outbox, scenarios
from cases.db import Database
from cases.models import (
    AuditEvent,
    Expert,
    InjuryScenario,
    MailMessage,
    ReportRecord,
    RulebookSnapshot,
)
from cases.models_oversight import DisposalReview, FollowUpAction
from cases.store import Dossier, load_dossier


@dataclass(frozen=True)
class GateStep:
    """One completed gate (or round of it) on the case's timeline."""

    gate: str
    round: int
    completed_at: Any
    actor: str
    outcome: dict[str, Any]
    report: ReportRecord | None


@dataclass(frozen=True)
class CaseFile:
    dossier: Dossier
    timeline: list[GateStep]
    review: DisposalReview | None
    actions: list[FollowUpAction]
    notices: list[MailMessage]
    scenarios: list[InjuryScenario]
    events: list[AuditEvent]
    expert_names: dict[str, str]
    credit_file: credit.CreditFile | None
    continuations: list[outbox.Owed]
    rulebooks: dict[str, dict[str, str]]  # SHA-256 → name and version, of its decisions
    links: escalation.CaseLinks | None = None  # linked cases, both ways (escalation)

    @property
    def case(self) -> Any:
        return self.dossier.case


def timeline(d: Dossier) -> list[GateStep]:
    reports = {(r.gate, r.round): r for r in d.reports}
    return [GateStep(g.gate, g.round, g.completed_at, g.actor, g.outcome,
                     reports.get((g.gate, g.round)))
            for g in sorted(d.gates, key=lambda g: g.id or 0)]


def load(db: Database, case_id: str) -> CaseFile:
    d = load_dossier(db, case_id)
    with db.read_session() as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                   .order_by(col(AuditEvent.seq))).all())
        notices = departments.sent(session, case_id)
        seated = {s.expert_id for s in d.seats}
        names = dict(session.exec(select(Expert.id, Expert.name).where(
            col(Expert.id).in_(seated))).all()) if seated else {}
        review = approvals.review_of(session, case_id)
        tracked = actions.actions_of(session, case_id)
        shas = {decision.rulebook_sha256 for decision in d.decisions}
        books = {b.sha256: {"name": b.name, "version": b.version} for b in session.exec(
            select(RulebookSnapshot).where(col(RulebookSnapshot.sha256).in_(shas))).all()} \
            if shas else {}
    return CaseFile(d, timeline(d), review, tracked, notices, scenarios.of_case(db, case_id),
                    events, names, credit.for_case(db, d), outbox.of_case(db, case_id), books,
                    escalation.links_of(db, case_id))
