"""The audit log is a hash chain: removal, alteration and report changes are all detected."""

from __future__ import annotations

import sqlalchemy as sa

from cases import audit
from cases.intake import open_case
from flows import gates
from tests.helpers import sample_signal


def run_one_case(settings, db):
    case_id = open_case(db, sample_signal(), actor="staff:a", lang="zh").case_id
    gates.advance(settings, case_id)
    return case_id


def test_an_untouched_trail_verifies(settings, db, roster):
    run_one_case(settings, db)
    result = audit.verify(db, settings.home)
    assert result.ok, result.problems
    assert result.events >= 4 and result.reports == 3


def test_an_altered_event_is_detected(settings, db, roster):
    run_one_case(settings, db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE auditevent SET actor = 'someone else' WHERE seq = 2"))
    problems = audit.verify(db, settings.home).problems
    assert any("audit event 2" in p and "altered" in p for p in problems)


def test_a_removed_event_is_detected(settings, db, roster):
    run_one_case(settings, db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM auditevent WHERE seq = 3"))
    problems = audit.verify(db, settings.home).problems
    assert "audit event 3 is missing (next is 4)" in problems
    assert "audit event 4: previous-hash link broken" in problems


def test_a_changed_or_missing_report_is_detected(settings, db, roster):
    run_one_case(settings, db)
    reports = sorted((settings.home / "reports").rglob("*.docx"))
    reports[0].write_bytes(reports[0].read_bytes() + b"x")
    reports[1].unlink()
    problems = audit.verify(db, settings.home).problems
    assert any(p.startswith("report changed: ") for p in problems)
    assert any(p.startswith("report missing: ") for p in problems)
