"""User data reaches staff terminals as literal text: no markup is read into it and control
characters are shown, not obeyed."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from cases.intake import open_case
from flows.cli import main
from tests.helpers import sample_signal

HOSTILE = ("[/bold] [red]x[/red] :smile: \x1b[31mred\x1b[0m "
           "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \u202egnp.exe\x9b2J")


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def assert_literal(text: str) -> None:
    assert "\x1b" not in text and "\u202e" not in text and "\x9b" not in text
    assert "[/bold]" in text and ":smile:" in text and "\\x1b[31mred" in text
    assert "\\x1b]8;;http://evil.example" in text and "\\u202e" in text


@pytest.fixture
def hostile_case(db):
    """A title holding markup, escapes and a bidi override. Intake refuses control characters
    in a title now; a store written before (or by another tool) can still hold them."""
    case_id = open_case(db, sample_signal(title="a title"), actor="staff:t",
                        lang="zh").case_id
    with db.engine.begin() as conn:
        conn.execute(sa.text('UPDATE "case" SET title = :t WHERE id = :i'),
                     {"t": HOSTILE, "i": case_id})
    return case_id


def test_case_list_and_show_print_a_hostile_title_literally(capsys, db, hostile_case):
    code, out, err = run(capsys, "case", "list")
    assert (code, err) == (0, "")
    assert_literal(out)
    code, out, err = run(capsys, "case", "show", hostile_case)
    assert (code, err) == (0, "")
    assert_literal(out)


def test_json_output_escapes_every_control_character(capsys, db, hostile_case):
    code, out, _ = run(capsys, "case", "list", "--json")
    assert code == 0 and "\x1b" not in out and "\u202e" not in out and "\x9b" not in out
    assert json.loads(out)[0]["title"] == HOSTILE  # the data itself is unchanged


def test_errors_show_control_characters(capsys, db):
    code, out, err = run(capsys, "case", "show", "RG-\x1b[2J\x1b]8;;x\x07")
    assert code == 3 and out == ""
    assert err == "error: no case RG-\\x1b[2J\\x1b]8;;x\\x07\n"
