"""Importing a file (cases/importer.py): counts, quarantine and rejects files, idempotent
re-runs, a crash mid-file resumed, corrected rejects taken in, bulk triage with owed reports,
and the launch queue's order — on SQLite and PostgreSQL, without a Prefect server."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from cases import audit, feeds, importer, intake_queue, outbox, store
from cases.bulk_commit import Decided, commit_intake_and_triage
from cases.db import Database
from cases.errors import InvalidInput
from cases.failpoints import arm
from cases.history import HistoryIndex
from cases.models import Case, ReportRecord, Signal
from cases.models_intake import ImportRun, QuarantinedRow
from cases.rejects import write_rejects
from cases.submissions import launch
from flows import gates
from flows.gates import triage
from flows.gates.bulk_triage import triage_cases
from flows.sweep import sweep_once
from rules.rulebook import current_rulebook
from tests.helpers import SAMPLES

MAPPING = """\
name: test complaints
channel: complaint_12365
format: csv
reference: 编号
fields:
  received_at: {column: 受理时间, date_format: "%Y-%m-%d %H:%M"}
  description: 描述
  product.category: {column: 品类, map: {玩具: toys, 电器: electrical_appliances}}
  product.name: 产品
  product.model: 型号
  enterprise.name: 企业
  enterprise.province: 省份
  hazards: {column: 危害, split: "、", map: {窒息: choking, 火灾: fire, 触电: electric_shock}}
