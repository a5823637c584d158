"""The risk product catalogue: ranking, trend, the sampling plan's batches, the .docx and CSV
files, and refusals — on SQLite and PostgreSQL.

Cases are written straight into the store (rows, as a year of intake would leave them) so each
one's score can be worked out by hand from the rule in cases/catalogue.py.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from docx import Document
from hypothesis import given
from hypothesis import strategies as st

from cases import catalogue as cat
from cases import sampling_plan
from cases.actions import CENTRE_ZONE
from cases.commits import current_vocabulary
from cases.errors import InvalidInput, NotFound
from cases.models import Case, GateRecord, Signal
from reports import catalogue as files
from reports.extract import docx_text
from reports.i18n import Catalog
from rules.domain import domain

PERIOD = cat.Period(datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date())
GENERATED_AT = datetime(2026, 4, 2, 1, 0, tzinfo=UTC)
RULES = {"scoring": cat.SCORING_RULES, "plan": sampling_plan.rules(100)}


def beijing(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CENTRE_ZONE)


def add_case(db, case_id: str, created: datetime, category: str, hazards: list[str], *,
             risk: str | None = None, priority: str | None = None,
             measures: tuple[str, ...] = (), closed: bool = False, signals: int = 1,
             injured: int = 0, severe: int = 0, out_of_scope: bool = False) -> None:
    with db.session() as s:
        gate, state = ("closed", "closed") if closed else ("triage", "active")
        s.add(Case(id=case_id, title=f"case {case_id}", state=state, gate=gate,
                   category=category, hazards=hazards, product_key=f"p:{case_id}",
                   enterprise_key=f"e:{case_id}", priority=priority, risk_level=risk,
                   measures=list(measures), opened_by="staff:t", created_at=created,
                   updated_at=created, closed_at=created if closed else None))
        s.flush()
        vocabulary = current_vocabulary(db, s)
        for n in range(signals):
            harm = {"count": injured, "severe": severe, "fatalities": 0, "children": 0} \
                if n == 0 else {"count": 0, "severe": 0, "fatalities": 0, "children": 0}
            s.add(Signal(case_id=case_id, channel="complaint_12365", reference=f"{case_id}-{n}",
                         received_at=created, payload={"injuries": harm}, imported_at=created,
                         vocabulary_sha256=vocabulary))
        if priority is not None:
            s.add(GateRecord(case_id=case_id, gate="triage", round=1, actor="rulebook:t",
                             completed_at=created,
                             outcome={"priority": priority,
                                      "flags": ["out_of_scope"] if out_of_scope else []}))


@pytest.fixture
def store(db):
    add_two_periods(db)
    return db


def add_two_periods(db) -> None:
    """Two periods of cases; the comments give each case's points."""
    # March 2026 (the period)
    add_case(db, "A", beijing(3, 2), "toys", ["choking"], risk="serious", priority="P1",
             measures=("recall", "consumer_warning"), closed=True)  # 10 + 3 recall = 13
    add_case(db, "B", beijing(3, 5), "toys", ["choking", "injuries"], risk="serious",
             priority="P2", signals=3, injured=2, severe=1)  # 10 + 2 + (2+2) + 1 open = 17
    add_case(db, "C", beijing(3, 9), "electrical_appliances", ["electric_shock"],
             priority="P1")  # not assessed: P1 6 + 1 open = 7
    add_case(db, "D", beijing(3, 12), "electrical_appliances", ["fire"], risk="high",
             priority="P3", measures=("delisting",), closed=True)  # 6
    add_case(db, "E", beijing(3, 15), "cosmetics", ["chemical"], risk="low", priority="P4",
             closed=True)  # 1
    add_case(db, "F", beijing(3, 31, 23, 30), "cosmetics", [], risk="medium",
             priority="P3")  # last minutes of the period (15:30 UTC): 3 + 1 open = 4
    add_case(db, "G", beijing(3, 20), "food", [], priority="P4", closed=True,
             out_of_scope=True)  # referred at triage: counted, not ranked
    add_case(db, "I", beijing(3, 25), "kitchenware", ["burns"])  # not triaged: 1 + 1 = 2
    add_case(db, "H", beijing(4, 1, 0, 10), "toys", ["choking"], risk="serious",
             priority="P1")  # 31 March 16:10 UTC but 1 April in Beijing: not in the period
    # 29 January – 28 February 2026 (the previous period, 31 days)
    add_case(db, "P1", beijing(2, 10), "toys", ["choking"], risk="low", priority="P4",
             closed=True)  # 1
    add_case(db, "P2", beijing(2, 20), "electrical_appliances", ["fire"], risk="serious",
             priority="P1", measures=("recall",), closed=True)  # 13
    add_case(db, "P3", beijing(1, 29, 0, 30), "cosmetics", ["chemical"], risk="low",
             priority="P4", closed=True)  # first minutes of the previous period: 1
    add_case(db, "P4", beijing(1, 28, 23, 30), "cosmetics", ["chemical"], risk="medium",
             priority="P4")  # before it: not counted


