"""The auditor view and administration over HTTP, in-process: each report's verification status
(and what a changed file does to it), the whole-store verification as a background job, the
replays and the audit log; accounts and the roster managed on the web."""

from __future__ import annotations

import pytest
from sqlmodel import select

from cases import accounts, store
from cases.models import AuditEvent, Expert
from flows.web.app import create_app
from tests.helpers import advance_with_people, open_archetype
from tests.web.console_helpers import add_people, errors_of, sign_in, token_of


@pytest.fixture
def closed_case(settings, db, roster):
    add_people(db)
    case_id, truth = open_archetype(db, "toy_choking")
    assert advance_with_people(settings, db, case_id, truth).state == "closed"
    return case_id, create_app(settings, start=lambda *_: None)


def test_every_report_shows_its_verification_and_a_changed_file_is_not_verified(
        settings, db, closed_case):
    case_id, app = closed_case
    client = sign_in(app, "carol")
    page = client.get(f"/audit/cases/{case_id}")
    assert page.status_code == 200
    assert page.text.count("已验证（清单记录见第") == len(store.load_dossier(db, case_id).reports)
    assert "审计日志哈希链完整" in page.text
    assert "已重现：triage 1.1.0" in page.text and "已重现：disposal" in page.text
    assert "disposal.overridden" in page.text or "disposal.approved" in page.text
    closure = next(r for r in store.load_dossier(db, case_id).reports if r.gate == "closure")
    with (settings.home / closure.path).open("ab") as handle:
        handle.write(b"tampered")
    changed = client.get(f"/audit/cases/{case_id}").text
    assert changed.count("已验证（清单记录见第") == len(
        store.load_dossier(db, case_id).reports) - 1
    assert "未通过验证" in changed and "the file hashes to" in changed


def test_the_whole_store_verification_runs_in_the_background_and_its_result_is_kept(
        settings, db, closed_case):
    case_id, app = closed_case
    client = sign_in(app, "carol")
    token = token_of(client, "/audit")
    started = client.post("/audit/verify", data={"csrf": token}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"].startswith(
        "/audit?started=")
    runs = client.get("/audit").text.split('id="runs"')[1]  # the task ran after the response
    assert "全部一致" in runs and "user:carol" in runs
    report = store.load_dossier(db, case_id).reports[0]
    (settings.home / report.path).write_bytes(b"not a report")
    client.post("/audit/verify", data={"csrf": token})
    runs = client.get("/audit").text.split('id="runs"')[1]
    assert "发现问题" in runs and "the file was changed" in runs
    assert "全部一致" in runs  # the earlier run's result stays


def test_an_admin_adds_accounts_changes_roles_and_imports_the_roster(settings, db,
                                                                     closed_case):
    _, app = closed_case
    client = sign_in(app, "dave")
    token = token_of(client, "/admin")
    bad = client.post("/admin/accounts", data={"csrf": token, "name": "Bad Name",
                                               "password": "correct horse battery",
                                               "roles": ["staff"]})
    assert bad.status_code == 422 and "use lower-case letters" in bad.text
    assert accounts.find(db, "bad name") is None
    added = client.post("/admin/accounts", data={
        "csrf": token, "name": "qian", "display_name": "钱敏", "email": "qian@centre.example",
        "password": "another long secret", "roles": ["staff", "approver"]},
        follow_redirects=False)
    assert added.status_code == 303
    assert accounts.find(db, "qian").roles == {"staff", "approver"}
    sign_in(app, "qian", "another long secret")
    changed = client.post("/admin/accounts/qian", data={"csrf": token, "roles": ["auditor"],
                                                        "active": "on"},
                          follow_redirects=False)
    assert changed.status_code == 303 and accounts.find(db, "qian").roles == {"auditor"}
    disabled = client.post("/admin/accounts/qian", data={"csrf": token, "roles": ["auditor"]},
                           follow_redirects=False)
    assert disabled.status_code == 303 and accounts.find(db, "qian") is None
    sign_in(app, "qian", "another long secret", expect=401)
    with db.read_session() as session:
        actors = {e.actor for e in session.exec(select(AuditEvent).where(
            AuditEvent.action.in_(("account.added", "account.changed"))
            & (AuditEvent.detail["account"].as_string() == "qian"))).all()}
    assert actors == {"user:dave"}

    roster = "id,name,affiliation,seniority,categories,hazards\n" \
             "W001,吴工,某检测院,12,toys,choking\nW002,郑工,某检测院,x,toys,choking\n"
    refused = client.post("/admin/roster", data={"csrf": token}, files={
        "roster": ("roster.csv", roster.encode(), "text/csv")})
    assert refused.status_code == 422 and "roster.csv:3" in refused.text
    with db.read_session() as session:
        assert session.get(Expert, "W001") is None  # one bad row: nothing imported
    fixed = roster.replace(",x,", ",8,")
    done = client.post("/admin/roster", data={"csrf": token}, files={
        "roster": ("roster.csv", fixed.encode(), "text/csv")}, follow_redirects=False)
    assert done.status_code == 303
    with db.read_session() as session:
        assert session.get(Expert, "W002").seniority == 8
    assert errors_of(client.get("/admin").text) == {}


def test_the_last_admin_cannot_give_up_the_role(settings, db, closed_case):
    _, app = closed_case
    client = sign_in(app, "dave")
    token = token_of(client, "/admin")
    refused = client.post("/admin/accounts/dave", data={"csrf": token, "roles": ["staff"],
                                                        "active": "on"})
    assert refused.status_code == 422 and "最后一个启用的管理员" in refused.text
    assert accounts.find(db, "dave").roles == {"admin"}
    accounts.update(db, "carol", by="local:test", roles=["auditor", "admin"])
    done = client.post("/admin/accounts/dave", data={"csrf": token, "roles": ["staff"],
                                                     "active": "on"}, follow_redirects=False)
    assert done.status_code == 303 and accounts.find(db, "dave").roles == {"staff"}
    long_name = client.post("/admin/accounts", data={"csrf": token, "name": "zzz",
                                                     "display_name": "名" * 101,
                                                     "password": "correct horse battery",
                                                     "roles": ["staff"]})
    assert long_name.status_code == 403  # dave is no longer an admin
