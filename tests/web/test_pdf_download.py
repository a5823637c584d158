"""The PDF archive copy beside the .docx on the console and the auditor view: the same readers
as the .docx (staff, approvers, auditors; not an admin, nobody signed out), its own
verification status, and 404 for a report without one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cases import store
from cases.config import load_settings
from flows import gates
from flows.web.app import create_app
from tests.helpers import open_archetype
from tests.tools import require_tool
from tests.web.console_helpers import BASE, add_people, sign_in


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'riskgate.db'}"


def test_the_pdf_copy_is_offered_to_whoever_reads_the_docx(db, monkeypatch):
    require_tool("soffice")
    monkeypatch.setenv("RISKGATE_PDF_ARCHIVE", "on")
    settings = load_settings()
    add_people(db)
    case_id, _ = open_archetype(db, "out_of_scope_food")
    assert gates.advance(settings, case_id).state == "closed"
    without, _ = open_archetype(db, "out_of_scope_food", tag="nopdf")
    monkeypatch.setenv("RISKGATE_PDF_ARCHIVE", "off")
    assert gates.advance(load_settings(), without).state == "closed"
    app = create_app(settings, start=lambda *_: None)
    report = store.load_dossier(db, case_id).reports[0]
    url = f"/console/cases/{case_id}/reports/{report.id}/pdf"
    pdf = (settings.home / report.pdf_path).read_bytes()
    for reader in ("alice", "bob", "carol"):
        got = sign_in(app, reader).get(url)
        assert got.status_code == 200 and got.content == pdf, reader
        assert got.headers["content-type"] == "application/pdf"
        assert "attachment" in got.headers["content-disposition"]
        assert "01-intake.pdf" in got.headers["content-disposition"]
    assert sign_in(app, "dave").get(url).status_code == 403
    signed_out = TestClient(app, base_url=BASE).get(url, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith(
        "/login?next=")
    other = store.load_dossier(db, without).reports[0]
    alice = sign_in(app, "alice")
    assert alice.get(f"/console/cases/{without}/reports/{other.id}/pdf").status_code == 404
    assert alice.get(f"/console/cases/{without}/reports/{report.id}/pdf").status_code == 404

    page = alice.get(f"/console/cases/{case_id}").text
    assert page.count('class="report-pdf-link"') == 3 and url in page
    assert 'class="report-pdf-link"' not in alice.get(f"/console/cases/{without}").text
    carol = sign_in(app, "carol")
    audit_page = carol.get(f"/audit/cases/{case_id}").text
    assert audit_page.count('class="report-pdf-link"') == 3
    assert audit_page.count("已验证（清单记录见第") == 3
    (settings.home / report.pdf_path).write_bytes(pdf + b"%changed")
    changed = carol.get(f"/audit/cases/{case_id}").text
    assert changed.count("已验证（清单记录见第") == 2 and "its PDF copy hashes to" in changed

