"""`riskgate case move-signal` and `riskgate case split`: staff only, what changed printed (or
one JSON object), refusals on one line with nothing stored."""

from __future__ import annotations

import json

from cases import accounts, audit, store
from cases.intake import open_case
from tests.cases.test_regroup import signal
from tests.flows.test_cli import one_line_error, run, stored


def test_move_and_split_from_the_command_line(capsys, cli_user, db, settings):
    opened = [open_case(db, signal(f"C{i}"), actor="staff:t", lang="zh") for i in range(3)]
    case_id, ids = opened[0].case_id, [o.signal_id for o in opened]
    code, out, _ = run(capsys, "case", "move-signal", str(ids[2]), "--new", "--reason",
                       "另一型号", "--json")
    assert code == 0
    moved = json.loads(out)
    assert moved["new_case"] and moved["from_case"] == case_id and moved["signals"] == [ids[2]]
    code, out, _ = run(capsys, "case", "move-signal", str(ids[1]), "--to", moved["to_case"],
                       "--reason", "同一型号")
    assert code == 0 and f"moved signal {ids[1]} from case {case_id} to case " \
        f"{moved['to_case']}" in out
    code, out, _ = run(capsys, "case", "split", moved["to_case"], "--signals", str(ids[1]),
                       "--reason", "单独评估")
    assert code == 0 and "split signal" in out and "to new case RG-" in out
    shown = run(capsys, "case", "show", case_id)[1]
    assert f"{ids[0]} complaint_12365/C0" in shown and "signal " in shown
    assert audit.verify(db, settings.home).ok


def test_refusals_print_one_line_and_store_nothing(capsys, cli_user, db):
    opened = [open_case(db, signal(f"R{i}"), actor="staff:t", lang="zh") for i in range(2)]
    case_id, ids = opened[0].case_id, [o.signal_id for o in opened]
    accounts.add(db, "carol", ["auditor"], by="local:test", password=None)
    before = stored(db)
    for args, code, words in [
        (("move-signal", str(ids[0]), "--reason", "原因说明"), 2, "exactly one of --to"),
        (("move-signal", str(ids[0]), "--new", "--to", case_id, "--reason", "原因说明"), 2,
         "exactly one of --to"),
        (("move-signal", str(ids[0]), "--new", "--reason", ""), 2, "at least 4 characters"),
        (("move-signal", str(ids[0]), "--to", case_id, "--reason", "原因说明"), 2, "already"),
        (("split", case_id, "--signals", f"{ids[0]},{ids[1]}", "--reason", "原因说明"), 2,
         "keeps at least one signal"),
        (("split", case_id, "--signals", "1,x", "--reason", "原因说明"), 2, "not a signal id"),
        (("split", "RG-NOPE", "--signals", "1", "--reason", "原因说明"), 3, "no case RG-NOPE"),
        (("move-signal", str(ids[0]), "--new", "--reason", "原因说明", "--as", "carol"), 8,
         "needs the role staff"),
    ]:
        done, out, err = run(capsys, "case", *args)
        assert (done, out) == (code, ""), (args, err)
        assert words in one_line_error(err), err
    assert stored(db) == before
    assert [r.id for r in store.load_dossier(db, case_id).signal_rows] == ids
