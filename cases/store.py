"""Reading the case store: a case's whole dossier, history counts, the roster and workloads.

Gate steps read one consistent snapshot (`load_dossier`) and return plain data; they never hold
a session while they compute or write reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from cases import audit
from cases.db import Database
from cases.errors import NotFound
from cases.facts import History
from cases.models import (
    VOTING_ROLES,
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
    VocabularySnapshot,
    utcnow,
)
from cases.records import KINDS
from cases.signals import SignalIn, stored_signal
from rules.domain import Domain, domain, domain_sha256, parse_domain

HISTORY_DAYS = 180
ASSESSING_GATES = ("panel", "assessment")  # where a seated panel still has work


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
        """Each expert's current (latest) version in a round, by expert id."""
        latest: dict[str, Score] = {}
        for score in self.scores:
            if score.round_no == round_no and (
                    score.expert_id not in latest
                    or score.version > latest[score.expert_id].version):
                latest[score.expert_id] = score
        return [latest[e] for e in sorted(latest)]

    def score_versions(self, round_no: int, expert_id: str) -> list[Score]:
        """Every version an expert submitted in a round, oldest first."""
        return sorted((s for s in self.scores
                       if s.round_no == round_no and s.expert_id == expert_id),
                      key=lambda s: s.version)

    def lab_evidence(self) -> list[dict]:
        """Every test result behind the case: those the signals carried and those entered."""
        from_signals = [{**r.model_dump(), "source": "signal"}
                        for s in self.signals for r in s.lab_results]
        submitted = [{"item": r.item, "result": r.result, "standard": r.standard,
                      "value": r.value, "laboratory": r.laboratory, "source": r.source}
                     for r in self.lab_results]
        return from_signals + submitted

    def voting_seats(self) -> list[PanelSeat]:
        return [s for s in self.seats if s.role in VOTING_ROLES]


def require_case(session: Session, case_id: str) -> Case:
    """The case, or NotFound: the one place that says so."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def get_case(db: Database, case_id: str) -> Case:
    with db.read_session() as session:
        return require_case(session, case_id)


def load_dossier(db: Database, case_id: str) -> Dossier:
    with db.read_session() as session:
        require_case(session, case_id)
    return load_dossiers(db, [case_id])[0]


_PARTS: tuple[tuple[str, Any, Any], ...] = (
    ("signal_rows", Signal, Signal.id), ("gates", GateRecord, GateRecord.id),
    ("decisions", RuleDecision, RuleDecision.id), ("seats", PanelSeat, PanelSeat.id),
    ("rounds", ScoringRound, ScoringRound.round_no), ("scores", Score, Score.id),
    ("lab_results", LabResult, LabResult.id), ("reports", ReportRecord, ReportRecord.id))


def load_dossiers(db: Database, case_ids: list[str]) -> list[Dossier]:
    """The dossiers of existing cases, in the order given: one query per table for all of
    them (an import's bulk triage loads hundreds at once)."""
    with db.read_session() as session:
        cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(case_ids)))}
        parts: dict[str, dict[str, list[Any]]] = {}
        for name, model, order in _PARTS:
            found: dict[str, list[Any]] = {}
            for row in session.exec(select(model).where(col(model.case_id).in_(case_ids))
                                    .order_by(order)).all():
                found.setdefault(row.case_id, []).append(row)
            parts[name] = found
        vocabularies = {sha: vocabulary(session, sha) for sha in {
            row.vocabulary_sha256 for rows in parts["signal_rows"].values() for row in rows}}
    dossiers = []
    for case_id in case_ids:
        of_case = {name: parts[name].get(case_id, []) for name, _, _ in _PARTS}
        dossiers.append(Dossier(
            case=cases[case_id],
            signals=[stored_signal(row.payload, vocabularies[row.vocabulary_sha256])
                     for row in of_case["signal_rows"]],
            **of_case))
    return dossiers


def vocabulary(session: Session, sha256: str) -> Domain:
    """A stored vocabulary by its SHA-256 (parsed once per process)."""
    if sha256 == domain_sha256():
        return domain()
    snapshot = session.get(VocabularySnapshot, sha256)
    if snapshot is None:
        raise NotFound(f"vocabulary {sha256[:12]}… is not in the store")
    return parse_domain(snapshot.text)


