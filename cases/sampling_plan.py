"""The suggested focus of the next supervision sampling plan (下一期监督抽查重点建议), from the
ranked categories of a risk product catalogue (cases/catalogue.py).

Which categories: the highest-ranked ones until together they hold at least 80 % of the score
of all ranked categories, at most 8, and no more than the budget can give its minimum each.
How many batches: each selected category gets the minimum (5, or the budget shared equally
when it is smaller), and the rest of the budget is shared in proportion to score by the
largest-remainder method (exact fractions; ties go to the higher rank), so the batches add up
to the budget exactly. The reasons (counts and hazards) travel with each item; the report
words them in Chinese and English.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cases.catalogue import Row
from cases.errors import InvalidInput

DEFAULT_BATCHES = 100
MAX_BATCHES = 100_000
MIN_BATCHES = 5  # fewer batches of a category say little about its market
MAX_FOCUS = 8
FOCUS_SHARE = Fraction(4, 5)
TOP_HAZARDS = 3  # hazards named in a category's reason


@dataclass(frozen=True)
class Focus:
    """One category of the suggested plan, with what its reason cites."""

    rank: int
    category: Row
    batches: int
    share: Fraction  # of the selected categories' score

    @property
    def hazards(self) -> tuple[str, ...]:
        return self.category.hazards[:TOP_HAZARDS]

    def to_dict(self) -> dict[str, Any]:
        row = self.category
        return {"rank": self.rank, "category": row.category, "batches": self.batches,
                "score": row.score, "share": float(self.share), "cases": row.cases,
                "serious_high": row.serious_high, "unassessed": row.levels["unassessed"],
                "p1": row.p1, "signals": row.signals, "injured": row.injured,
                "recalls": row.recalls, "hazards": list(self.hazards), "trend": row.trend,
                "previous_score": row.previous_score}


def rules(budget: int) -> dict[str, Any]:
    """The selection and allocation rule's parameters, as the report words them."""
    return {"share": f"{FOCUS_SHARE.numerator * 100 // FOCUS_SHARE.denominator}%",
            "max_focus": MAX_FOCUS, "minimum": MIN_BATCHES, "budget": budget,
            "top_hazards": TOP_HAZARDS}


def check_budget(batches: int) -> int:
    if not 1 <= batches <= MAX_BATCHES:
        raise InvalidInput(f"--batches {batches}: expected 1 to {MAX_BATCHES}")
    return batches


def select(categories: Sequence[Row], budget: int) -> list[Row]:
    """The top categories the plan should focus on (module docstring)."""
    candidates = [row for row in categories if row.score > 0]
    total = sum(row.score for row in candidates)
    limit = min(MAX_FOCUS, max(1, budget // MIN_BATCHES))
    chosen: list[Row] = []
    held = 0
    for row in candidates[:limit]:
        chosen.append(row)
        held += row.score
        if held >= FOCUS_SHARE * total:
            break
    return chosen


def allocate(scores: Sequence[int], budget: int, minimum: int) -> list[int]:
    """`budget` batches over items of these scores: `minimum` each, the rest in proportion
    to score by largest remainder (ties to the earlier item). The result sums to `budget`."""
    if not scores or minimum * len(scores) > budget:
        raise ValueError("allocate: no items, or the minimum exceeds the budget")
    rest = budget - minimum * len(scores)
    total = sum(scores)
    quotas = [Fraction(rest * s, total) if total else Fraction(rest, len(scores))
              for s in scores]
    shares = [int(q) for q in quotas]
    left = rest - sum(shares)
    order = sorted(range(len(scores)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for index in order[:left]:
        shares[index] += 1
    return [minimum + s for s in shares]


def plan(categories: Sequence[Row], budget: int) -> list[Focus]:
    """The suggested focus: categories chosen and their batches, summing to `budget`."""
    chosen = select(categories, check_budget(budget))
    if not chosen:
        return []
    minimum = min(MIN_BATCHES, budget // len(chosen))
    batches = allocate([row.score for row in chosen], budget, minimum)
    total = sum(row.score for row in chosen)
    return [Focus(rank=n, category=row, batches=b, share=Fraction(row.score, total))
            for n, (row, b) in enumerate(zip(chosen, batches, strict=True), start=1)]
