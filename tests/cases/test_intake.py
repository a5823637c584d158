"""Intake: new cases, duplicates refused without side effects, grouping into open cases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from cases import store
from cases.errors import InvalidInput
from cases.intake import open_case
from cases.models import AuditEvent, Case, Signal
from tests.helpers import sample_signal


def counts(db) -> tuple[int, int, int]:
    with db.session() as s:
        return tuple(s.exec(select(func.count()).select_from(m)).one()
                     for m in (Case, Signal, AuditEvent))


def test_a_signal_opens_a_case_at_intake(db):
    opened = open_case(db, sample_signal(), actor="staff:a", lang="zh")
    case = store.get_case(db, opened.case_id)
    assert (case.state, case.gate, case.lang, case.opened_by) == ("active", "intake", "zh",
                                                                  "staff:a")
    assert opened.case_id.startswith("RG-") and not opened.grouped
    assert counts(db) == (1, 1, 1)


def test_the_same_report_twice_is_refused_and_nothing_changes(db):
    first = open_case(db, sample_signal(), actor="staff:a", lang="zh")
    before = counts(db)
    with pytest.raises(InvalidInput, match=f"already taken in \\(case {first.case_id}\\)"):
        open_case(db, sample_signal(), actor="staff:a", lang="zh")
    assert counts(db) == before


def test_another_report_on_the_same_product_joins_the_open_case(db):
    first = open_case(db, sample_signal(), actor="staff:a", lang="zh")
    second = open_case(db, sample_signal(reference="12365-2026-999",
                                         hazards=["choking", "injuries"]),
                       actor="staff:b", lang="zh")
    assert second.grouped and second.case_id == first.case_id
    dossier = store.load_dossier(db, first.case_id)
    assert len(dossier.signals) == 2
    assert dossier.case.hazards == ["choking", "injuries"]


def test_no_grouping_across_hazards_or_without_a_named_product(db):
    first = open_case(db, sample_signal(), actor="staff:a", lang="zh")
    other_hazard = open_case(db, sample_signal(reference="r2", hazards=["fire"]),
                             actor="staff:a", lang="zh")
    assert other_hazard.case_id != first.case_id
    product = sample_signal().product.model_copy(update={"name": ""})
    unnamed = [open_case(db, sample_signal(reference=f"u{i}", product=product.model_dump()),
                         actor="staff:a", lang="zh") for i in range(2)]
    assert unnamed[0].case_id != unnamed[1].case_id


def test_history_counts_other_recent_cases(db):
    first = open_case(db, sample_signal(), actor="staff:a", lang="zh")
    with db.session() as s:  # close it, so the next signal opens a new case on the same product
        case = s.get(Case, first.case_id)
        case.state = "closed"
        s.add(case)
    second = open_case(db, sample_signal(reference="r2"), actor="staff:a", lang="zh")
    history = store.history(db, store.get_case(db, second.case_id))
    assert history.same_product == 1
    assert history.same_enterprise == 1
    assert history.same_category_hazard == 1
    assert history.same_category == 1
    assert history.same_category_province == 1


def test_a_drawn_case_id_that_is_taken_is_drawn_again(db, monkeypatch):
    from cases import intake

    first = open_case(db, sample_signal(), actor="staff:a", lang="zh").case_id
    drawn = iter([first, first, "RG-20261201-FRESH234"])
    monkeypatch.setattr(intake, "new_case_id", lambda: next(drawn))
    second = open_case(db, sample_signal(reference="r-collide", hazards=["fire"]),
                       actor="staff:a", lang="zh")
    assert second.case_id == "RG-20261201-FRESH234" and not second.grouped
    assert counts(db) == (2, 2, 2)


def test_case_ids_carry_forty_random_bits_a_day():
    from cases.intake import _ID_ALPHABET, ID_LENGTH, new_case_id

    assert len(_ID_ALPHABET) ** ID_LENGTH == 2**40
    ids = {new_case_id() for _ in range(3000)}
    assert len(ids) == 3000 and all(len(i.split("-")[2]) == ID_LENGTH for i in ids)


def test_a_signal_naming_only_the_credit_code_groups_with_one_naming_only_the_name(db):
    both = sample_signal()
    open_case(db, both, actor="staff:a", lang="zh")  # the store learns name ↔ code
    with db.session() as s:  # close it, so the next two must find each other
        s.exec(sa.text("UPDATE \"case\" SET state = 'closed'"))
    by_code = sample_signal(reference="by-code", enterprise={
        **both.enterprise.model_dump(), "name": ""})
    by_name = sample_signal(reference="by-name", enterprise={
        **both.enterprise.model_dump(), "credit_code": "",
        "name": "宁波乐童玩具（浙江）有限公司"})
    first = open_case(db, by_code, actor="staff:a", lang="zh")
    second = open_case(db, by_name, actor="staff:a", lang="zh")
    assert second.grouped and second.case_id == first.case_id
