"""What the two rulebook gates (triage, disposal) record about a decision."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cases.commits import DecisionRecord, check_rulebook_version
from rules.rulebook import Rulebook, current_rulebook
from rules.schema import InputKind

if TYPE_CHECKING:
    from flows.gates.common import StepContext


def rulebook_in_force(ctx: StepContext, kind: InputKind) -> Rulebook:
    """Today's rulebook, refused before any work if it was edited without a new version."""
    rulebook = current_rulebook(kind)
    check_rulebook_version(ctx.db, rulebook.name, rulebook.version, rulebook.sha256)
    return rulebook


def decision_record(rulebook: Rulebook, recorded: dict, outcome: dict) -> DecisionRecord:
    """`recorded` is Decision.to_dict(), serialised once for both the report and the store."""
    return DecisionRecord(rulebook_name=rulebook.name, rulebook_version=rulebook.version,
                          rulebook_sha256=rulebook.sha256, rulebook_text=rulebook.text,
                          facts=recorded["facts"], fired=recorded["fired"],
                          trail=recorded["trail"], outcome=outcome, engine=recorded["engine"])


def rulebook_info(rulebook: Rulebook) -> dict:
    return {**rulebook.ref(), "title": rulebook.title, "rules": len(rulebook.rules)}
