"""The expert protocol's parameters (DESIGN.md "Expert assessment protocol").

They are fixed before round 1, stored with each scoring round and printed in the reports, so an
auditor can check every consensus call against the thresholds that were in force at the time.
Validation is strict because a protocol read back from storage must mean exactly what it meant
when the round opened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Protocol:
    """Panel size, quorum, rounds and the consensus and outlier thresholds of one assessment."""

    panel_size: int = 5
    quorum: int = 4
    reserves: int = 2
    max_rounds: int = 3
    consensus_max_iqr: float = 1.0  # IQR of the experts' own risk levels, counted in levels
    consensus_min_share: float = 0.75  # share of experts within one level of the median level
    outlier_distance: int = 2  # levels from the median level that make a score dissent
    max_open_seats: int = 6  # workload cap: open panel seats per expert
    round_days: int = 7  # a round's deadline, from its opening (a called reserve: from then)
    remind_hours: int = 48  # a reminder goes out this long before the deadline
    senior_years: int = 10  # years of experience that make an expert senior; one sits at least
    employment_years: int = 3  # work for a party of the case this recent is a conflict

    def __post_init__(self) -> None:
        for name in ("panel_size", "quorum", "reserves", "max_rounds", "outlier_distance",
                     "max_open_seats", "round_days", "remind_hours", "senior_years",
                     "employment_years"):
            value = getattr(self, name)
            if not _is_int(value):
                raise ValueError(f"protocol: {name} must be a whole number, got {value!r}")
        for name in ("consensus_max_iqr", "consensus_min_share"):
            value = getattr(self, name)
            if not _is_number(value):
                raise ValueError(f"protocol: {name} must be a number, got {value!r}")
            # Stored as float so that to_dict() round-trips to an equal Protocol.
            object.__setattr__(self, name, float(value))
        size = self.panel_size
        if size < 3 or size % 2 == 0:
            raise ValueError(f"protocol: panel_size must be an odd number of at least 3 "
                             f"(so the median is one expert's view), got {size}")
        needed = size // 2 + 1
        if not needed <= self.quorum <= size:
            raise ValueError(f"protocol: quorum must be a strict majority of the panel of {size} "
                             f"({needed}..{size} experts), got {self.quorum}")
        if self.reserves < 0:
            raise ValueError(f"protocol: reserves must be 0 or more, got {self.reserves}")
        if not 1 <= self.max_rounds <= 5:
            raise ValueError(f"protocol: max_rounds must be 1..5, got {self.max_rounds}")
        if self.consensus_max_iqr < 0:
            raise ValueError("protocol: consensus_max_iqr (in risk levels) must be 0 or more, "
                             f"got {self.consensus_max_iqr}")
        if not 0 < self.consensus_min_share <= 1:
            raise ValueError("protocol: consensus_min_share must be a share in (0, 1], "
                             f"got {self.consensus_min_share}")
        if self.outlier_distance < 1:
            raise ValueError("protocol: outlier_distance (in risk levels) must be at least 1, "
                             f"got {self.outlier_distance}")
        if self.max_open_seats < 1:
            raise ValueError("protocol: max_open_seats must be at least 1, "
                             f"got {self.max_open_seats}")
        if not 1 <= self.round_days <= 90:
            raise ValueError(f"protocol: round_days must be 1..90, got {self.round_days}")
        if not 0 <= self.remind_hours < self.round_days * 24:
            raise ValueError("protocol: remind_hours must be 0 or more and shorter than the "
                             f"round, got {self.remind_hours}")

        if not 0 <= self.senior_years <= 50:
            raise ValueError(f"protocol: senior_years must be 0..50, got {self.senior_years}")
        if not 0 <= self.employment_years <= 30:
            raise ValueError("protocol: employment_years must be 0..30, "
                             f"got {self.employment_years}")

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        """Read a stored protocol; missing keys take the defaults, unknown keys are refused
        (a misspelt threshold must not silently fall back to its default)."""
        if not isinstance(data, dict):
            raise ValueError(f"protocol: expected a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known), key=str)
        if unknown:
            raise ValueError(f"protocol: unknown parameter {unknown[0]!r}; known parameters: "
                             + ", ".join(known))
        return cls(**data)