EXPECTED_PAIRS = [  # rank order: (category, hazard, cases, score, previous score, trend)
    ("toys", "choking", 2, 30, 1, "up"),
    ("toys", "injuries", 1, 17, 0, "new"),
    ("electrical_appliances", "electric_shock", 1, 7, 0, "new"),
    ("electrical_appliances", "fire", 1, 6, 13, "down"),
    ("cosmetics", None, 1, 4, 0, "new"),
    ("kitchenware", "burns", 1, 2, 0, "new"),
    ("cosmetics", "chemical", 1, 1, 1, "same"),
]
EXPECTED_CATEGORIES = [("toys", 30, 1, "up"), ("electrical_appliances", 13, 13, "same"),
                       ("cosmetics", 5, 1, "up"), ("kitchenware", 2, 0, "new")]


def test_ranking_counts_and_trend(store):
    found = cat.catalogue(store, PERIOD)
    assert [(r.category, r.hazard, r.cases, r.score, r.previous_score, r.trend)
            for r in found.rows] == EXPECTED_PAIRS
    assert [r.rank for r in found.rows] == list(range(1, 8))
    assert [(r.category, r.score, r.previous_score, r.trend)
            for r in found.categories] == EXPECTED_CATEGORIES
    assert (found.cases, found.ranked_cases, found.unassessed, found.out_of_scope,
            found.previous_cases) == (8, 7, 2, 1, 3)
    toys = found.categories[0]
    assert (toys.signals, toys.p1, toys.open, toys.injured, toys.recalls) == (4, 1, 1, 2, 1)
    assert toys.levels == {"serious": 2, "high": 0, "medium": 0, "low": 0, "unassessed": 0}
    assert toys.measures == {"consumer_warning": 1, "recall": 1}
    assert toys.hazards == ("choking", "injuries")
    shock = found.rows[2]
    assert (shock.p1, shock.levels["unassessed"]) == (1, 1)
    assert found.previous == cat.Period(datetime(2026, 1, 29).date(),
                                        datetime(2026, 2, 28).date())


def test_the_same_store_gives_the_same_hash_and_a_change_a_new_one(store):
    first = cat.catalogue(store, PERIOD)
    assert cat.catalogue(store, PERIOD).data_hash == first.data_hash
    add_case(store, "J", beijing(3, 3), "toys", ["choking"], risk="low", priority="P4")
    assert cat.catalogue(store, PERIOD).data_hash != first.data_hash


def test_sampling_plan_follows_the_rule(store):
    found = cat.catalogue(store, PERIOD)
    plan = sampling_plan.plan(found.categories, 100)
    # toys 30 of 50 is under 80 %, with appliances 43 reaches it. 5 each, then 90 shared
    # 30:13 — 62.79 and 27.21, the spare batch to the larger remainder.
    assert [(f.category.category, f.batches) for f in plan] == [
        ("toys", 68), ("electrical_appliances", 32)]
    assert [f.share for f in plan] == [Fraction(30, 43), Fraction(13, 43)]
    assert [f.batches for f in sampling_plan.plan(found.categories, 7)] == [7]
    assert [f.batches for f in sampling_plan.plan(found.categories, 3)] == [3]
    why = files.why(plan[0], "zh")
    assert why.startswith("玩具：本期案件 2 起") and "窒息（小零件吞咽）、机械伤害" in why
    assert "68 批次" in why and "上升（1 → 30）" in why
    assert files.why(plan[1], "en") == (
        "Electrical appliances: 2 case(s) this period, 1 of serious or high risk, 1 not yet "
        "assessed, 1 P1; 2 signal(s), 0 injured, 0 recall(s); main hazards: Electric shock, "
        "Fire; against the previous period: Unchanged (13). Risk score 13, 30.2% of the focus "
        "categories' score: 32 batches suggested.")


