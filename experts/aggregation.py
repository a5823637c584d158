"""Delphi statistics of one scoring round (DESIGN.md "Expert assessment protocol").

Medians rather than means because scores are ordinal; the *upper* median (and, for probability,
the more probable median) because with an even count the panel's view is resolved towards
protecting consumers. Every statistic here is recomputable from the stored scores, so a report
can show its working and an auditor can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from experts.protocol import Protocol
from rules.domain import domain
from rules.risk_matrix import (
    BAND_LABELS,
    LEVELS,
    SEVERITIES,
    RiskLevel,
    Sensitivity,
    level,
    level_index,
    sensitivity,
)

NextStep = Literal["consensus", "next_round", "final_without_consensus"]


@dataclass(frozen=True)
class ExpertScore:
    """One expert's score in one round, as plain data built from the stored record."""

    expert_id: str
    severity: int
    band: int
    measures: tuple[str, ...]
    rationale: str
    vulnerable_users: bool = False
    spread: str | None = None
    confidence: int = 3

    @property
    def level(self) -> RiskLevel:
        """The expert's own risk level: the matrix of their own severity and band."""
        return level(self.severity, self.band)


def upper_median(values: Sequence[int]) -> int:
    """The middle value; with an even count the higher of the two middle values."""
    if not values:
        raise ValueError("median of no values")
    return sorted(values)[len(values) // 2]


def _median_band(bands: Sequence[int]) -> int:
    # Band 0 is the most probable, so "upper in probability" is the lower of two middle bands.
    return -upper_median([-b for b in bands])


# --------------------------------------------------------------------------------------------
# agreement on measures


@dataclass(frozen=True)
class MeasureAgreement:
    """How the panel ranked the measures, and Kendall's W as the agreement on that ranking."""

    ranking: tuple[tuple[str, float, int], ...]  # (code, mean rank, votes), best first
    majority: tuple[str, ...]  # recommended by at least half the experts, in ranking order
    kendall_w: float | None  # None with fewer than 2 experts or fewer than 2 measures

    def to_dict(self) -> dict[str, Any]:
        return {
            "ranking": [{"code": c, "mean_rank": r, "votes": v} for c, r, v in self.ranking],
            "majority": list(self.majority),
            "kendall_w": self.kendall_w,
        }


def _protectiveness(code: str) -> tuple[int, str]:
    measures = domain().measures
    return (measures.rank(code), code) if code in measures else (len(measures.codes()), code)


def measure_agreement(rankings: Sequence[Sequence[str]]) -> MeasureAgreement:
    """Rank sums and Kendall's W (with the tie correction) over the union of listed measures.

    Each expert ranks the measures they listed 1..k in their order of preference; the measures
    they did not list share the remaining ranks k+1..n (each gets their average), because
    leaving a measure out says "less preferred than all I listed", nothing finer.
    """
    from scipy.stats import rankdata  # 0.8 s to import: only where a round is aggregated

    lists = [tuple(r) for r in rankings]
    for ranked in lists:
        if len(set(ranked)) != len(ranked):
            raise ValueError(f"a ranking lists a measure twice: {list(ranked)}")
    items = sorted({code for ranked in lists for code in ranked}, key=_protectiveness)
    m, n = len(lists), len(items)
    if m == 0 or n == 0:
        return MeasureAgreement((), (), None)
    column = {code: i for i, code in enumerate(items)}
    ranks = np.empty((m, n))
    tie_sum = 0.0
    for j, ranked in enumerate(lists):
        # Listed measures get their list position; unlisted ones tie behind them.
        order = np.full(n, len(ranked), dtype=float)
        for position, code in enumerate(ranked):
            order[column[code]] = position
        ranks[j] = rankdata(order)  # "average" method: ties share the mean rank
        unlisted = n - len(ranked)
        if unlisted > 1:
            tie_sum += unlisted**3 - unlisted
    sums = ranks.sum(axis=0)
    votes = [sum(code in ranked for ranked in lists) for code in items]
    best_first = sorted(range(n), key=lambda i: (sums[i], _protectiveness(items[i])))
    ranking = tuple((items[i], float(sums[i] / m), votes[i]) for i in best_first)
    majority = tuple(code for code, _, v in ranking if 2 * v >= m)
    kendall_w = None
    if m >= 2 and n >= 2:
        s = float(((sums - sums.mean()) ** 2).sum())
        denominator = m * m * (n**3 - n) - m * tie_sum
        if denominator > 0:
            kendall_w = min(1.0, max(0.0, 12 * s / denominator))  # clamp float dust only
    return MeasureAgreement(ranking, majority, kendall_w)


# --------------------------------------------------------------------------------------------
# one round


@dataclass(frozen=True)
class Outlier:
    """A score at least `outlier_distance` levels from the median: recorded as dissent."""

    expert_id: str
    level: RiskLevel
    distance: int
    rationale: str

    def to_dict(self) -> dict[str, Any]:
        return {"expert_id": self.expert_id, "level": self.level, "distance": self.distance,
                "rationale": self.rationale}


@dataclass(frozen=True)
class RoundResult:
    """The aggregated assessment of one round and the statistics behind the consensus call."""

    round_no: int
    n: int
    quorum_met: bool
    severity: int  # upper median
    band: int  # median in the direction of higher probability
    level: RiskLevel  # matrix of the median severity and median band
    sensitivity: Sensitivity
    expert_levels: dict[str, RiskLevel]  # expert id -> own level, ordered by id
    median_level: RiskLevel  # upper median of the experts' own levels
    iqr: float  # in levels (numpy's default linear percentile)
    share_within_one: float
    consensus: bool
    outliers: tuple[Outlier, ...]
    distributions: dict[str, dict[str, int]]  # level / severity / band -> value -> count
    vulnerable_users: bool  # more than half the panel says so
    vulnerable_votes: int
    spread: str | None  # upper median over the scopes' order (widest wins a tie)
    mean_confidence: float
    measures: MeasureAgreement
    rationales: tuple[str, ...]  # sorted by text: no order that hints at who wrote what

    @property
    def band_label(self) -> str:
        return BAND_LABELS[self.band]

    def to_dict(self) -> dict[str, Any]:
        return {
            "round_no": self.round_no,
            "n": self.n,
            "quorum_met": self.quorum_met,
            "severity": self.severity,
            "band": self.band,
            "band_label": self.band_label,
            "level": self.level,
            "sensitivity": self.sensitivity.to_dict(),
            "expert_levels": dict(self.expert_levels),
            "median_level": self.median_level,
            "iqr": self.iqr,
            "share_within_one": self.share_within_one,
            "consensus": self.consensus,
            "outliers": [o.to_dict() for o in self.outliers],
            "distributions": {k: dict(v) for k, v in self.distributions.items()},
            "vulnerable_users": self.vulnerable_users,
            "vulnerable_votes": self.vulnerable_votes,
            "spread": self.spread,
            "mean_confidence": self.mean_confidence,
            "measures": self.measures.to_dict(),
        }

    def feedback(self) -> dict[str, Any]:
        """The anonymised group feedback shown to the panel in the next round.

        No expert ids, and rationales sorted by text, so nothing ties a view to its author.
        """
        return {
            "round_no": self.round_no,
            "n": self.n,
            "severity": self.severity,
            "band": self.band,
            "band_label": self.band_label,
            "level": self.level,
            "median_level": self.median_level,
            "iqr": self.iqr,
            "share_within_one": self.share_within_one,
            "consensus": self.consensus,
            "outliers": len(self.outliers),
            "distributions": {k: dict(v) for k, v in self.distributions.items()},
            "vulnerable_users": self.vulnerable_users,
            "spread": self.spread,
            "measures": [{"code": c, "mean_rank": r, "votes": v}
                         for c, r, v in self.measures.ranking],
            "kendall_w": self.measures.kendall_w,
            "rationales": list(self.rationales),
        }


def _distributions(scores: Sequence[ExpertScore]) -> dict[str, dict[str, int]]:
    return {
        "level": {lv: sum(s.level == lv for s in scores) for lv in LEVELS},
        "severity": {str(v): sum(s.severity == v for s in scores) for v in SEVERITIES},
        "band": {label: sum(s.band == i for s in scores) for i, label in enumerate(BAND_LABELS)},
    }


def _spread(scores: Sequence[ExpertScore]) -> str | None:
    scopes = domain().scopes.codes()
    for s in scores:
        if s.spread is not None and s.spread not in scopes:
            raise ValueError(f"expert {s.expert_id}: unknown spread {s.spread!r}")
    given = [scopes.index(s.spread) for s in scores if s.spread is not None]
    return scopes[upper_median(given)] if given else None


def aggregate_round(round_no: int, scores: Sequence[ExpertScore],
                    protocol: Protocol) -> RoundResult:
    """Aggregate one round's scores. Outliers are kept and reported, never dropped."""
    if not scores:
        raise ValueError(f"round {round_no} has no scores to aggregate")
    ids = [s.expert_id for s in scores]
    if len(set(ids)) != len(ids):
        raise ValueError(f"round {round_no}: more than one score from the same expert")
    ordered = sorted(scores, key=lambda s: s.expert_id)
    n = len(ordered)
    severity = upper_median([s.severity for s in ordered])
    band = _median_band([s.band for s in ordered])
    indices = [level_index(s.level) for s in ordered]
    median_index = upper_median(indices)
    q75, q25 = np.percentile(indices, [75, 25])  # numpy default: linear interpolation
    iqr = float(q75 - q25)
    share = sum(abs(i - median_index) <= 1 for i in indices) / n
    outliers = sorted(
        (Outlier(s.expert_id, s.level, abs(i - median_index), s.rationale)
         for s, i in zip(ordered, indices, strict=True)
         if abs(i - median_index) >= protocol.outlier_distance),
        key=lambda o: (-o.distance, o.expert_id))
    votes = sum(s.vulnerable_users for s in ordered)
    return RoundResult(
        round_no=round_no,
        n=n,
        quorum_met=n >= protocol.quorum,
        severity=severity,
        band=band,
        level=level(severity, band),
        sensitivity=sensitivity(severity, band),
        expert_levels={s.expert_id: s.level for s in ordered},
        median_level=LEVELS[median_index],
        iqr=iqr,
        share_within_one=share,
        consensus=iqr <= protocol.consensus_max_iqr and share >= protocol.consensus_min_share,
        outliers=tuple(outliers),
        distributions=_distributions(ordered),
        vulnerable_users=2 * votes > n,
        vulnerable_votes=votes,
        spread=_spread(ordered),
        mean_confidence=sum(s.confidence for s in ordered) / n,
        measures=measure_agreement([s.measures for s in ordered]),
        rationales=tuple(sorted(s.rationale for s in ordered)),
    )


def next_step(rounds: Sequence[RoundResult], protocol: Protocol) -> NextStep:
    """After a round closes: stop at consensus, else another round until max_rounds."""
    if not rounds:
        raise ValueError("no round has been aggregated yet")
    if rounds[-1].consensus:
        return "consensus"
    if len(rounds) < protocol.max_rounds:
        return "next_round"
    return "final_without_consensus"
