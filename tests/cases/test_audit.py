"""The audit trail catches every tamper an insider could make, and says precisely what.

A store with two cases (one through every gate, one closed at triage) is tampered with in one
way per test, directly in the database or the data directory as an insider with access would;
`audit verify` must report exactly which record and what differs, and the CLI must exit
non-zero. The chain covers signals, gate records, decisions, seats, rounds, every score version,
lab results, manifest rows, the roster and each case's state after each event.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

import pytest
import sqlalchemy as sa
from sqlmodel import select

from cases import audit, store
from flows import gates
from flows.cli import main
from tests.helpers import advance_with_people, open_archetype


@pytest.fixture
def two_cases(settings, db, roster):
    full, truth = open_archetype(db, "toy_choking")
    assert advance_with_people(settings, db, full, truth).state == "closed"
    short, _ = open_archetype(db, "out_of_scope_food")
    gates.advance(settings, short)
    assert audit.verify(db, settings.home).problems == []
    return full, short


def sql(db, statement: str, **params) -> list:
    with db.engine.begin() as conn:
        result = conn.execute(sa.text(statement), params)
        return list(result) if result.returns_rows else []


def problems(settings, db, **kw) -> list[str]:
    return audit.verify(db, settings.home, **kw).problems


def last_event_recording(db, ref: str) -> int:
    events = sql(db, "SELECT seq, detail FROM auditevent ORDER BY seq")
    found = [seq for seq, detail in events
             if ref in ((detail if isinstance(detail, dict) else json.loads(detail))
                        .get("records") or {})]
    return found[-1]


def report_row(db, case_id: str, gate: str):
    return sql(db, "SELECT id, path, sha256 FROM reportrecord WHERE case_id = :c AND gate = :g",
               c=case_id, g=gate)[0]


def test_an_untouched_store_verifies_and_the_cli_says_so(settings, db, two_cases, capsys):
    result = audit.verify(db, settings.home)
    assert result.ok and result.reports == 10 and result.records > 40
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify"])
    assert done.value.code == 0 and "✓ chain intact" in capsys.readouterr().out


def test_a_byte_of_a_report(settings, db, two_cases, capsys):
    full, _ = two_cases
    _, path, sha = report_row(db, full, "panel")
    file = settings.home / path
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 1
    file.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    assert problems(settings, db) == [
        f"report {path} (case {full}, gate panel): the file was changed (sha256 "
        f"{actual[:12]}…, manifest {sha[:12]}…)"]
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify"])
    assert done.value.code == 7
    assert "error: 1 problem(s): report" in capsys.readouterr().err


def test_a_report_and_its_manifest_row_changed_together(settings, db, two_cases):
    full, _ = two_cases
    report_id, path, _ = report_row(db, full, "disposal")
    file = settings.home / path
    file.write_bytes(file.read_bytes() + b"forged")
    forged = hashlib.sha256(file.read_bytes()).hexdigest()
    sql(db, "UPDATE reportrecord SET sha256 = :s, size = :n WHERE id = :i", s=forged,
        n=file.stat().st_size, i=report_id)
    seq = last_event_recording(db, f"report:{report_id}")
    assert problems(settings, db) == [
        f"report {report_id} (case_id {full}, path {path}): sha256, size differ from what audit "
        f"event {seq} recorded"]


def test_a_manifest_row_deleted_with_its_file(settings, db, two_cases):
    full, _ = two_cases
    report_id, path, _ = report_row(db, full, "follow_up")
    seq = last_event_recording(db, f"report:{report_id}")
    sql(db, "DELETE FROM reportrecord WHERE id = :i", i=report_id)
    (settings.home / path).unlink()
    data = path.removesuffix(".docx") + ".json"  # the data it was rendered from stays
    assert problems(settings, db) == [
        f"report {report_id}, recorded by audit event {seq}, is missing from the store",
        f"report file {data} is not in the manifest (added, renamed, or written by a commit "
        "that never came)"]


def test_a_deleted_added_renamed_or_orphan_report_file(settings, db, two_cases):
    full, short = two_cases
    _, deleted, _ = report_row(db, full, "intake")
    (settings.home / deleted).unlink()
    _, renamed, _ = report_row(db, short, "triage")
    (settings.home / renamed).rename(settings.home / f"{renamed}.bak")
    added = settings.home / "reports" / full / "99-extra.docx"
    added.write_bytes(b"not a report")
    orphan = settings.home / "reports" / short / "04-assessment.docx"  # no commit came
    orphan.write_bytes(b"rendered, never committed")
    staged = settings.home / "reports" / short / ".staging" / "04-assessment.abc.docx"
    staged.parent.mkdir()
    staged.write_bytes(b"a run's staging file is not a report")
    assert sorted(problems(settings, db)) == sorted([
        f"report {deleted} (case {full}, gate intake): the file is missing",
        f"report {renamed} (case {short}, gate triage): the file is missing",
        f"report file reports/{full}/99-extra.docx is not in the manifest (added, renamed, or "
        "written by a commit that never came)",
        f"report file {renamed}.bak is not in the manifest (added, renamed, or written by a "
        "commit that never came)",
        f"report file reports/{short}/04-assessment.docx is not in the manifest (added, "
        "renamed, or written by a commit that never came)"])


def test_an_edited_event_says_which_event(settings, db, two_cases):
    action = sql(db, "SELECT action FROM auditevent WHERE seq = 7")[0][0]
    sql(db, "UPDATE auditevent SET actor = 'someone else' WHERE seq = 7")
    assert problems(settings, db) == [
        f"audit event 7 ({action}) was altered: its content does not match its hash"]


def test_a_deleted_event_in_the_middle(settings, db, two_cases):
    sql(db, "DELETE FROM auditevent WHERE seq = 6")
    found = problems(settings, db)
    assert found[:2] == ["audit event 6 is missing (next is 7)",
                         "audit event 7: previous-hash link broken (the event before it was "
                         "changed, removed or reordered)"]


def test_an_inserted_event(settings, db, two_cases):
    rows = sql(db, "SELECT seq FROM auditevent ORDER BY seq DESC")
    for (seq,) in rows:  # make room at 4, as an insider inserting an event would
        if seq >= 4:
            sql(db, "UPDATE auditevent SET seq = seq + 1 WHERE seq = :s", s=seq)
    sql(db, "INSERT INTO auditevent (seq, at, case_id, actor, action, detail, prev_hash, hash) "
            "SELECT 4, at, case_id, 'staff:mallory', 'score.new', detail, prev_hash, "
            "CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2) "
            "FROM auditevent WHERE seq = 3")
    found = problems(settings, db)
    assert "audit event 4 (score.new) was altered: its content does not match its hash" in found
    assert "audit event 5: previous-hash link broken (the event before it was changed, " \
           "removed or reordered)" in found


def test_reordered_events(settings, db, two_cases):
    sql(db, "UPDATE auditevent SET seq = -1 WHERE seq = 8")
    sql(db, "UPDATE auditevent SET seq = 8 WHERE seq = 9")
    sql(db, "UPDATE auditevent SET seq = 9 WHERE seq = -1")
    found = problems(settings, db)
    assert any(p.startswith("audit event 8 (") and "was altered" in p for p in found)
    assert any(p.startswith("audit event 9 (") and "was altered" in p for p in found)


@pytest.mark.parametrize("removed", [1, 3, "all"])
def test_the_tail_of_the_chain_cut_away(settings, db, two_cases, removed):
    anchor = audit.head(db)["anchor"]
    last = sql(db, "SELECT max(seq) FROM auditevent")[0][0]
    cut = last if removed == "all" else removed
    sql(db, "DELETE FROM auditevent WHERE seq > :s", s=last - cut)
    found = problems(settings, db)
    assert found, "deleting the tail must be caught without an anchor too"
    assert all("no audit event records it" in p or "differ" in p or "from what audit event"
               in p for p in found), found
    if removed == 1:  # the short case's closure: its gate, report and state are unrecorded
        short = two_cases[1]
        assert any(p.startswith(f"case {short}: ") and "state, gate, closed_at differ" in p
                   for p in found), found
        assert any(p.startswith("report ") and "no audit event records it" in p for p in found)
    with_anchor = problems(settings, db, anchor=anchor)
    assert f"the anchor is audit event {last} but the chain ends at event {last - cut}: " \
           f"events {last - cut + 1}..{last} were removed" in with_anchor


def test_the_anchor_proves_nothing_before_it_changed(settings, db, two_cases, tmp_path,
                                                      capsys):
    with pytest.raises(SystemExit):
        main(["audit", "anchor", "--out", str(tmp_path / "anchor.txt")])
    anchor = capsys.readouterr().out.strip()
    assert (tmp_path / "anchor.txt").read_text().strip() == anchor
    assert problems(settings, db, anchor=anchor) == []
    seq = int(anchor.split(":")[0])
    # rewrite the whole chain consistently from event 2 on: only the anchor can tell
    events = sql(db, "SELECT seq, at, case_id, actor, action, detail FROM auditevent "
                     "ORDER BY seq")
    prev = sql(db, "SELECT hash FROM auditevent WHERE seq = 1")[0][0]
    for s, at, case_id, actor, action, detail in events[1:]:
        detail = detail if isinstance(detail, dict) else json.loads(detail)
        new_actor = "staff:rewritten" if s == 2 else actor
        h = audit.event_hash(s, at, case_id, new_actor, action, detail, prev)
        sql(db, "UPDATE auditevent SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s",
            a=new_actor, p=prev, h=h, s=s)
        prev = h
    assert problems(settings, db) == []  # consistent on its own
    assert problems(settings, db, anchor=anchor) == [
        f"audit event {seq} does not match the anchor (hash {prev[:12]}…, anchor "
        f"{anchor.split(':')[1][:12]}…): the chain up to it was rewritten"]
    with pytest.raises(SystemExit) as done:
        main(["audit", "verify", "--anchor", f"@{tmp_path / 'anchor.txt'}"])
    assert done.value.code == 7


def test_an_edited_score(settings, db, two_cases):
    full, _ = two_cases
    score_id, expert = sql(db, "SELECT id, expert_id FROM score WHERE case_id = :c "
                               "ORDER BY id LIMIT 1", c=full)[0]
    sql(db, "UPDATE score SET rationale = 'changed later', severity = 1 WHERE id = :i",
        i=score_id)
    seq = last_event_recording(db, f"score:{score_id}")
    assert problems(settings, db) == [
        f"score {score_id} (case_id {full}, round_no 1, expert_id {expert}, version 1): "
        f"severity, rationale differ from what audit event {seq} recorded"]


def test_a_deleted_earlier_score_version(settings, db, two_cases):
    full, _ = two_cases
    score_id = sql(db, "SELECT id FROM score WHERE case_id = :c ORDER BY id LIMIT 1",
                   c=full)[0][0]
    seq = last_event_recording(db, f"score:{score_id}")
    sql(db, "DELETE FROM score WHERE id = :i", i=score_id)
    assert problems(settings, db) == [
        f"score {score_id}, recorded by audit event {seq}, is missing from the store"]


def test_an_edited_decision_signal_and_gate_row(settings, db, two_cases):
    full, _ = two_cases
    decision = sql(db, "SELECT id, round FROM ruledecision WHERE case_id = :c AND "
                       "gate = 'disposal'", c=full)[0]
    sql(db, "UPDATE ruledecision SET outcome = :o WHERE id = :i",
        o='{"measures": [], "notify": [], "flags": []}', i=decision[0])
    signal = sql(db, "SELECT id, channel, reference FROM signal WHERE case_id = :c", c=full)[0]
    sql(db, "UPDATE signal SET reference = 'other-ref' WHERE id = :i", i=signal[0])
    gate = sql(db, "SELECT id FROM gaterecord WHERE case_id = :c AND gate = 'triage'",
               c=full)[0][0]
    sql(db, "UPDATE gaterecord SET actor = 'staff:mallory' WHERE id = :i", i=gate)
    found = problems(settings, db)
    assert f"decision {decision[0]} (case_id {full}, gate disposal, round 1): outcome differs " \
           f"from what audit event {last_event_recording(db, f'decision:{decision[0]}')} " \
           "recorded" in found
    assert f"signal {signal[0]} (case_id {full}, channel {signal[1]}, reference other-ref): " \
           f"reference differs from what audit event " \
           f"{last_event_recording(db, f'signal:{signal[0]}')} recorded" in found
    assert f"gate {gate} (case_id {full}, gate triage, round 1): actor differs from what audit " \
           f"event {last_event_recording(db, f'gate:{gate}')} recorded" in found
    assert len(found) == 3


def test_an_edited_case_risk_level_and_measures(settings, db, two_cases):
    full, _ = two_cases
    sql(db, "UPDATE \"case\" SET risk_level = 'low', measures = :m WHERE id = :i",
        m='["hazard_disclosure"]', i=full)
    seq = last_event_recording(db, f"case:{full}")
    assert problems(settings, db) == [
        f"case {full}: risk_level, measures differ from what audit event {seq} recorded"]


def test_an_edited_roster_entry(settings, db, two_cases):
    sql(db, "UPDATE expert SET conflicts = '[]' WHERE id = 'E002'")
    found = problems(settings, db)
    assert len(found) == 1 and found[0].startswith("expert E002: conflicts differs from what "
                                                   "audit event ")


def test_a_manifest_path_outside_the_data_directory(settings, db, two_cases, tmp_path):
    full, _ = two_cases
    outside = tmp_path / "outside.docx"
    outside.write_bytes(b"secret")
    report_id, path, _ = report_row(db, full, "closure")
    sql(db, "UPDATE reportrecord SET path = :p WHERE id = :i", p="../../outside.docx",
        i=report_id)
    found = problems(settings, db)
    assert f"report ../../outside.docx (case {full}, gate closure): the manifest path leads " \
           "outside the reports directory; it was not read" in found
    assert any(p.startswith(f"report {report_id} ") and "path differs" in p for p in found)
    assert f"report file {path} is not in the manifest (added, renamed, or written by a commit " \
           "that never came)" in found


def test_a_report_replaced_by_a_symlink(settings, db, two_cases, tmp_path):
    full, _ = two_cases
    _, path, _ = report_row(db, full, "triage")
    target = tmp_path / "elsewhere.docx"
    target.write_bytes((settings.home / path).read_bytes())
    (settings.home / path).unlink()
    os.symlink(target, settings.home / path)
    assert problems(settings, db) == [
        f"report {path} (case {full}, gate triage): the path goes through a symbolic link "
        f"(to {target.resolve()}); it was not read"]


def test_verify_does_not_hold_the_write_lock_while_it_hashes_files(settings, db, two_cases,
                                                                     monkeypatch):
    from cases.intake import open_case
    from tests.helpers import sample_signal

    check_reports = audit._check_reports
    written = []

    def write_meanwhile(*args) -> None:
        def writer() -> None:
            written.append(open_case(db, sample_signal(reference="during-verify"),
                                     actor="staff:t", lang="zh").case_id)
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(10)
        assert written, "a writer waited for audit verify"
        check_reports(*args)

    monkeypatch.setattr(audit, "_check_reports", write_meanwhile)
    assert audit.verify(db, settings.home).ok
    assert store.get_case(db, written[0]).gate == "intake"


def test_gates_committing_while_verify_runs_are_not_problems(settings, db, two_cases,
                                                              monkeypatch):
    """verify reads the manifest once, then hashes files: a gate that commits in between (or
    is committing: its report is placed just before its commit) must not be reported."""
    from cases.intake import open_case
    from tests.helpers import sample_signal

    case_id = open_case(db, sample_signal(reference="during-verify-2"), actor="staff:t",
                        lang="zh").case_id
    read = audit._read_snapshot

    def then_a_case_advances(database):
        snapshot = read(database)
        gates.advance(settings, case_id)  # writes intake, triage and panel reports
        return snapshot

    monkeypatch.setattr(audit, "_read_snapshot", then_a_case_advances)
    assert audit.verify(db, settings.home).problems == []


def test_an_edited_score_covered_by_a_new_valid_event_is_still_caught(settings, db, two_cases):
    """An insider who edits a score and appends a well-formed event recording the new content
    keeps the chain intact; a score version never changes, so its history gives it away."""
    from cases.models import Score

    full, _ = two_cases
    with db.session() as session:
        score = session.exec(select(Score).where(Score.case_id == full)
                             .order_by(Score.id)).first()
        score.rationale = "rewritten afterwards"
        session.add(score)
        session.flush()
        audit.append(db, session, actor="staff:mallory", action="score.new", case_id=full,
                     rows=[score])
        score_id = score.id
    found = problems(settings, db)
    assert len(found) == 1 and found[0].startswith(f"score {score_id} cannot change, but audit "
                                                   "event ")