@given(scores=st.lists(st.integers(0, 1000), min_size=1, max_size=8),
       extra=st.integers(0, 500))
def test_allocation_sums_to_the_budget_and_is_proportional(scores, extra):
    minimum = 5
    budget = minimum * len(scores) + extra
    batches = sampling_plan.allocate(scores, budget, minimum)
    assert sum(batches) == budget and min(batches) >= minimum
    total = sum(scores)
    for score, given_batches in zip(scores, batches, strict=True):
        quota = Fraction(extra * score, total) if total else Fraction(extra, len(scores))
        assert quota - 1 < given_batches - minimum < quota + 1  # floor or ceiling of its quota


def test_allocation_breaks_ties_by_rank():
    assert sampling_plan.allocate([1, 1, 1], 10, 0) == [4, 3, 3]
    assert sampling_plan.allocate([0, 0], 11, 5) == [6, 5]


def table_rows(document, index: int) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in document.tables[index].rows]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_docx_and_csv_carry_the_ranked_rows_in_the_language(store, tmp_path, lang):
    found = cat.catalogue(store, PERIOD)
    plan = sampling_plan.plan(found.categories, 100)
    written = files.write(found, plan, out_dir=tmp_path, lang=lang, budget=100, rules=RULES,
                          generated_at=GENERATED_AT, generated_by="local:test")
    vocab = domain()
    assert written.docx.name == f"2026-03-01_2026-03-31_{lang}.docx"
    document = Document(str(written.docx))
    identity, categories, pairs, focus = (table_rows(document, n) for n in range(4))
    no_hazard = files.hazard_name(None, lang)
    assert [row[1:3] for row in pairs[1:]] == [
        [vocab.categories.name(c, lang), vocab.hazards.name(h, lang) if h else no_hazard]
        for c, h, *_ in EXPECTED_PAIRS]
    assert [row[0] for row in pairs[1:]] == [str(n) for n in range(1, 8)]
    assert [row[8] for row in pairs[1:]] == [str(p[3]) for p in EXPECTED_PAIRS]
    assert [row[1] for row in categories[1:]] == [
        vocab.categories.name(c, lang) for c, *_ in EXPECTED_CATEGORIES]
    assert [row[1:3] for row in focus[1:]] == [[vocab.categories.name("toys", lang), "68"],
                                               [vocab.categories.name(
                                                   "electrical_appliances", lang), "32"]]
    text = docx_text(written.docx)
    for code in ("electrical_appliances", "electric_shock", "kitchenware"):
        assert code not in text  # names, not codes
    facts = dict(row for row in identity[1:])
    assert found.data_hash in facts.values() and found.identity in facts.values()
    assert written.template_version in facts.values()
    assert ("风险产品目录报告" if lang == "zh" else "Risk product catalogue report") in text

    raw = written.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0][:5] == ([
        "排名", "产品类别代码", "产品类别", "危害类型代码", "危害类型"] if lang == "zh" else [
        "Rank", "Category code", "Product category", "Hazard code", "Hazard"])
    header = lines[0]
    assert header[-4:-1] == [Catalog.load(lang).t(f"catalogue.column.{key}")
                             for key in ("score", "previous_score", "trend_code")]
    got = [(r[1], r[3] or None, int(r[5]), int(r[-4]), int(r[-3]), r[-2]) for r in lines[1:]]
    assert got == [(c, h, n, s, p, t) for c, h, n, s, p, t in EXPECTED_PAIRS]
    assert [r[2] for r in lines[1:]] == [vocab.categories.name(c, lang)
                                         for c, *_ in EXPECTED_PAIRS]
    plan_lines = list(csv.reader(io.StringIO(written.plan_csv.read_bytes()
                                             .decode("utf-8-sig"))))
    assert [(r[1], int(r[3])) for r in plan_lines[1:]] == [("toys", 68),
                                                            ("electrical_appliances", 32)]
    assert sum(int(r[3]) for r in plan_lines[1:]) == 100
    manifest = json.loads(written.manifest.read_text(encoding="utf-8"))
    assert manifest["data_hash"] == found.data_hash
    assert manifest["files"]["docx"]["sha256"] == written.sha256["docx"]