"""
HEADER = ["编号", "受理时间", "描述", "品类", "产品", "型号", "企业", "省份", "危害"]


def _rows(n: int = 20) -> list[list[str]]:
    rows = []
    for i in range(n):
        product = f"产品{i // 4}"  # four signals per product
        rows.append([f"C-{i:04d}", f"2026-11-0{1 + i % 9} 09:30",
                     f"第{i}号投诉：" + "".join(chr(0x4E00 + (i * 37 + k * 101) % 2000)
                                              for k in range(24)),
                     "玩具", product, "M1", f"企业{i // 4}有限公司", "浙江", "窒息"])
    return rows


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@pytest.fixture
def mapping(tmp_path) -> feeds.Mapping:
    path = tmp_path / "complaints.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return feeds.load_mapping(path)


def _messy(tmp_path: Path) -> Path:
    rows = _rows(20)
    rows[5][8] = "漏电了"  # a hazard word no map covers: refused, quarantined
    rows[9][1] = "11/05/2026"  # a date in no declared format
    rows.append(list(rows[3]))  # the same reference again: a duplicate
    near = list(rows[2])  # the same report under a new reference: a near-duplicate
    near[0], near[2] = "C-9000", rows[2][2] + "。"
    rows.append(near)
    return _write(tmp_path / "complaints.csv", rows)


def _count(db: Database, model) -> int:
    with db.read_session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_an_import_counts_groups_quarantines_and_is_taken_in_once(settings, db, mapping,
                                                                  tmp_path):
    path = _messy(tmp_path)
    result = importer.import_file(db, path, mapping, actor="staff:test")
    assert result.status == "done"
    assert result.counts.to_dict() == {"read": 22, "accepted": 19, "duplicates": 2,
                                       "grouped": 13, "new_cases": 5, "rejected": 2}
    with db.read_session() as session:
        signals = session.exec(select(Signal).order_by(col(Signal.line))).all()
        quarantined = session.exec(select(QuarantinedRow).order_by(
            col(QuarantinedRow.record))).all()
    assert len(signals) == 19 and {s.import_id for s in signals} == {result.import_id}
    near = next(s for s in signals if s.reference == "C-9000")
    assert near.grouping["how"] == "near_duplicate" and near.line == 23
    assert {s.grouping["how"] for s in signals} == {"new_case", "same_product",
                                                    "near_duplicate"}
    assert [(q.record, q.line, q.reference) for q in quarantined] == [
        (6, 7, "C-0005"), (10, 11, "C-0009")]
    assert "漏电了" in quarantined[0].problems[0] and "危害" in quarantined[0].problems[0]
    assert "受理时间" in quarantined[1].problems[0]
    data, notes = write_rejects(db, settings.imports_dir, result.import_id)
    assert data.read_text(encoding="utf-8").splitlines()[0] == ",".join(HEADER)
    assert "line 7 (C-0005)" in notes.read_text(encoding="utf-8")
    assert audit.verify(db, settings.home).ok

    again = importer.import_file(db, path, mapping, actor="staff:test")
    assert (again.status, again.import_id) == ("already", result.import_id)
    assert _count(db, Signal) == 19 and _count(db, Case) == 5
    # taken in once more on purpose: every signal is known, none is stored twice
    forced = importer.import_file(db, path, mapping, actor="staff:test", again=True)
    assert forced.status == "done" and forced.import_id != result.import_id
    assert forced.counts.accepted == 0 and forced.counts.duplicates == 20
    assert _count(db, Signal) == 19 and _count(db, Case) == 5


def test_the_bulk_history_counts_equal_the_one_case_history(db, mapping, tmp_path):
    importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test")
    rows = _rows(8)
    for row in rows:  # other cases of the same category, one on another hazard and province
        row[0], row[4], row[8] = "X" + row[0], "别的" + row[4], "火灾"
    rows[0][7] = "江苏"
    importer.import_file(db, _write(tmp_path / "more.csv", rows), mapping, actor="staff:test")
    index = HistoryIndex.load(db)
    with db.read_session() as session:
        cases = session.exec(select(Case)).all()
    assert len(cases) == 7
    for case in cases:
        assert index.of(case) == store.history(db, case), case.id


def test_corrected_rejects_are_imported_and_resolve_their_quarantined_rows(settings, db,
                                                                           mapping, tmp_path):
    first = importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test")
    data, _ = write_rejects(db, settings.imports_dir, first.import_id)
    fixed = data.read_text(encoding="utf-8").replace("漏电了", "触电").replace(
        "11/05/2026", "2026-11-05 09:30")
    corrected = tmp_path / "corrected.csv"
    corrected.write_text(fixed, encoding="utf-8")
    second = importer.import_file(db, corrected, mapping, actor="staff:test")
    assert (second.counts.accepted, second.counts.rejected) == (2, 0)
    with db.read_session() as session:
        statuses = session.exec(select(QuarantinedRow.status, QuarantinedRow.resolved_by)).all()
    assert statuses == [("resolved", second.import_id)] * 2


def test_a_crash_mid_file_leaves_committed_batches_and_the_rerun_resumes(settings, db,
                                                                         mapping, tmp_path):
    path = _write(tmp_path / "big.csv", _rows(40))
    env = {**os.environ, "RISKGATE_HOME": str(settings.home),
           "RISKGATE_DATABASE_URL": settings.database_url, "RISKGATE_FAILPOINTS": "on"}
    arm(settings.home, "intake.batch_committed")  # the first batch commits, then SIGKILL
    code = ("import sys; from pathlib import Path; from cases import feeds, importer;"
            "from cases.db import database; importer.BATCH_ROWS = 15;"
            f"importer.import_file(database({settings.database_url!r}), Path({str(path)!r}),"
            f" feeds.load_mapping(Path({str(tmp_path / 'complaints.yaml')!r})),"
            " actor='staff:test')")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=120)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    with db.read_session() as session:
        run = session.exec(select(ImportRun)).one()
    assert (run.status, run.last_record, run.last_line, run.counts["read"]) == (
        "running", 15, 16, 15)
    assert _count(db, Signal) == 15

    importer.BATCH_ROWS, saved = 15, importer.BATCH_ROWS
    try:
        resumed = importer.import_file(db, path, mapping, actor="staff:test")
    finally:
        importer.BATCH_ROWS = saved
    assert resumed.import_id == run.id and resumed.resumed_from == 15
    assert resumed.counts.read == 40 and resumed.counts.new_cases == 10
    assert _count(db, Signal) == 40 and _count(db, Case) == 10
    assert audit.verify(db, settings.home).ok


def test_bulk_triage_records_both_gates_and_the_first_run_renders_the_owed_reports(
        settings, db, mapping, tmp_path):
    result = importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test",
                                  hold=True)
    waiting = intake_queue.untriaged(db, result.import_id)
    assert sorted(waiting) == sorted(result.new_case_ids) and len(waiting) == 5
    done = triage_cases(settings, waiting)
    assert sorted(done.priorities) == sorted(waiting) and not done.skipped
    assert intake_queue.untriaged(db) == []
    case_id = waiting[0]
    dossier = store.load_dossier(db, case_id)
    assert [g.gate for g in dossier.gates] == ["intake", "triage"]
    assert dossier.decision("triage") is not None and dossier.reports == []
    assert dossier.case.priority == done.priorities[case_id]
    # a second pass changes nothing
    assert triage_cases(settings, waiting).priorities == {}
    assert audit.verify(db, settings.home).ok

    gates.advance(settings, case_id)  # the case's first run: the owed reports first
    with db.read_session() as session:
        reports = session.exec(select(ReportRecord.gate).where(
            ReportRecord.case_id == case_id).order_by(col(ReportRecord.id))).all()
    assert reports[:2] == ["intake", "triage"]
    assert audit.verify(db, settings.home).ok


def test_the_queue_launches_p1_first_and_keeps_held_cases_for_an_explicit_launch(
        settings, db, mapping, tmp_path):
    result = importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test",
                                  hold=True)
    ids = result.new_case_ids
    with db.session() as session:
        intake_queue.mark_triaged(session, {ids[0]: "P3", ids[1]: "P1", ids[2]: "P2",
                                            ids[3]: "P1", ids[4]: "P4"})
    assert intake_queue.next_to_launch(db, 10) == []  # held
    order = intake_queue.next_to_launch(db, 10, include_held=True)
    # by priority; within one, in the order they were opened
    assert order == [ids[1], ids[3], ids[2], ids[0], ids[4]]
    assert intake_queue.next_to_launch(db, 2, include_held=True) == order[:2]
    status = intake_queue.status(db)
    assert (status.held, status.untriaged, status.launched, status.settled) == (5, 0, 0, 0)


def test_a_file_not_in_its_encoding_is_refused_before_anything_is_taken_in(db, mapping,
                                                                          tmp_path):
    path = _write(tmp_path / "bad.csv", _rows(30))
    data = path.read_bytes()
    cut = data.index(b"C-0025")
    path.write_bytes(data[:cut] + b"\xff\xfe" + data[cut:])  # not UTF-8, on line 27
    with pytest.raises(InvalidInput, match=r"bad.csv:27: not utf-8 text .*nothing was taken in"):
        importer.import_file(db, path, mapping, actor="staff:test")
    assert _count(db, Signal) == 0 and _count(db, ImportRun) == 0


def test_a_file_broken_half_way_keeps_what_came_before_and_its_cases_get_triaged(
        settings, db, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_ROWS", 5)
    records = [json.dumps({**json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8")),
                           "reference": f"J-{i}", "product": {"category": "toys",
                                                              "name": f"摇铃{i}"}},
                          ensure_ascii=False) for i in range(12)]
    path = tmp_path / "broken.json"
    path.write_text("[\n" + ",\n".join(records) + ",\n{\"reference\": \n", encoding="utf-8")
    mapping = feeds.signal_mapping("complaint_12365")
    with pytest.raises(importer.StoppedImport, match="stopped after record 10") as stopped:
        importer.import_file(db, path, mapping, actor="staff:test")
    with db.read_session() as session:
        run = session.exec(select(ImportRun)).one()
    assert (run.status, run.last_record) == ("stopped", 10)
    assert _count(db, Signal) == 10 and len(stopped.value.new_case_ids) == 10
    # the corrected file is another file: the ten are known, the other two are new, and every
    # case left untriaged by the stopped import is triaged by the next pass over the queue
    path.write_text("[\n" + ",\n".join(records) + "\n]\n", encoding="utf-8")
    fixed = importer.import_file(db, path, mapping, actor="staff:test")
    assert (fixed.counts.duplicates, fixed.counts.new_cases) == (10, 2)
    done = triage_cases(settings, intake_queue.untriaged(db))
    assert len(done.priorities) == 12 and intake_queue.untriaged(db) == []


def test_a_bounded_memory_of_open_cases_never_opens_a_second_case_for_a_product(
        settings, db, mapping, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_ROWS", 4)
    monkeypatch.setattr(importer, "CANDIDATES_KEPT", 2)
    rows = []
    for i in range(40):  # ten products, their signals spread over the file
        row = _rows(1)[0]
        row[0], row[4], row[6] = f"K-{i:03d}", f"产品{i % 10}", f"企业{i % 10}有限公司"
        row[2] += f"第{i}次" + "".join(chr(0x4E00 + (i * 53 + k * 29) % 3000) for k in range(20))
        row[8] = "窒息" if i < 20 else "窒息、火灾"  # the second half adds a hazard to each
        rows.append(row)
    importer.import_file(db, _write(tmp_path / "spread.csv", rows), mapping,
                         actor="staff:test")
    with db.read_session() as session:
        cases = session.exec(select(Case)).all()
    assert len(cases) == 10 and all(c.hazards == ["choking", "fire"] for c in cases)
    assert audit.verify(db, settings.home).ok


def test_rejects_of_a_gb18030_feed_are_written_in_gb18030_and_import_again(settings, db,
                                                                           tmp_path):
    mapping = feeds.channel_mapping("consumer_association")
    source = SAMPLES / "intake" / "consumer_association.csv"
    text = source.read_text(encoding="gb18030").replace("2026年11月2日", "11月2日", 1)
    path = tmp_path / "ledger.csv"
    path.write_text(text, encoding="gb18030")
    first = importer.import_file(db, path, mapping, actor="staff:test")
    assert first.counts.rejected == 1
    data, _ = write_rejects(db, settings.imports_dir, first.import_id)
    fixed = data.read_text(encoding="gb18030")
    assert fixed.splitlines()[0] == text.splitlines()[0]  # the header, in its encoding
    data.write_text(fixed.replace("11月2日", "2026年11月2日"), encoding="gb18030")
    again = importer.import_file(db, data, mapping, actor="staff:test")
    assert (again.counts.accepted, again.counts.rejected) == (1, 0)


def test_a_case_whose_signals_changed_after_its_decision_is_decided_again(settings, db,
                                                                          mapping, tmp_path):
    result = importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test",
                                  hold=True)
    case_id = result.new_case_ids[0]
    dossier = store.load_dossier(db, case_id)
    rulebook = current_rulebook("triage")
    triaged = triage.decide(db, rulebook, dossier)
    stale = Decided(case_id, "staff:test", {}, triaged.gate_commit(rulebook, case_id, owner=""),
                    len(dossier.signals) - 1)
    assert commit_intake_and_triage(db, [stale]) == {}  # not recorded: it saw fewer signals
    done = triage_cases(settings, [case_id])
    assert list(done.priorities) == [case_id]


def test_two_launchers_claim_a_queued_case_once_and_keep_to_the_limit(settings, db, mapping,
                                                                       tmp_path):
    result = importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test")
    triage_cases(settings, result.new_case_ids)
    first, second = result.new_case_ids[:2]
    claims = [launch(db, first, actor="a", only_if=intake_queue.claim(db, first, 4)),
              launch(db, first, actor="b", only_if=intake_queue.claim(db, first, 4))]
    assert [c.claimed for c in claims] == [True, False]
    assert intake_queue.running(db) == 1
    full = launch(db, second, actor="c", only_if=intake_queue.claim(db, second, 1))
    assert not full.claimed  # the one place is taken
    assert len(outbox.of_case(db, first)) == 1 and outbox.of_case(db, second) == []


def test_the_sweeper_launches_the_queue_p1_first_as_places_free(settings, db, mapping,
                                                                tmp_path):
    result = importer.import_file(db, _messy(tmp_path), mapping, actor="staff:test")
    triage_cases(settings, result.new_case_ids)
    with db.session() as session:  # five cases, two of them P1
        intake_queue.mark_triaged(session, dict(zip(result.new_case_ids,
                                                    ["P3", "P1", "P2", "P1", "P4"],
                                                    strict=True)))
    started: list[str] = []

    def start(_settings, owed):
        started.append(owed.case_id)
        return f"55555555-5555-5555-5555-{len(started):012d}"

    narrow = dataclasses.replace(settings, launch_concurrency=2)
    swept = sweep_once(narrow, start=start, states_of=lambda ids: {})
    ids = result.new_case_ids
    assert swept.queued_launched == started == [ids[1], ids[3]]
    assert sweep_once(narrow, start=start, states_of=lambda ids: {}).queued_launched == []
    with db.session() as session:  # the first one's run reached a wait: its place frees
        session.get(Case, ids[1]).state = "awaiting_scores"
    assert sweep_once(narrow, start=start, states_of=lambda ids: {}).queued_launched == [ids[2]]


def test_what_a_probe_found_is_refused_cleanly(settings, db, mapping, tmp_path, monkeypatch):
    """Each refused before anything is stored: not a regular file, no records, a header the
    mapping cannot read; the same file under a second mapping is an import of its own."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path, wanted in ((Path("/dev/zero"), "not a regular file"),
                         (fifo, "not a regular file"), (tmp_path, "not a regular file")):
        with pytest.raises(InvalidInput, match=wanted):
            importer.import_file(db, path, mapping, actor="staff:test")
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no records to import"):
        importer.import_file(db, header_only, mapping, actor="staff:test")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="the header lacks columns"):
        importer.import_file(db, wrong, mapping, actor="staff:test")
    assert _count(db, ImportRun) == 0 and audit.verify(db, settings.home).events == 0

    path = _write(tmp_path / "c.csv", _rows(4))
    first = importer.import_file(db, path, mapping, actor="staff:test")
    other = tmp_path / "other.yaml"
    other.write_text(MAPPING.replace("name: test complaints", "name: another"), encoding="utf-8")
    second = importer.import_file(db, path, feeds.load_mapping(other), actor="staff:test")
    assert second.import_id != first.import_id and second.counts.duplicates == 4


