"""`riskgate report catalogue`: files, JSON, the table, and one-line refusals with the
README's exit codes (2 bad input, 3 nothing to rank, 4 other data in the way)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from tests.cases.test_catalogue import EXPECTED_PAIRS, add_case, add_two_periods, beijing

PERIOD = ("--from", "2026-03-01", "--to", "2026-03-31")


@pytest.fixture
def store(db):
    add_two_periods(db)
    return db


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_json_names_the_files_rows_and_plan(capsys, settings, store):
    code, out, err = run(capsys, "report", "catalogue", *PERIOD, "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    home = settings.home / "catalogue"
    assert result["files"]["docx"] == str(home / "2026-03-01_2026-03-31_zh.docx")
    assert all(Path(p).is_file() for p in result["files"].values())
    assert [(r["category"], r["hazard"], r["score"], r["trend"]) for r in result["rows"]] == [
        (c, h, s, t) for c, h, _, s, _, t in EXPECTED_PAIRS]
    assert result["rows"][0]["category_name"] == "玩具"
    assert [(p["category"], p["batches"]) for p in result["plan"]] == [
        ("toys", 68), ("electrical_appliances", 32)]
    assert result["plan"][0]["why"]["en"].startswith("Toys: 2 case(s) this period")
    assert not result["unchanged"]

    code, out, _ = run(capsys, "report", "catalogue", *PERIOD, "--json")
    again = json.loads(out)
    assert code == 0 and again["unchanged"] and again["sha256"] == result["sha256"]


def test_text_output_prints_paths_and_the_top_rows(capsys, settings, store, tmp_path):
    code, out, err = run(capsys, "report", "catalogue", *PERIOD, "--lang", "en",
                         "--batches", "40", "--out", str(tmp_path / "cat"))
    assert (code, err) == (0, "")
    assert str(tmp_path / "cat" / "2026-03-01_2026-03-31_en.docx") in out
    assert "Toys" in out and "Electric shock" in out and "up (+29)" in out


def test_other_data_is_not_overwritten_without_asking(capsys, settings, store):
    assert run(capsys, "report", "catalogue", *PERIOD)[0] == 0
    add_case(store, "J", beijing(3, 3), "toys", ["choking"], risk="low", priority="P4")
    code, _, err = run(capsys, "report", "catalogue", *PERIOD)
    assert code == 4 and "holds other data" in one_line_error(err) and "--overwrite" in err
    assert run(capsys, "report", "catalogue", *PERIOD, "--overwrite")[0] == 0


@pytest.mark.parametrize(("args", "exit_code", "message"), [
    (("--from", "2026-03-31", "--to", "2026-03-01"), 2, "is after --to"),
    (("--from", "2026-02-30", "--to", "2026-03-31"), 2, "no such date"),
    (("--from", "03/01/2026", "--to", "2026-03-31"), 2, "expected a date YYYY-MM-DD"),
    (("--from", "2025-03-01", "--to", "2025-03-31"), 3, "no cases to rank"),
    ((*PERIOD, "--batches", "0"), 2, "--batches 0: expected 1 to"),
    ((*PERIOD, "--lang", "fr"), 2, "--lang 'fr'"),
    (("--to", "2026-03-31"), 2, "Missing option '--from'"),
])
def test_refusals_are_one_line(capsys, settings, store, args, exit_code, message):
    code, out, err = run(capsys, "report", "catalogue", *args)
    assert code == exit_code and out == ""
    assert message in one_line_error(err)
    assert not (settings.home / "catalogue").exists()


def test_out_inside_the_case_reports_is_refused(capsys, settings, store):
    """`audit verify` holds every file under reports/ to the case manifest."""
    code, _, err = run(capsys, "report", "catalogue", *PERIOD, "--out",
                       str(settings.home / "reports" / "catalogue"))
    assert code == 2 and "inside the case reports directory" in one_line_error(err)