def history(db: Database, case: Case) -> History:
    """How many other cases in the last 180 days share this one's product, enterprise, …"""
    since = utcnow() - timedelta(days=HISTORY_DAYS)
    others = (Case.id != case.id, Case.created_at >= since)
    with db.read_session() as session:

        def count(*conditions: Any) -> int:
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


def enterprise_aliases(db: Database, keys: frozenset[str]) -> frozenset[str]:
    """Other names and credit codes the stored signals gave together with any of `keys`
    (cases.names keys), so that a case naming an enterprise only by its code still matches a
    conflict declared by its name, and the other way round."""
    codes = [k.removeprefix("code:") for k in keys if k.startswith("code:")]
    name_keys = [k for k in keys if not k.startswith("code:")]
    if not codes and not name_keys:
        return frozenset()
    with db.read_session() as session:
        rows = session.exec(select(Signal.enterprise_code, Signal.enterprise_name).where(
            col(Signal.enterprise_code).in_(codes) | col(Signal.enterprise_name).in_(name_keys))
            .distinct()).all()
    found = {f"code:{code}" for code, _ in rows if code} | {name for _, name in rows if name}
    return frozenset(found)


def roster(db: Database) -> list[Expert]:
    with db.read_session() as session:
        return list(session.exec(select(Expert).order_by(Expert.id)).all())


def seat_counts(session: Session, *, except_case: str | None = None,
                experts: Iterable[str] | None = None) -> dict[str, int]:
    """Voting seats each expert holds (not given up) on cases still being assessed (the
    workload: once the assessment is done the panel's work is, while the disposal waits for
    approval and follow-up runs for weeks), in the caller's transaction: the panel gate's
    choice and its commit's re-check count alike."""
    query = (select(PanelSeat.expert_id, func.count())
             .join(Case, col(Case.id) == PanelSeat.case_id)
             .where(col(Case.gate).in_(ASSESSING_GATES), col(PanelSeat.role).in_(VOTING_ROLES),
                    col(PanelSeat.active).is_(True)))
    if except_case is not None:
        query = query.where(Case.id != except_case)
    if experts is not None:
        query = query.where(col(PanelSeat.expert_id).in_(list(experts)))
    return {expert_id: n for expert_id, n in session.exec(query.group_by(
        PanelSeat.expert_id)).all()}


def open_seats(db: Database) -> dict[str, int]:
    """Voting seats each expert holds on cases still being assessed (the workload)."""
    with db.read_session() as session:
        return seat_counts(session)


ROSTER_FIELDS = KINDS["expert"].fields  # what a roster entry is, as the audit chain covers it


@dataclass(frozen=True)
class RosterChange:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: int

    def __len__(self) -> int:
        return len(self.added) + len(self.updated)


def upsert_experts(db: Database, profiles: Iterable, *, actor: str) -> RosterChange:
    """Add or update roster entries from expert profiles (experts.panel.ExpertProfile or
    anything with the same attributes), in one transaction; importing is repeatable. Experts
    the file does not name are left as they are (deactivate with `active: false`)."""
    changed: list[Expert] = []
    added: list[str] = []
    unchanged = 0
    with db.session() as session:
        for profile in profiles:
            fields = {name: getattr(profile, name) for name in ROSTER_FIELDS}
            for name in ("categories", "hazards", "conflicts", "lab_methods", "unavailable",
                         "employment"):
                fields[name] = list(fields[name])
            current = session.get(Expert, profile.id)
            if current is None:
                current = Expert(**fields)
                added.append(profile.id)
            elif current.model_dump() == fields:
                unchanged += 1
                continue
            else:
                for key, value in fields.items():
                    setattr(current, key, value)
            session.add(current)
            changed.append(current)
        if changed:
            audit.append(db, session, actor=actor, action="roster.updated", rows=changed,
                         detail={"experts": len(changed), "added": len(added)})
    new = set(added)
    return RosterChange(tuple(added), tuple(e.id for e in changed if e.id not in new), unchanged)


def list_cases(db: Database, limit: int = 50) -> list[Case]:
    with db.read_session() as session:
        return list(session.exec(select(Case).order_by(col(Case.created_at).desc())
                                 .limit(limit)).all())
