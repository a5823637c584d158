"""The schema evolves by migrations: a store written before them upgrades with its data.

`tests/fixtures/baseline_store/` is a store written by RiskGate before migrations existed
(commit ba5c1c0: cases closed through every gate and at triage, one waiting for scores with a
revised score, one waiting for the lab, one with lab results entered, one waiting for more
information), dumped as JSON with its report files. Each test loads it into a store created by
the baseline migration, on SQLite and PostgreSQL, and upgrades it.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from cases import approvals, audit, outbox, schema, store
from cases.db import Database, database
from cases.models import Case, Score, Signal
from cases.schema import StoreOutdated
from cases.views import case_summary
from flows import gates
from flows.cli import main
from tests.helpers import APPROVER, archetypes, complete_actions, score_round
from tests.tools import require_tool

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "baseline_store"


def _value(column: sa.Column, value):
    if value is not None and isinstance(column.type, sa.DateTime):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def load_baseline(url: str, home: Path) -> None:
    """The baseline schema (migration 0001) holding the fixture's rows and files."""
    raw = Database(url)
    try:
        schema.upgrade(raw, to=schema.BASELINE)
        dump = json.loads((FIXTURE / "store.json").read_text(encoding="utf-8"))
        metadata = sa.MetaData()
        metadata.reflect(raw.engine)
        with raw.engine.begin() as conn:
            for table in metadata.sorted_tables:
                rows = [{c.name: _value(c, row[c.name]) for c in table.columns}
                        for row in dump.get(table.name, [])]
                if rows:
                    conn.execute(table.insert(), rows)
                serial = "id" in table.c and isinstance(table.c.id.type, sa.Integer)
                if raw.dialect == "postgresql" and rows and serial:
                    # the rows came with their ids, as in the store they were dumped from
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}',"
                                         f" 'id'), (SELECT max(id) FROM {table.name}))"))
    finally:
        raw.dispose()
    shutil.copytree(FIXTURE / "home" / "reports", home / "reports")


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_a_baseline_store_is_refused_then_upgraded_with_every_case_readable(settings, capsys):
    load_baseline(settings.database_url, settings.home)
    with pytest.raises(StoreOutdated, match="is at schema revision 0001; this RiskGate needs "
                                            f"{schema.head_revision()}: run `riskgate db "
                                            "upgrade`"):
        database(settings.database_url)
    code, out, err = run(capsys, "case", "list")
    assert (code, out) == (4, "") and err.count("\n") == 1
    assert "run `riskgate db upgrade`" in err

    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and f"from revision 0001 to {schema.head_revision()}" in out
    db = database(settings.database_url)
    dump = json.loads((FIXTURE / "store.json").read_text(encoding="utf-8"))
    ids = sorted(c["id"] for c in dump["case"])
    with db.read_session() as session:
        assert sorted(session.exec(select(Case.id)).all()) == ids
    states = {}
    for case_id in ids:
        dossier = store.load_dossier(db, case_id)
        summary = case_summary(dossier, settings.home)
        states[summary["state"]] = states.get(summary["state"], 0) + 1
        assert len(dossier.signals) == len([s for s in dump["signal"]
                                            if s["case_id"] == case_id])
        assert [r.path for r in dossier.reports] == [r["path"] for r in dump["reportrecord"]
                                                     if r["case_id"] == case_id]
    assert states == {"closed": 3, "awaiting_scores": 1, "awaiting_lab": 1, "active": 1,
                      "awaiting_information": 1}
    result = audit.verify(db, settings.home)
    assert result.ok, result.problems
    assert result.reports == len(dump["reportrecord"])

    # signals taken in before 0005 say they opened or joined their case one at a time
    with db.read_session() as session:
        groupings = session.exec(select(Signal.grouping)).all()
    assert groupings and all(g == {"how": "single"} for g in groupings)

    # scores: the old revision counter became versions, nothing lost
    with db.read_session() as session:
        versions = sorted(s.version for s in session.exec(select(Score)).all())
    assert versions.count(2) == sum(1 for s in dump["score"] if s["revisions"] == 1)
    # the active case that had passed intake is owed a run, so the sweeper takes it up
    active = next(c["id"] for c in dump["case"] if c["state"] == "active")
    assert [o.key for o in outbox.of_case(db, active)] == [f"{active}:migrated-0002"]


