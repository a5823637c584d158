"""A case's panel assessment: its Delphi rounds from the stored scores, and the summary that
the assessment gate records and the disposal rulebook reads.

The summary is built once, here, from the final round, stored as the assessment gate's outcome,
and read back by the disposal gate (`AssessmentSummary.from_outcome`): the two gates cannot
disagree on what the panel concluded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from typing import Protocol as TypingProtocol

from experts.aggregation import ExpertScore, RoundResult, aggregate_round
from experts.protocol import Protocol
from rules.risk_matrix import BAND_LABELS


class StoredScore(TypingProtocol):
    """What a stored score row offers (cases.models.Score)."""

    expert_id: str
    round_no: int
    severity: int
    band: int
    measures: list[str]
    rationale: str
    vulnerable_users: bool
    spread: str | None
    confidence: int


def expert_score(row: StoredScore) -> ExpertScore:
    return ExpertScore(expert_id=row.expert_id, severity=row.severity, band=row.band,
                       measures=tuple(row.measures), rationale=row.rationale,
                       vulnerable_users=row.vulnerable_users, spread=row.spread,
                       confidence=row.confidence)


def round_results(scores_by_round: Mapping[int, Iterable[StoredScore]],
                  protocol: Protocol) -> list[RoundResult]:
    """Every round aggregated, in order, from each expert's current score in it."""
    return [aggregate_round(round_no, [expert_score(s) for s in scores_by_round[round_no]],
                            protocol)
            for round_no in sorted(scores_by_round)]


@dataclass(frozen=True)
class AssessmentSummary:
    """The panel's aggregated assessment, as the disposal rulebook needs it."""

    risk_level: str
    severity: int
    band: int
    band_label: str
    level_stable: bool
    consensus: bool
    rounds: int
    scope: str | None
    vulnerable_users: bool
    panel_measures: list[str]
    kendall_w: float | None

    @classmethod
    def from_rounds(cls, results: Sequence[RoundResult]) -> AssessmentSummary:
        final = results[-1]
        return cls(risk_level=final.level, severity=final.severity, band=final.band,
                   band_label=BAND_LABELS[final.band], level_stable=final.sensitivity.stable,
                   consensus=final.consensus, rounds=len(results), scope=final.spread,
                   vulnerable_users=final.vulnerable_users,
                   panel_measures=list(final.measures.majority),
                   kendall_w=final.measures.kendall_w)

    def to_outcome(self) -> dict[str, Any]:
        """The assessment gate's stored outcome."""
        return asdict(self)

    @classmethod
    def from_outcome(cls, outcome: Mapping[str, Any]) -> AssessmentSummary:
        return cls(**{name: outcome[name] for name in cls.__dataclass_fields__})
