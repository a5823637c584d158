"""The semi-monthly bulletin's data: periods, counts as of the period's end, new serious risks,
escalation warnings, overdue follow-up and the data hash — on SQLite and PostgreSQL.

Cases are written straight into the store with the gate records a real run leaves (assessment,
disposal, links, actions), at chosen Beijing times, so each count can be worked out by hand.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlmodel import select

from cases import bulletin as bul
from cases.actions import CENTRE_ZONE
from cases.catalogue import Period
from cases.commits import current_vocabulary
from cases.errors import InvalidInput
from cases.models import Case, GateRecord, Signal
from cases.models_intake import CaseLink
from cases.models_oversight import FollowUpAction

PERIOD = Period(date(2026, 12, 1), date(2026, 12, 15))


def beijing(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CENTRE_ZONE)


def add_case(db, case_id: str, created: datetime, category: str, hazards: list[str],
             channel: str = "complaint_12365", *, closed: datetime | None = None,
             assessed: tuple[str, datetime, list[str]] | None = None,
             disposed: tuple[list[str], datetime] | None = None, title: str = "") -> None:
    """A case with its first signal and, optionally, its assessment and disposal records."""
    with db.session() as s:
        s.add(Case(id=case_id, title=title or f"case {case_id}",
                   state="closed" if closed else "active", gate="closed" if closed else "triage",
                   category=category, hazards=hazards, product_key=f"p:{case_id}",
                   enterprise_key=f"e:{case_id}", risk_level=assessed[0] if assessed else None,
                   measures=disposed[0] if disposed else [], opened_by="staff:t",
                   created_at=created, updated_at=created, closed_at=closed))
        s.flush()
        vocabulary = current_vocabulary(db, s)
        s.add(Signal(case_id=case_id, channel=channel, reference=f"{case_id}-0",
                     received_at=created, payload={}, imported_at=created,
                     vocabulary_sha256=vocabulary))
        s.add(Signal(case_id=case_id, channel="online_opinion", reference=f"{case_id}-1",
                     received_at=created, payload={}, imported_at=created,
                     vocabulary_sha256=vocabulary))  # a later signal: not the opening channel
        if assessed:
            level, at, panel = assessed
            s.add(GateRecord(case_id=case_id, gate="assessment", actor="panel", completed_at=at,
                             outcome={"risk_level": level, "severity": 4, "band": 2,
                                      "band_label": "> 1/100", "panel_measures": panel}))
        if disposed:
            measures, at = disposed
            s.add(GateRecord(case_id=case_id, gate="disposal", actor="riskgate", completed_at=at,
                             outcome={"measures": [{"code": m, "rank": n, "reasons": []}
                                                   for n, m in enumerate(measures, 1)]}))


def add_action(db, case_id: str, number: int, measure: str, due: date, status: str = "open",
               finished: datetime | None = None) -> None:
    created = beijing(11, 1)
    with db.session() as s:
        s.add(FollowUpAction(case_id=case_id, number=number, measure=measure, lead="lead",
                             due_on=due, status=status, created_at=created,
                             updated_at=finished or created, updated_by="staff:t",
                             completed_at=finished if status == "completed" else None))


def add_link(db, escalation: str, case_id: str, at: datetime) -> None:
    with db.session() as s:
        s.add(CaseLink(case_id=escalation, linked_case_id=case_id, kind="escalation",
                       created_at=at, detail={"pattern": {
                           "kind": "category", "hazard": "choking", "category": "toys",
                           "industry": "", "province": ""}}))


@pytest.fixture
def store(db):
    add_fortnight(db)
    return db


def add_fortnight(db) -> None:
    """The first half of December 2026 and its edges; comments say where each case counts."""
    # opened and closed in the period; assessed serious and disposed in it
    add_case(db, "A", beijing(12, 2), "toys", ["choking"], closed=beijing(12, 14),
             assessed=("serious", beijing(12, 5), ["recall"]),
             disposed=(["recall", "consumer_warning"], beijing(12, 8)))
    # opened; assessed only after the period: not assessed at its end
    add_case(db, "B", beijing(12, 3), "electrical_appliances", ["electric_shock"],
             "supervision_sampling", assessed=("high", beijing(12, 20), []))
    # opened in the first minutes of the period (30 November 16:05 UTC)
    add_case(db, "F", beijing(12, 1, 0, 5), "toys", ["injuries"], "supervision_sampling")
    # opened after the period (15 December 16:10 UTC is 16 December in Beijing)
    add_case(db, "E", beijing(12, 16, 0, 10), "toys", ["choking"])
    # opened before, closed in the period, assessed low and disposed before it
    add_case(db, "C", beijing(11, 20), "cosmetics", ["chemical"], closed=beijing(12, 10),
             assessed=("low", beijing(11, 25), []),
             disposed=(["hazard_disclosure"], beijing(11, 28)))
    # opened before, assessed serious in the period, disposal decided after it
    add_case(db, "D", beijing(11, 10), "kitchenware", ["burns", "fire"],
             assessed=("serious", beijing(12, 4), ["recall", "delisting"]),
             disposed=(["delisting"], beijing(12, 20)))
    # an escalation case opened in the period; the third link comes after the period
    add_case(db, "X", beijing(12, 6), "toys", ["choking"], "risk_monitoring",
             title="玩具窒息风险升级")
    add_link(db, "X", "A", beijing(12, 6))
    add_link(db, "X", "F", beijing(12, 6))
    add_link(db, "X", "B", beijing(12, 17))
    # follow-up actions of case C as they stood at the end of the period
    add_action(db, "C", 1, "hazard_disclosure", date(2026, 12, 5), "completed",
               beijing(12, 12))  # done in time for the bulletin: not overdue
    add_action(db, "C", 2, "recall", date(2026, 12, 10))  # open: 6 days overdue
    add_action(db, "C", 3, "delisting", date(2026, 12, 15), "in_progress")  # 1 day overdue
    add_action(db, "C", 4, "consumer_warning", date(2026, 12, 16))  # not yet due
    add_action(db, "C", 5, "risk_alert", date(2026, 12, 1), "completed",
               beijing(12, 20))  # completed only after the period: 15 days overdue then
    add_action(db, "C", 6, "standard_revision", date(2026, 12, 2), "withdrawn",
               beijing(12, 14))  # withdrawn in the period: not overdue


def test_counts_as_of_the_end_of_the_period(store):
    found = bul.bulletin(store, PERIOD)
    opened, closed = found.opened, found.closed
    assert opened.case_ids == ("A", "B", "F", "X")
    assert opened.channels == {"supervision_sampling": 2, "complaint_12365": 1,
                               "risk_monitoring": 1}
    assert opened.categories == {"toys": 3, "electrical_appliances": 1}
    assert opened.levels == {"serious": 1, "high": 0, "medium": 0, "low": 0, "unassessed": 3}
    assert opened.measures == {"consumer_warning": 1, "recall": 1}
    assert closed.case_ids == ("A", "C")
    assert closed.levels == {"serious": 1, "high": 0, "medium": 0, "low": 1, "unassessed": 0}
    assert closed.measures == {"consumer_warning": 1, "hazard_disclosure": 1, "recall": 1}
    assert closed.categories == {"cosmetics": 1, "toys": 1}


def test_serious_escalations_and_overdue(store):
    found = bul.bulletin(store, PERIOD)
    assert [(s.id, s.measures, s.panel_measures) for s in found.serious] == [
        ("D", (), ("recall", "delisting")), ("A", ("recall", "consumer_warning"), ("recall",))]
    assert found.serious[0].hazards == ("burns", "fire")
    [warning] = found.escalations
    assert (warning.id, warning.kind, warning.hazard, warning.category, warning.linked) == (
        "X", "category", "choking", "toys", ("A", "F"))
    assert [(o.case_id, o.number, o.measure, o.days_overdue) for o in found.overdue] == [
        ("C", 5, "risk_alert", 15), ("C", 2, "recall", 6), ("C", 3, "delisting", 1)]
    assert found.identity == "BULLETIN-2026-12-01_2026-12-15"


def test_the_hash_holds_while_cases_move_on_and_changes_with_the_period(store):
    first = bul.bulletin(store, PERIOD)
    # After the period: a case opened, an action completed, another link — all later.
    add_case(store, "G", beijing(12, 18), "toys", ["choking"])
    with store.session() as s:
        action = s.exec(select(FollowUpAction).where(FollowUpAction.case_id == "C",
                                                     FollowUpAction.number == 2)).one()
        action.status, action.completed_at = "completed", beijing(12, 19)
        s.add(action)
    assert bul.bulletin(store, PERIOD).data_hash == first.data_hash
    # A case backdated into the period (an import of old records) is other data.
    add_case(store, "H", beijing(12, 9), "toys", ["choking"])
    assert bul.bulletin(store, PERIOD).data_hash != first.data_hash
    assert bul.bulletin(store, Period(date(2026, 12, 1), date(2026, 12, 14))).data_hash \
        != first.data_hash


def test_a_quiet_period_is_a_bulletin_of_zeros(db):
    found = bul.bulletin(db, Period(date(2026, 6, 1), date(2026, 6, 15)))
    assert (found.opened.cases, found.closed.cases, found.serious, found.escalations,
            found.overdue) == (0, 0, (), (), ())
    assert found.opened.levels == dict.fromkeys(bul.LEVEL_ORDER, 0)
    assert len(found.data_hash) == 64


@pytest.mark.parametrize(("day", "first", "last"), [
    (date(2026, 12, 1), date(2026, 11, 16), date(2026, 11, 30)),
    (date(2026, 12, 16), date(2026, 12, 1), date(2026, 12, 15)),
    (date(2027, 1, 1), date(2026, 12, 16), date(2026, 12, 31)),  # December → January
    (date(2024, 3, 1), date(2024, 2, 16), date(2024, 2, 29)),  # leap February
    (date(2026, 3, 1), date(2026, 2, 16), date(2026, 2, 28)),
    (date(2026, 5, 1), date(2026, 4, 16), date(2026, 4, 30)),  # a 30-day month
    (date(2026, 8, 15), date(2026, 7, 16), date(2026, 7, 31)),  # a manual run mid-month
    (date(2026, 8, 31), date(2026, 8, 1), date(2026, 8, 15)),
])
def test_the_half_month_before_a_day(day, first, last):
    assert bul.half_month_before(day) == Period(first, last)


@pytest.mark.parametrize(("first", "last", "message"), [
    ("2026-12-15", "2026-12-01", "--from 2026-12-15 is after --to 2026-12-01"),
    ("2026-02-30", "2026-03-01", "--from '2026-02-30': no such date"),
    ("2026/12/01", "2026-12-15", "--from '2026/12/01': expected a date YYYY-MM-DD"),
    ("2026-12-01", "soon", "--to 'soon': expected a date YYYY-MM-DD"),
    ("2025-01-01", "2026-01-02", "367 days; a bulletin covers at most 366 days"),
])
def test_bad_periods_are_refused(first, last, message):
    with pytest.raises(InvalidInput, match=message):
        bul.parse_period(first, last)