def test_an_upgraded_case_waiting_for_scores_goes_on_to_closure(settings):
    """…through what later migrations added: the four-eyes approval and the tracked
    follow-up actions (0004), in the upgraded store."""
    load_baseline(settings.database_url, settings.home)
    schema.upgrade(Database(settings.database_url))
    db = database(settings.database_url)
    dump = json.loads((FIXTURE / "store.json").read_text(encoding="utf-8"))
    waiting = next(c["id"] for c in dump["case"] if c["state"] == "awaiting_scores")
    truth = archetypes("base")["cosmetic_banned_substance"].truth
    assert score_round(db, waiting, truth, seed="after-upgrade")[-1].claim.claimed
    assert gates.advance(settings, waiting).state == "awaiting_approval"
    approvals.decide(db, waiting, APPROVER)
    assert gates.advance(settings, waiting).state == "awaiting_actions"
    assert complete_actions(db, waiting).claimed
    done = gates.advance(settings, waiting)
    assert done.state == "closed"
    dossier = store.load_dossier(db, waiting)
    assert approvals.get_review(db, waiting).status == "approved"
    assert [r.gate for r in dossier.reports][-4:] == ["assessment", "disposal", "follow_up",
                                                      "closure"]
    assert audit.verify(db, settings.home).ok


def manifest_rows(url: str) -> list[dict]:
    raw = Database(url)
    try:
        with raw.engine.connect() as conn:
            return [dict(row) for row in conn.execute(
                sa.text("SELECT * FROM reportrecord ORDER BY id")).mappings()]
    finally:
        raw.dispose()


def at_0005_with_reports(settings) -> list[dict]:
    """The baseline store upgraded to 0005 (before PDF copies): its manifest rows."""
    load_baseline(settings.database_url, settings.home)
    raw = Database(settings.database_url)
    schema.upgrade(raw, to="0005")
    raw.dispose()
    rows = manifest_rows(settings.database_url)
    assert rows and "pdf_path" not in rows[0]
    return rows


def test_a_store_at_0005_upgrades_keeping_every_report_row_without_a_pdf(settings, capsys):
    before = at_0005_with_reports(settings)
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and f"from revision 0005 to {schema.head_revision()}" in out
    after = manifest_rows(settings.database_url)
    assert [{k: v for k, v in row.items() if not k.startswith("pdf_")} for row in after] == before
    assert {(row["pdf_path"], row["pdf_sha256"], row["pdf_size"]) for row in after} == {
        (None, None, None)}
    result = audit.verify(database(settings.database_url), settings.home)
    assert result.ok, result.problems
    assert (result.reports, result.pdfs) == (len(before), 0)


def test_reports_from_before_0006_get_their_pdf_copies_from_report_archive(settings, capsys):
    """Their manifest rows were recorded under an older digest; the archive's own event
    records them with their PDF, and the whole store still verifies."""
    require_tool("soffice")
    before = at_0005_with_reports(settings)
    schema.upgrade(Database(settings.database_url))
    code, out, err = run(capsys, "report", "archive", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["archived"] == len(before)
    db = database(settings.database_url)
    result = audit.verify(db, settings.home)
    assert result.ok, result.problems
    assert result.pdfs == len(before)


def test_a_store_created_before_migrations_is_stamped_and_upgraded(settings, capsys):
    load_baseline(settings.database_url, settings.home)
    with sa.create_engine(settings.database_url).begin() as conn:  # as create_all left it
        conn.execute(sa.text("DROP TABLE alembic_version"))
    with pytest.raises(StoreOutdated, match=r"revision 0001 \(created before migrations\)"):
        database(settings.database_url)
    code, _, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert audit.verify(database(settings.database_url), settings.home).ok


def test_a_failing_migration_leaves_the_store_as_it_was(settings, monkeypatch):
    load_baseline(settings.database_url, settings.home)
    with sa.create_engine(settings.database_url).begin() as conn:
        conn.execute(sa.text("UPDATE \"case\" SET state = 'in_limbo' WHERE state = 'active'"))
    with pytest.raises(sa.exc.IntegrityError):  # the lifecycle's constraint refuses it
        schema.upgrade(Database(settings.database_url))
    raw = Database(settings.database_url)
    assert schema.current_revision(raw).revision == schema.BASELINE
    with raw.engine.connect() as conn:
        assert "continuation" not in sa.inspect(conn).get_table_names()
    raw.dispose()


def test_a_new_store_is_created_at_head_and_equals_the_models(database_url):
    db = database(database_url)
    assert schema.current_revision(db).revision == schema.head_revision()
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == [], "a model change without its migration: " + repr(diffs[:3])


def test_a_store_at_an_unknown_revision_is_refused(settings):
    db = database(settings.database_url)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    from cases import db as db_module

    db_module._databases.pop(settings.database_url)
    with pytest.raises(StoreOutdated, match="revision 9999, which this RiskGate does not know"):
        database(settings.database_url)


def test_the_fast_schema_check_reads_the_same_head_as_alembic():
    assert schema.head_from_files() == schema.head_revision() == schema.known_revisions()[-1]