def test_an_unclosed_quote_stops_the_file_instead_of_swallowing_its_rows(db, mapping,
                                                                         tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(importer, "BATCH_ROWS", 5)
    rows = _rows(3000)
    path = _write(tmp_path / "q.csv", rows)
    text = path.read_text(encoding="utf-8").replace("C-0012,", 'C-0012,"oops', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(importer.StoppedImport, match=r"q.csv:14: a quoted cell opened on this "
                                                     r"line runs to line .* unclosed quote"):
        importer.import_file(db, path, mapping, actor="staff:test")
    assert _count(db, Signal) == 10  # the two batches before it


def test_a_pattern_that_backtracks_stops_the_import_with_its_name(db, tmp_path):
    path = tmp_path / "slow.yaml"
    path.write_text(MAPPING + "  product.batch: {column: 描述, extract: '(a|aa)+$'}\n",
                    encoding="utf-8")
    rows = _rows(3)
    rows[1][2] = "a" * 40 + "!"
    with pytest.raises(importer.StoppedImport, match=r"pattern '\(a\|aa\)\+\$' took over"):
        importer.import_file(db, _write(tmp_path / "s.csv", rows), feeds.load_mapping(path),
                             actor="staff:test")


def test_a_file_changed_while_it_is_imported_stops_and_its_original_resumes(
        db, mapping, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_ROWS", 5)
    path = _write(tmp_path / "moving.csv", _rows(20))
    original = path.read_bytes()

    def overwrite(read, counts):
        if read == 5:
            path.write_bytes(original + "C-9999,2026-11-09 09:30,x,玩具,p,M1,e,浙江,窒息\n"
                             .encode())

    with pytest.raises(importer.StoppedImport, match="changed while it was being imported"):
        importer.import_file(db, path, mapping, actor="staff:test", on_batch=overwrite)
    path.write_bytes(original)  # the file as it was checked: its import goes on where it was
    done = importer.import_file(db, path, mapping, actor="staff:test")
    assert done.resumed_from == 5 and done.counts.read == 20 and _count(db, Signal) == 20


def test_a_reference_again_with_other_content_is_quarantined_not_dropped(db, mapping,
                                                                          tmp_path):
    rows = _rows(3)
    changed = list(rows[1])
    changed[2] = "内容改过了：" + changed[2]
    rows.append(changed)  # C-0001 again, other words
    rows.append(list(rows[2]))  # C-0002 again, the same: a duplicate
    result = importer.import_file(db, _write(tmp_path / "u.csv", rows), mapping,
                                  actor="staff:test")
    assert (result.counts.accepted, result.counts.duplicates, result.counts.rejected) == (3, 1, 1)
    with db.read_session() as session:
        [row] = session.exec(select(QuarantinedRow)).all()
    assert (row.line, row.reference) == (5, "C-0001") and "other content" in row.problems[0]
