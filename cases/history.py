"""The 180-day history of many cases at once, for bulk triage: the same counts as
`cases.store.history` gives one case (a test holds them equal), from one read of the cases
created in the window instead of three queries per case."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from cases.db import Database
from cases.facts import History
from cases.models import Case, utcnow
from cases.store import HISTORY_DAYS


@dataclass(frozen=True)
class _Known:
    id: str
    hazards: frozenset[str]
    province: str


@dataclass
class HistoryIndex:
    products: Counter[str] = field(default_factory=Counter)
    enterprises: Counter[str] = field(default_factory=Counter)
    categories: dict[str, list[_Known]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, db: Database) -> HistoryIndex:
        index = cls()
        since = utcnow() - timedelta(days=HISTORY_DAYS)
        with db.read_session() as session:
            rows = session.execute(sa.select(
                col(Case.id), col(Case.product_key), col(Case.enterprise_key),
                col(Case.category), col(Case.hazards), col(Case.province))
                .where(col(Case.created_at) >= since)).all()
        for case_id, product, enterprise, category, hazards, province in rows:
            index.ids.add(case_id)
            index.products[product] += 1
            index.enterprises[enterprise] += 1
            index.categories.setdefault(category, []).append(
                _Known(case_id, frozenset(hazards), province))
        return index

    def of(self, case: Case) -> History:
        mine = 1 if case.id in self.ids else 0  # the case itself is not its own history
        same_category = [k for k in self.categories.get(case.category, ()) if k.id != case.id]
        hazards = set(case.hazards)
        return History(
            same_product=(self.products[case.product_key] - mine)
            if case.product_key.strip("|") else 0,
            same_enterprise=(self.enterprises[case.enterprise_key] - mine)
            if case.enterprise_key else 0,
            same_category_hazard=sum(1 for k in same_category if hazards & k.hazards),
            same_category=len(same_category),
            same_category_province=(sum(1 for k in same_category
                                        if k.province == case.province)
                                    if case.province else 0))
