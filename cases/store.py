"""Reading the case store: a case's whole dossier, history counts, the roster and workloads.

Gate steps read one consistent snapshot (`load_dossier`) and return plain data; they never hold
a session while they compute or write reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, func, select

from cases import audit
from cases.db import Database
from cases.errors import NotFound
from cases.facts import History
from cases.models import (
    Case,
    Expert,
    GateRecord,
    LabResult,
    PanelSeat,
    ReportRecord,
    RuleDecision,
    Score,
    ScoringRound,
    Signal,
    utcnow,
)
from cases.signals import SignalIn

HISTORY_DAYS = 180


@dataclass(frozen=True)
class Dossier:
    """Everything stored about one case, detached from the session."""

    case: Case
    signals: list[SignalIn]
    signal_rows: list[Signal]
    gates: list[GateRecord]
    decisions: list[RuleDecision]
    seats: list[PanelSeat]
    rounds: list[ScoringRound]
    scores: list[Score]
    lab_results: list[LabResult]
    reports: list[ReportRecord]

    def gate_record(self, gate: str) -> GateRecord | None:
        """The latest completed record of a gate, if any."""
        found = [g for g in self.gates if g.gate == gate]
        return max(found, key=lambda g: g.round) if found else None

    def completed_gates(self) -> list[str]:
        return list(dict.fromkeys(g.gate for g in sorted(self.gates, key=lambda g: g.id or 0)))

    def decision(self, gate: str) -> RuleDecision | None:
        found = [d for d in self.decisions if d.gate == gate]
        return max(found, key=lambda d: d.round) if found else None

    def round(self, round_no: int) -> ScoringRound | None:
        return next((r for r in self.rounds if r.round_no == round_no), None)

    def scores_of(self, round_no: int) -> list[Score]:
        return sorted((s for s in self.scores if s.round_no == round_no),
                      key=lambda s: s.expert_id)

    def voting_seats(self) -> list[PanelSeat]:
        return [s for s in self.seats if s.role in ("chair", "member")]


def require_case(session, case_id: str) -> Case:
    """The case, or NotFound: the one place that says so."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def get_case(db: Database, case_id: str) -> Case:
    with db.session() as session:
        return require_case(session, case_id)


def load_dossier(db: Database, case_id: str) -> Dossier:
    with db.session() as session:
        case = require_case(session, case_id)

        def rows(model, order):
            return list(session.exec(select(model).where(model.case_id == case_id)
                                     .order_by(order)).all())

        signal_rows = rows(Signal, Signal.id)
        return Dossier(
            case=case,
            signals=[SignalIn.model_validate(row.payload) for row in signal_rows],
            signal_rows=signal_rows,
            gates=rows(GateRecord, GateRecord.id),
            decisions=rows(RuleDecision, RuleDecision.id),
            seats=rows(PanelSeat, PanelSeat.id),
            rounds=rows(ScoringRound, ScoringRound.round_no),
            scores=rows(Score, Score.id),
            lab_results=rows(LabResult, LabResult.id),
            reports=rows(ReportRecord, ReportRecord.id),
        )


def history(db: Database, case: Case) -> History:
    """How many other cases in the last 180 days share this one's product, enterprise, …"""
    since = utcnow() - timedelta(days=HISTORY_DAYS)
    others = (Case.id != case.id, Case.created_at >= since)
    with db.session() as session:

        def count(*conditions) -> int:
            return session.exec(select(func.count()).select_from(Case)
                                .where(*others, *conditions)).one()

        same_product = count(Case.product_key == case.product_key) \
            if case.product_key.strip("|") else 0
        same_enterprise = count(Case.enterprise_key == case.enterprise_key) \
            if case.enterprise_key else 0
        same_category = session.exec(select(Case.hazards, Case.province)
                                     .where(*others, Case.category == case.category)).all()
    hazards = set(case.hazards)
    return History(
        same_product=same_product,
        same_enterprise=same_enterprise,
        same_category_hazard=sum(1 for other, _ in same_category if hazards & set(other)),
        same_category=len(same_category),
        same_category_province=(sum(1 for _, province in same_category
                                    if province == case.province) if case.province else 0),
    )


def roster(db: Database) -> list[Expert]:
    with db.session() as session:
        return list(session.exec(select(Expert).order_by(Expert.id)).all())


def open_seats(db: Database) -> dict[str, int]:
    """Voting seats each expert holds on cases that are not closed (the workload)."""
    with db.session() as session:
        query = (select(PanelSeat.expert_id, func.count())
                 .join(Case, col(Case.id) == PanelSeat.case_id)
                 .where(Case.state != "closed", col(PanelSeat.role).in_(("chair", "member")))
                 .group_by(PanelSeat.expert_id))
        return {expert_id: n for expert_id, n in session.exec(query).all()}


ROSTER_FIELDS = ("id", "name", "affiliation", "seniority", "categories", "hazards", "conflicts",
                 "active", "email")


def upsert_experts(db: Database, profiles: Iterable, *, actor: str) -> int:
    """Add or update roster entries from expert profiles (experts.panel.ExpertProfile or
    anything with the same attributes); seeding is repeatable. Returns how many changed."""
    changed = 0
    with db.session() as session:
        for profile in profiles:
            fields = {name: getattr(profile, name) for name in ROSTER_FIELDS}
            for name in ("categories", "hazards", "conflicts"):
                fields[name] = list(fields[name])
            current = session.get(Expert, profile.id)
            if current is None:
                session.add(Expert(**fields))
            elif current.model_dump() != fields:
                for key, value in fields.items():
                    setattr(current, key, value)
                session.add(current)
            else:
                continue
            changed += 1
        if changed:
            audit.append(db, session, actor=actor, action="roster.updated",
                         detail={"experts": changed})
    return changed


def list_cases(db: Database, limit: int = 50) -> list[Case]:
    with db.session() as session:
        return list(session.exec(select(Case).order_by(col(Case.created_at).desc())
                                 .limit(limit)).all())
