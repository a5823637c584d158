"""The injury scenarios a panel scores: described by staff, or, when staff described none
before the panel sat, one drawn from the case's signals so that the form always has one."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from cases import audit
from cases.db import Database
from cases.errors import FieldErrors, NotFound, WrongState
from cases.facts import merge_signals
from cases.models import InjuryScenario, utcnow
from cases.store import Dossier, require_case
from cases.text import CONTROL
from rules.domain import Lang, domain

MAX_DESCRIPTION = 1000


def default_scenario(d: Dossier) -> dict:
    """Scenario 1 from the signals: who uses the product and what hurts them."""
    profile = merge_signals(d.signals)
    lang: Lang = "en" if d.case.lang == "en" else "zh"
    vocab = domain()
    hazards = ("、" if lang == "zh" else ", ").join(
        vocab.hazards.name(h, lang) for h in profile.hazards) or vocab.hazards.name("other",
                                                                                    lang)
    users = vocab.target_users.name(profile.target_users, lang)
    product = d.signals[0].product.name or vocab.categories.name(d.case.category, lang)
    text = (f"{users}使用“{product}”时发生{hazards}伤害" if lang == "zh"
            else f"{users} using “{product}” are hurt by {hazards}")
    return {"number": 1, "description": text, "population": profile.target_users,
            "created_by": "riskgate (from the signals)"}


BEFORE_THE_PANEL = ("intake", "triage", "lab_test", "panel")


def _checked(description: str, population: str) -> str:
    text = " ".join(description.split())
    if not 4 <= len(text) <= MAX_DESCRIPTION:
        raise FieldErrors({"description": (
            "description_length", {"most": MAX_DESCRIPTION},
            f"describe the scenario in 4 to {MAX_DESCRIPTION} characters")}, source="scenario")
    if CONTROL.search(text):
        raise FieldErrors({"description": ("control_character", {"position": 0},
                                           "no control characters")}, source="scenario")
    if population not in domain().target_users:
        raise FieldErrors({"population": ("code_unknown", {"kind": "target_users",
                                                           "value": population[:40]},
                                          f"{population[:40]!r}: one of "
                                          + ", ".join(domain().target_users.codes()))},
                          source="scenario")
    return text


def _before_the_panel(db: Database, session: Session, case_id: str) -> None:
    db.lock_case(session, case_id)
    case = require_case(session, case_id)
    if case.gate not in BEFORE_THE_PANEL:
        raise WrongState(f"case {case_id}: the panel sat already (gate {case.gate}); "
                         "experts add scenarios in their forms")


def add(db: Database, case_id: str, *, description: str, population: str, by: str) -> int:
    """Staff describe one more scenario; allowed until the panel sits."""
    text = _checked(description, population)
    with db.session() as session:
        _before_the_panel(db, session, case_id)
        number = (session.exec(select(func.max(InjuryScenario.number)).where(
            InjuryScenario.case_id == case_id)).one() or 0) + 1
        row = InjuryScenario(case_id=case_id, number=number, description=text,
                             population=population, created_by=by, created_at=utcnow())
        session.add(row)
        audit.append(db, session, actor=by, action="scenario.described", case_id=case_id,
                     rows=[row], detail={"number": number})
        return number


def edit(db: Database, case_id: str, number: int, *, description: str, population: str,
         by: str) -> None:
    """Staff change a scenario they described; allowed until the panel sits."""
    text = _checked(description, population)
    with db.session() as session:
        _before_the_panel(db, session, case_id)
        row = session.exec(select(InjuryScenario).where(
            InjuryScenario.case_id == case_id, InjuryScenario.number == number)).first()
        if row is None:
            raise NotFound(f"case {case_id} has no scenario {number}")
        row.description, row.population = text, population
        session.add(row)
        audit.append(db, session, actor=by, action="scenario.edited", case_id=case_id,
                     rows=[row], detail={"number": number})


def of_case(db: Database, case_id: str) -> list[InjuryScenario]:
    with db.read_session() as session:
        return list(session.exec(select(InjuryScenario).where(
            InjuryScenario.case_id == case_id).order_by(col(InjuryScenario.number))).all())