def test_same_data_keeps_the_files_other_data_is_not_overwritten(store, tmp_path):
    found = cat.catalogue(store, PERIOD)
    plan = sampling_plan.plan(found.categories, 100)

    def write(catalogue, at, **options):
        return files.write(catalogue, sampling_plan.plan(catalogue.categories, 100),
                           out_dir=tmp_path / "out", lang="zh", budget=100, rules=RULES,
                           generated_at=at, generated_by="local:test", **options)

    first = write(found, GENERATED_AT)
    again = write(cat.catalogue(store, PERIOD), datetime(2026, 5, 1, tzinfo=UTC))
    assert again.unchanged and again.sha256 == first.sha256
    # Rendering the same data at the same time elsewhere reproduces the file byte for byte.
    elsewhere = files.write(found, plan, out_dir=tmp_path / "other", lang="zh", budget=100,
                            rules=RULES, generated_at=GENERATED_AT, generated_by="local:test")
    assert elsewhere.sha256 == first.sha256 and elsewhere.data_hash == first.data_hash

    add_case(store, "J", beijing(3, 3), "toys", ["choking"], risk="low", priority="P4")
    changed = cat.catalogue(store, PERIOD)
    with pytest.raises(files.OutputExists, match="holds other data"):
        write(changed, GENERATED_AT)
    assert first.docx.read_bytes() and files._sha256(first.docx) == first.sha256["docx"]
    replaced = write(changed, GENERATED_AT, overwrite=True)
    assert not replaced.unchanged and replaced.data_hash == changed.data_hash != first.data_hash
    # Another budget is other content too, though the store is the same.
    with pytest.raises(files.OutputExists):
        files.write(changed, sampling_plan.plan(changed.categories, 50), out_dir=tmp_path / "out",
                    lang="zh", budget=50, rules=RULES, generated_at=GENERATED_AT,
                    generated_by="local:test")


@pytest.mark.parametrize(("first", "last", "message"), [
    ("2026-03-31", "2026-03-01", "--from 2026-03-31 is after --to 2026-03-01"),
    ("2026-02-30", "2026-03-01", "--from '2026-02-30': no such date"),
    ("20260301", "2026-03-31", "--from '20260301': expected a date YYYY-MM-DD"),
    ("2026-03-01", "next week", "--to 'next week': expected a date YYYY-MM-DD"),
    ("1900-01-01", "2026-03-01", "expected a date from 1970-01-01"),
    ("1990-01-01", "2026-03-01", "a catalogue covers at most 3660 days"),
])
def test_bad_periods_are_refused(first, last, message):
    with pytest.raises(InvalidInput, match=message):
        cat.parse_period(first, last)


def test_a_period_without_cases_is_refused_naming_what_the_store_holds(store):
    with pytest.raises(NotFound, match="no cases to rank were created from 2025-03-01 to "
                       "2025-03-31; the store holds cases created from 2026-01-28 to "
                       "2026-04-01"):
        cat.catalogue(store, cat.parse_period("2025-03-01", "2025-03-31"))


def test_a_period_with_only_referred_cases_says_so(db):
    add_case(db, "G", beijing(3, 20), "food", [], priority="P4", closed=True,
             out_of_scope=True)
    with pytest.raises(NotFound, match=r"\(1 case\(s\), all referred at triage as out of "
                                       "scope\\)"):
        cat.catalogue(db, PERIOD)
