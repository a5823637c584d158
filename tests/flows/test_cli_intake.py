"""`riskgate intake check|rejects|status` and the import's refusals, in-process (the import
itself, with its `triage-intake` flow run, is in tests/flows/test_prefect_e2e.py)."""

from __future__ import annotations

import json

import pytest

from cases import feeds, importer
from flows.cli import main
from tests.helpers import SAMPLES

SAMPLE = SAMPLES / "intake" / "complaint_12365.csv"


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_check_shows_how_rows_map_without_storing_anything(capsys, settings, db):
    code, out, err = run(capsys, "intake", "check", "--channel", "complaint_12365",
                         str(SAMPLE), "--rows", "3", "--json")
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert json.dumps(report, ensure_ascii=False).count("12365-2026-1182") >= 3
    code, out, _ = run(capsys, "intake", "status", "--json")
    assert code == 0 and json.loads(out)["untriaged"] == 0


@pytest.mark.parametrize(("args", "wanted"), [
    ((str(SAMPLE),), "give one of --channel NAME or --mapping FILE"),
    (("--channel", "complaint_12365", "--mapping", "x.yaml", str(SAMPLE)),
     "give one of --channel NAME or --mapping FILE"),
    (("--channel", "telepathy", str(SAMPLE)), "unknown channel 'telepathy'"),
])
def test_an_import_asked_wrongly_is_refused_in_one_line(capsys, settings, db, cli_user, args,
                                                        wanted):
    code, out, err = run(capsys, "intake", "import", *args)
    assert (code, out) == (2, "") and err.count("\n") == 1 and wanted in err, err


def test_rejects_lists_each_refused_row_with_its_line(capsys, settings, db, tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").splitlines()
    text[3] = text[3].replace("2026-11-03", "03/11/2026", 1)
    path = tmp_path / "c.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = importer.import_file(db, path, feeds.channel_mapping("complaint_12365"),
                                  actor="staff:test")
    assert result.counts.rejected == 1
    code, out, err = run(capsys, "intake", "rejects", result.import_id, "--json")
    assert (code, err) == (0, "")
    [row] = json.loads(out)
    assert row["line"] == 4 and row["status"] == "open" and "登记时间" in row["problems"][0]
    code, out, err = run(capsys, "intake", "rejects", "IM-nope")
    assert (code, out) == (3, "") and "no import 'IM-nope'" in err
