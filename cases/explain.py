"""Re-explaining a stored decision under the rulebook version that made it.

Every rule decision stores its validated facts, its trail and the SHA-256 of the rulebook; the
store keeps that rulebook's exact text. Re-explaining loads that text (not today's rulebook),
runs the stored facts through durable-rules again and compares the trail: an auditor can see
that the decision follows from the rules in force at the time, whatever the rulebooks say now.
Nothing is written: a stored decision never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from cases.db import Database
from cases.errors import InvalidInput, NotFound
from cases.models import RulebookSnapshot, RuleDecision
from cases.store import require_case
from rules.decisions import decide_disposal, decide_triage
from rules.rulebook import parse_rulebook
from rules.schema import stored_facts

DECIDERS = {"triage": decide_triage, "disposal": decide_disposal}


@dataclass(frozen=True)
class Explanation:
    case_id: str
    gate: str
    round: int
    rulebook: dict[str, str]  # name, version, sha256 of the stored rulebook
    stored: dict  # the decision as stored: fired, trail, outcome
    replayed: dict  # the same facts through the stored rulebook, now
    reproduced: bool


def explain(db: Database, case_id: str, gate: str) -> Explanation:
    if gate not in DECIDERS:
        raise InvalidInput(f"--gate {gate[:40]!r}: choose triage or disposal (the gates that "
                           "make rule decisions)")
    with db.read_session() as session:
        require_case(session, case_id)
        decision = session.exec(select(RuleDecision).where(
            RuleDecision.case_id == case_id, RuleDecision.gate == gate)
            .order_by(col(RuleDecision.round).desc())).first()
        if decision is None:
            raise NotFound(f"case {case_id} has no {gate} decision yet")
        snapshot = session.get(RulebookSnapshot, decision.rulebook_sha256)
        if snapshot is None:
            raise NotFound(f"rulebook {decision.rulebook_sha256[:12]}… of case {case_id}'s "
                           f"{gate} decision is not in the store")
    rulebook = parse_rulebook(snapshot.text, source=f"{snapshot.name} {snapshot.version} "
                                                    "(stored)")
    replay = DECIDERS[gate](rulebook, stored_facts(gate, decision.facts))  # type: ignore[arg-type]
    stored = {"fired": decision.fired, "trail": decision.trail, "outcome": decision.outcome}
    replayed = {"fired": replay.fired, "trail": [step.to_dict() for step in replay.trail],
                "outcome": replay.outcome()}
    return Explanation(case_id=case_id, gate=gate, round=decision.round,
                       rulebook=rulebook.ref(), stored=stored, replayed=replayed,
                       reproduced=stored == replayed)
