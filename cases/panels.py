"""Seating panels from the store: the roster as profiles, each case's request with every
enterprise, group and reporter its signals name, and the queue of cases waiting at the panel
gate, which the panel gate seats as one batch (experts.assignment) so that a case seated now
does not take the experts an earlier case in the queue needs."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from cases import names, store
from cases.db import Database
from cases.facts import parties
from cases.lifecycle import ACTIVE
from cases.models import Case, PanelSeat, utcnow
from cases.store import Dossier
from experts.panel import ExpertProfile, PanelRequest
from experts.protocol import Protocol

if TYPE_CHECKING:  # the solver's module pulls in scipy; only seating needs it
    from experts.assignment import Assignment

PANEL_GATE = "panel"
# How a seat that was given up says why (PanelSeat.left_reason); reports localise by prefix.
CONFLICT_PREFIX = "conflict of interest: "
NO_ANSWER_PREFIX = "no answer by the deadline of round "


def why_left(reason: str) -> tuple[str, str]:
    """Why a seat was given up, as a kind that pages and reports localise, and its detail
    (the declared reason, the round): conflict_declared, no_answer or other."""
    if reason.startswith(CONFLICT_PREFIX):
        return "conflict_declared", reason[len(CONFLICT_PREFIX):]
    if reason.startswith(NO_ANSWER_PREFIX):
        return "no_answer", reason[len(NO_ANSWER_PREFIX):]
    return "other", reason


def profiles(db: Database) -> list[ExpertProfile]:
    return [ExpertProfile(id=e.id, name=e.name, affiliation=e.affiliation,
                          seniority=e.seniority, categories=tuple(e.categories),
                          hazards=tuple(e.hazards), conflicts=tuple(e.conflicts),
                          active=e.active, email=e.email, group=e.group, region=e.region,
                          lab_methods=tuple(e.lab_methods), max_open_seats=e.max_open_seats,
                          unavailable=tuple(e.unavailable), employment=tuple(e.employment))
            for e in store.roster(db)]


def request_for(db: Database, d: Dossier) -> PanelRequest:
    """Every enterprise and group the case's signals name (with the aliases the store knows),
    who reported them, what the lab tested, and who already declared a conflict on it."""
    found = parties(d.signals)
    keys = found.keys()
    declared = {s.expert_id: s.left_reason.removeprefix(CONFLICT_PREFIX).strip()
                for s in d.seats if s.left_reason.startswith(CONFLICT_PREFIX)}
    return PanelRequest(case_id=d.case.id, category=d.case.category,
                        hazards=tuple(d.case.hazards),
                        parties=keys | store.enterprise_aliases(db, keys),
                        enterprises=(*found.names, *found.codes, *found.groups),
                        reporters=names.keys([s.reporter for s in d.signals]),
                        lab_items=tuple(f"{r.item} {r.standard}".strip()
                                        for r in d.lab_results),
                        declared=declared)


def queue(session: Session, case_id: str) -> list[str]:
    """The case and the cases ahead of or behind it at the panel gate that are about to be
    seated (active, no seat yet), oldest first. A case waiting for staff there holds nothing
    back: it joins the queue when it is taken up again."""
    seated = select(PanelSeat.case_id).distinct()
    rows = session.exec(select(Case.id).where(
        Case.gate == PANEL_GATE, col(Case.id).not_in(seated),
        (Case.state == ACTIVE) | (Case.id == case_id))
        .order_by(col(Case.created_at), col(Case.id))).all()
    return list(rows) if case_id in rows else [case_id, *rows]


def plan(db: Database, request: PanelRequest, roster: list[ExpertProfile], protocol: Protocol,
         *, on: date | None = None) -> Assignment:
    """Panels for the case `request` asks for and the cases queued with it at the panel gate,
    jointly, from `roster` (the caller's `profiles(db)`)."""
    from experts.assignment import assign

    with db.read_session() as session:  # one snapshot: a case seated since is in neither
        waiting = queue(session, request.case_id)
        seats = store.seat_counts(session)
    requests = [request if case_id == request.case_id
                else request_for(db, store.load_dossier(db, case_id)) for case_id in waiting]
    return assign(requests, roster, seats, protocol, on=on or utcnow().date())


def could_seat(db: Database, d: Dossier, protocol: Protocol | None = None) -> bool:
    """Whether a full panel could be chosen for the case now."""
    return d.case.id in plan(db, request_for(db, d), profiles(db),
                             protocol or Protocol()).selections
