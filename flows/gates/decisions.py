"""What the two rulebook gates (triage, disposal) record about a decision."""

from __future__ import annotations

from cases.commits import DecisionRecord
from rules.rulebook import Rulebook


def decision_record(rulebook: Rulebook, recorded: dict, outcome: dict) -> DecisionRecord:
    """`recorded` is Decision.to_dict(), serialised once for both the report and the store."""
    return DecisionRecord(rulebook_name=rulebook.name, rulebook_version=rulebook.version,
                          rulebook_sha256=rulebook.sha256, rulebook_text=rulebook.text,
                          facts=recorded["facts"], fired=recorded["fired"],
                          trail=recorded["trail"], outcome=outcome, engine=recorded["engine"])


def rulebook_info(rulebook: Rulebook) -> dict:
    return {**rulebook.ref(), "title": rulebook.title, "rules": len(rulebook.rules)}
