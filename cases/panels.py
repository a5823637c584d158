"""Seating a case's panel from the store: the roster as profiles, the request with every
enterprise the case names, and whether a full panel could sit now (the sweeper asks, to take
up a case that waited for staff at the panel gate)."""

from __future__ import annotations

from cases import store
from cases.db import Database
from cases.facts import parties
from cases.store import Dossier
from experts.panel import ExpertProfile, PanelRequest, PanelUnavailable, select_panel
from experts.protocol import Protocol


def profiles(db: Database) -> list[ExpertProfile]:
    return [ExpertProfile(id=e.id, name=e.name, affiliation=e.affiliation,
                          seniority=e.seniority, categories=tuple(e.categories),
                          hazards=tuple(e.hazards), conflicts=tuple(e.conflicts),
                          active=e.active, email=e.email, group=e.group, region=e.region,
                          lab_methods=tuple(e.lab_methods), max_open_seats=e.max_open_seats,
                          unavailable=tuple(e.unavailable), employment=tuple(e.employment))
            for e in store.roster(db)]


def request_for(db: Database, d: Dossier) -> PanelRequest:
    """Every enterprise and group the case's signals name, with the aliases the store knows."""
    found = parties(d.signals)
    keys = found.keys()
    return PanelRequest(case_id=d.case.id, category=d.case.category,
                        hazards=tuple(d.case.hazards),
                        parties=keys | store.enterprise_aliases(db, keys),
                        enterprises=(*found.names, *found.codes, *found.groups))


def could_seat(db: Database, d: Dossier, protocol: Protocol | None = None) -> bool:
    """Whether a full panel could be chosen for the case now."""
    try:
        select_panel(request_for(db, d), profiles(db), store.open_seats(db),
                     protocol or Protocol())
    except PanelUnavailable:
        return False
    return True
