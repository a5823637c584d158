"""The CLI's contract for people: one-line errors, non-zero exits, nothing stored on refusal.

Refusals never need Prefect (a score only reaches Prefect when it completes the quorum), so these
run in-process against the test's store.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from cases import store
from cases.models import AuditEvent, Case, Score, Signal
from flows import gates
from flows.cli import main
from tests.conftest import SAMPLES
from tests.helpers import open_archetype


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def stored(db) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(s.exec(select(func.count()).select_from(m)).one()
                     for m in (Case, Signal, Score, AuditEvent))


def one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


def test_case_open_prints_the_id(capsys, cli_user, db):
    code, out, _ = run(capsys, "case", "open", str(SAMPLES / "signal.json"), "--json")
    assert code == 0
    case_id = json.loads(out)["id"]
    assert store.get_case(db, case_id).gate == "intake"


@pytest.mark.parametrize(("content", "message"), [
    ('{"channel": "complaint_12365", ', "not valid JSON at line 1 column 32"),
    ('{"channel": "complaint_12365", "reference": "x", "received_at": "2026-11-01T00:00:00"}',
     "product: Field required"),
    ('{"channel": "fax", "reference": "x", "received_at": "2026-11-01T00:00:00", '
     '"product": {"category": "toys"}}', "channel: unknown channel 'fax'"),
])
def test_bad_signal_files_are_refused_and_nothing_is_stored(capsys, cli_user, db, tmp_path, content,
                                                             message):
    before = stored(db)
    path = tmp_path / "signal.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "case", "open", str(path))
    assert code == 2 and out == ""
    assert message in one_line_error(err)
    assert stored(db) == before


def test_score_refusals(capsys, cli_user, settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    member = store.load_dossier(db, case_id).voting_seats()[0].expert_id
    closed_id, _ = open_archetype(db, "out_of_scope_food")
    gates.advance(settings, closed_id)
    good = ["--round", "1", "--severity", "4", "--probability", "1/50", "--measures",
            "recall", "--rationale", "beads block airways"]
    before = stored(db)
    cases = [
        ([case_id, "E999", *good], 3, "unknown expert E999"),
        (["RG-NOPE", member, *good], 3, "no case RG-NOPE"),
        ([closed_id, member, *good], 4, f"case {closed_id} is not waiting for scores (state "
                                        "closed, gate closed)"),
        ([case_id, member, *good[:3], "5", *good[4:]], 2, "score: severity: severity must be 1"),
        ([case_id, member, *good[:5], "0", *good[6:]], 2, "score: probability: probability '0' "
                                                          "is outside (0, 1]"),
        ([case_id, member, *good[:7], "recall,bribe", *good[8:]], 2,
         "score: measures: unknown measure 'bribe'"),
        ([case_id, member, *good[:9], "x"], 2, "score: rationale: "),
        ([case_id, member, "--round", "2", *good[2:]], 4, f"case {case_id}: round 2 is not "
                                                          "open; the open round is 1"),
    ]
    for (case, expert, *rest), code_wanted, message in cases:
        code, out, err = run(capsys, "score", "submit", "--case", case, "--expert", expert, *rest)
        assert (code, out) == (code_wanted, ""), err
        assert message in one_line_error(err)
    assert stored(db) == before


def test_argument_errors_are_one_line_too(capsys, cli_user, db):
    code, _, err = run(capsys, "score", "submit", "--case", "X")
    assert code == 2 and "Missing option" in one_line_error(err)
    code, _, err = run(capsys, "case", "shw", "X")
    assert code == 2 and "No such command 'shw'" in one_line_error(err)
    code, _, err = run(capsys, "case", "show", "RG-NOPE")
    assert code == 3 and one_line_error(err) == "error: no case RG-NOPE\n"


def test_the_demo_table_keeps_case_ids_whole_on_a_narrow_terminal():
    from rich.console import Console

    from flows.cli.demo_cmd import outcome_table
    from flows.demo import DemoRow

    row = DemoRow(case_id="RG-20261122-VZ3WT", key="toy_choking", channel="complaint_12365",
                  state="closed", risk_level="serious",
                  measures=["recall", "delisting", "consumer_warning"],
                  gates=["intake", "triage", "panel", "assessment", "disposal", "follow_up",
                         "closure"], reports=7, rounds=1, late_scores=1, seconds=11.2)
    narrow = Console(width=80, record=True)
    narrow.print(outcome_table([row], "zh"))
    assert "RG-20261122-VZ3WT" in narrow.export_text()
