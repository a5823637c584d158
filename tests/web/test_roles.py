"""Every route of the web app, walked with every role and with no session: only the roles the
table below allows get through; the others are refused on the server (403 for a signed-in
account, with the attempt in the audit log; sign-in for nobody). A route added to the app
without a line here fails the first test."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import select

from cases import store
from cases.models import AuditEvent
from flows import gates
from flows.web.app import create_app
from tests.helpers import open_archetype, score_round
from tests.web.console_helpers import BASE, add_people, sign_in, token_of

READERS = {"staff", "approver", "auditor"}
STAFF, APPROVER, AUDITOR, ADMIN = {"staff"}, {"approver"}, {"auditor"}, {"admin"}
CASE = "/console/cases/{case_id}"
# (method, path) → the roles that may use it
ROUTES: dict[tuple[str, str], set[str]] = {
    ("GET", "/console"): READERS,
    ("GET", "/console/cases/new"): STAFF,
    ("POST", "/console/cases"): STAFF,
    ("GET", CASE): READERS,
    ("GET", CASE + "/reports/{report_id}"): READERS,
    ("GET", CASE + "/reports/{report_id}/pdf"): READERS,
    ("POST", CASE + "/launch"): STAFF,
    ("POST", CASE + "/scenarios"): STAFF,
    ("POST", CASE + "/information"): STAFF,
    ("POST", CASE + "/move"): STAFF,
    ("POST", CASE + "/split"): STAFF,
    ("POST", CASE + "/lab"): STAFF,
    ("POST", CASE + "/retry"): STAFF,
    ("POST", CASE + "/seat"): STAFF,
    ("POST", CASE + "/extend"): STAFF,
    ("POST", CASE + "/disposal"): APPROVER,
    ("POST", CASE + "/actions/{number}"): STAFF,
    ("POST", CASE + "/close"): STAFF,
    ("GET", "/enterprises"): READERS,
    ("GET", "/enterprises/{key}"): READERS,
    ("GET", "/audit"): AUDITOR,
    ("POST", "/audit/verify"): AUDITOR,
    ("GET", "/audit/cases/{case_id}"): AUDITOR,
    ("GET", "/admin"): ADMIN,
    ("POST", "/admin/accounts"): ADMIN,
    ("POST", "/admin/accounts/{name}"): ADMIN,
    ("POST", "/admin/roster"): ADMIN,
}
# Open to anyone (signing in, the health check) or to experts by their link only.
PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("POST", "/lang"),
          ("POST", "/logout"), ("GET", "/")}
EXPERTS_ONLY = {("GET", "/e/{token}"), ("GET", "/cases/{case_id}"),
                ("POST", "/cases/{case_id}/score"), ("POST", "/cases/{case_id}/conflict")}
ACCOUNTS = {"staff": "alice", "approver": "bob", "auditor": "carol", "admin": "dave"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One store for the whole walk: a closed case with reports, and the four accounts."""
    import os

    from cases.config import load_settings
    from cases.db import database
    from flows.demo import seed_roster
    from tests.helpers import advance_with_people

    home = tmp_path_factory.mktemp("roles")
    saved = {k: os.environ.get(k) for k in ("RISKGATE_HOME", "RISKGATE_DATABASE_URL")}
    os.environ["RISKGATE_HOME"] = str(home / "home")
    os.environ["RISKGATE_DATABASE_URL"] = f"sqlite:///{home / 'riskgate.db'}"
    settings = load_settings()
    db = database(settings.database_url)
    seed_roster(settings)
    add_people(db)
    case_id, truth = open_archetype(db, "toy_choking")
    assert advance_with_people(settings, db, case_id, truth).state == "closed"
    waiting, truth2 = open_archetype(db, "heater_shock")
    gates.advance(settings, waiting)
    score_round(db, waiting, truth2)
    app = create_app(settings, start=lambda *_: None)
    report = store.load_dossier(db, case_id).reports[0]
    yield app, db, {"case_id": case_id, "report_id": str(report.id), "number": "1",
                    "key": "code:91330206MA2H3L7X0K", "name": "alice", "token": "x" * 40}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route, including those of included routers (FastAPI keeps
    an included router whole, as `original_router`)."""
    found: set[tuple[str, str]] = set()
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            found |= {(method, route.path) for method in route.methods}
        elif hasattr(route, "original_router"):
            pending += route.original_router.routes
    return found


def test_every_route_is_in_the_table(world):
    app, _, _ = world
    assert app_routes(app) == set(ROUTES) | PUBLIC | EXPERTS_ONLY


def request(client: TestClient, method: str, path: str, token: str):
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.post(path, data={"csrf": token}, follow_redirects=False)


@pytest.mark.parametrize("role", [*ACCOUNTS, None])
def test_each_route_lets_in_exactly_the_roles_it_names(world, role):
    app, _, ids = world
    if role is None:
        client, token = TestClient(app, base_url=BASE), ""
    else:
        client = sign_in(app, ACCOUNTS[role])
        token = token_of(client, "/console" if role in READERS - {"auditor"} else
                         {"auditor": "/audit", "admin": "/admin"}[role])
    for (method, template), allowed in sorted(ROUTES.items()):
        path = template.format(**ids)
        answer = request(client, method, path, token)
        where = f"{role} {method} {path} → {answer.status_code}"
        if role in allowed:
            assert answer.status_code not in (401, 403), where
            assert not answer.headers.get("location", "").startswith("/login"), where
        elif role is None:
            expected = (303, "/login?next=") if method == "GET" else (401, "")
            assert answer.status_code == expected[0], where
            assert answer.headers.get("location", "").startswith(expected[1]), where
        else:
            assert answer.status_code == 403, where
            assert "无权" in answer.text, where
    for method, template in sorted(EXPERTS_ONLY - {("GET", "/e/{token}")}):
        answer = request(client, method, template.format(**ids), token)
        assert answer.status_code == 401, f"{role} {method} {template}: experts only"


def test_an_auditors_attempt_to_change_anything_is_refused_and_logged(world):
    app, db, ids = world
    client = sign_in(app, "carol")
    token = token_of(client, "/audit")
    changing = [(m, t) for (m, t), allowed in ROUTES.items()
                if m == "POST" and "auditor" not in allowed]

    def refusals() -> list[AuditEvent]:
        with db.read_session() as session:
            return list(session.exec(select(AuditEvent).where(
                AuditEvent.action == "access.refused", AuditEvent.actor == "user:carol")))

    def others() -> int:
        with db.read_session() as session:
            return len(session.exec(select(AuditEvent).where(
                AuditEvent.action != "access.refused")).all())

    before, changes = len(refusals()), others()
    for method, template in changing:
        assert request(client, method, template.format(**ids), token).status_code == 403
    logged = refusals()[before:]
    assert [(e.detail["method"], e.detail["path"]) for e in logged] == [
        (m, t.format(**ids)) for m, t in changing]
    assert all(e.detail["roles"] == ["auditor"] and e.detail["needs"] for e in logged)
    assert others() == changes  # nothing else was written
