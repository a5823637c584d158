"""PDF archive copies of gate reports (RISKGATE_PDF_ARCHIVE; flows/pdf_archive.py): written and
recorded with the report, checked by `audit verify`, refused at start when required and
LibreOffice is missing, never costing a gate its commit when LibreOffice fails, and made later
by `riskgate report archive`.

The suite runs with RISKGATE_PDF_ARCHIVE=off (tests/conftest.py); these tests turn it on. They
use the case the demo closes at triage (three reports), so LibreOffice runs for seconds only.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlmodel import col, select

from cases import audit, store
from cases.commits import clear_staging
from cases.config import load_settings
from cases.errors import InvalidInput
from cases.models import STAGING_DIR, AuditEvent, ReportRecord
from flows import gates
from flows.cli import main
from tests.helpers import open_archetype
from tests.reports.test_archive import fake_soffice
from tests.tools import require_tool

REPORTS = ["intake", "triage", "closure"]


@pytest.fixture
def database_url(tmp_path) -> str:
    """LibreOffice is what this is about: the store need not run on both backends."""
    return f"sqlite:///{tmp_path / 'riskgate.db'}"


def with_archive(monkeypatch, mode: str):
    monkeypatch.setenv("RISKGATE_PDF_ARCHIVE", mode)
    return load_settings()


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def closed_at_triage(settings, db) -> str:
    case_id, _ = open_archetype(db, "out_of_scope_food")
    assert gates.advance(settings, case_id).state == "closed"
    return case_id


def rows_of(db, case_id: str) -> list[ReportRecord]:
    return store.load_dossier(db, case_id).reports


def gate_events(db, case_id: str) -> list[dict]:
    with db.read_session() as session:
        return [e.detail for e in session.exec(select(AuditEvent).where(
            AuditEvent.case_id == case_id).order_by(col(AuditEvent.seq))).all()
            if (e.detail or {}).get("report")]


def pdf_text(path: Path) -> str:
    pdftotext = require_tool("pdftotext")
    return subprocess.run([pdftotext, "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def test_a_gate_run_with_archive_on_writes_records_and_verifies_each_pdf(db, monkeypatch):
    require_tool("soffice")
    settings = with_archive(monkeypatch, "on")
    case_id = closed_at_triage(settings, db)
    rows = rows_of(db, case_id)
    assert [r.gate for r in rows] == REPORTS
    for row in rows:
        assert row.pdf_path == row.path.removesuffix(".docx") + ".pdf"
        pdf = settings.home / row.pdf_path
        assert pdf.read_bytes()[:5] == b"%PDF-" and row.pdf_size == pdf.stat().st_size
        assert case_id in "".join(pdf_text(pdf).split())
    assert [e.get("report_pdf") for e in gate_events(db, case_id)] == [
        r.pdf_path for r in rows]
    assert not list((settings.home / "reports" / case_id).rglob(f"{STAGING_DIR}/*"))
    result = audit.verify(db, settings.home)
    assert result.ok, result.problems
    assert (result.reports, result.pdfs) == (3, 3)

    closure = settings.home / rows[-1].pdf_path
    original = closure.read_bytes()
    closure.write_bytes(original + b"%tampered")
    changed = audit.verify(db, settings.home)
    assert len(changed.problems) == 1
    assert changed.problems[0].startswith(f"PDF copy {rows[-1].pdf_path} of report "
                                          f"{rows[-1].path}") and "was changed" in \
        changed.problems[0]
    closure.write_bytes(original)
    (closure.parent / "extra.pdf").write_bytes(original)  # a PDF no manifest row names
    stray = audit.verify(db, settings.home).problems
    assert stray == [f"report file reports/{case_id}/extra.pdf is not in the manifest (added, "
                     "renamed, or written by a commit that never came)"]


def test_archive_on_without_libreoffice_is_refused_at_start(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("RISKGATE_PDF_ARCHIVE", "on")
    with pytest.raises(InvalidInput, match="RISKGATE_PDF_ARCHIVE=on, but LibreOffice is not "
                                           "installed"):
        load_settings()
    code, out, err = run(capsys, "case", "list")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "install it (Debian: libreoffice-writer-nogui)" in err
    monkeypatch.setenv("RISKGATE_PDF_ARCHIVE", "sometimes")
    with pytest.raises(InvalidInput, match="expected auto, on or off"):
        load_settings()
    for mode in ("auto", "off", "OFF"):
        monkeypatch.setenv("RISKGATE_PDF_ARCHIVE", mode)
        current = load_settings()
        assert current.pdf_archive == mode.lower()
        assert current.child_env()["RISKGATE_PDF_ARCHIVE"] == mode.lower()


def test_auto_without_libreoffice_commits_reports_without_pdf_quietly(db, tmp_path,
                                                                       monkeypatch):
    settings = with_archive(monkeypatch, "auto")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    case_id = closed_at_triage(settings, db)
    assert [r.pdf_path for r in rows_of(db, case_id)] == [None] * 3
    assert not any("report_pdf" in e or "report_pdf_error" in e
                   for e in gate_events(db, case_id))
    assert audit.verify(db, settings.home).ok


def test_a_failed_conversion_commits_the_gate_and_report_archive_makes_the_pdf_later(
        db, tmp_path, monkeypatch, capsys):
    require_tool("soffice")
    real_path = os.environ["PATH"]
    broken = fake_soffice(tmp_path / "broken", "echo 'boom: no fonts today' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{broken.parent}:{real_path}")
    settings = with_archive(monkeypatch, "on")
    case_id = closed_at_triage(settings, db)
    rows = rows_of(db, case_id)
    assert [r.gate for r in rows] == REPORTS and all(r.pdf_path is None for r in rows)
    errors = [e.get("report_pdf_error", "") for e in gate_events(db, case_id)]
    assert len(errors) == 3 and all("exited with status 1" in e and "boom: no fonts today" in e
                                    for e in errors)
    assert not list((settings.home / "reports").rglob("*.pdf"))  # nothing staged is left
    assert audit.verify(db, settings.home).ok

    code, _, err = run(capsys, "report", "archive", "--case", "RG-NOSUCHCASE")
    assert code == 3 and "RG-NOSUCHCASE" in err
    code, out, err = run(capsys, "report", "archive", "--json")  # still the broken one
    assert code == 4 and "3 report(s) still without a PDF copy" in err
    assert json.loads(out)["failed"] == 3

    monkeypatch.setenv("PATH", real_path)
    code, out, err = run(capsys, "report", "archive", "--case", case_id, "--json")
    assert (code, err) == (0, "")
    done = json.loads(out)
    assert (done["archived"], done["failed"], done["skipped"]) == (3, 0, 0)
    rows = rows_of(db, case_id)
    assert [r["pdf"] for r in done["reports"]] == [r.pdf_path for r in rows]
    for row in rows:
        assert case_id in "".join(pdf_text(settings.home / row.pdf_path).split())
    with db.read_session() as session:
        archived = session.exec(select(AuditEvent).where(
            AuditEvent.action == "report.archived")).all()
    assert [e.detail["report_pdf"] for e in archived] == [r.pdf_path for r in rows]
    assert all(e.actor.startswith("local:") for e in archived)
    result = audit.verify(db, settings.home)
    assert result.ok, result.problems
    assert result.pdfs == 3

    code, out, _ = run(capsys, "report", "archive")
    assert code == 0 and "nothing to do" in out


def test_report_archive_never_vouches_for_a_changed_report(db, settings, monkeypatch, capsys):
    require_tool("soffice")
    case_id = closed_at_triage(settings, db)  # the suite's default: no PDF copies
    triage = rows_of(db, case_id)[1]
    with (settings.home / triage.path).open("ab") as handle:
        handle.write(b"changed")
    code, out, err = run(capsys, "report", "archive", "--case", case_id)
    assert code == 4 and "02-triage.docx: the .docx does not match its manifest entry" in err
    assert "2 PDF copies made, 0 failed, 1 skipped" in out
    assert [r.pdf_path is None for r in rows_of(db, case_id)] == [False, True, False]


def test_stale_staged_pdfs_are_cleared_with_their_reports(tmp_path):
    staging = tmp_path / "reports" / "RG-1" / STAGING_DIR
    staging.mkdir(parents=True)
    names = ["02-triage.abc.docx", "02-triage.abc.pdf", "02-triage-r2.def.pdf"]
    for name in names:
        (staging / name).write_bytes(b"x")
    clear_staging(tmp_path, "RG-1", "02-triage")
    assert sorted(p.name for p in staging.iterdir()) == ["02-triage-r2.def.pdf"]
