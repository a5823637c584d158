"""What every page and form of the web app shares: the store, the templates, who is signed in,
the CSRF check, and the role check.

Two kinds of people sign in. Experts open a personal link (cases/links.py) and see only their
own assignments. Staff, approvers, auditors and admins sign in at /login with an account
(cases/accounts.py); each of their routes names the action it needs (`needs(Action.…)`,
cases/roles.py) and the server checks the account's roles, read from the store on every
request, before the route runs. A signed-in account refused is shown 403 and the attempt is
written to the audit log; no session at all is sent to /login (a page) or refused 401 (a post).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool

from cases import accounts, audit, sessions
from cases.accounts import Person
from cases.config import Settings
from cases.db import Database
from cases.roles import Action
from cases.submissions import Claim
from flows.web.views import locale

COOKIE = "riskgate_session"
TEMPLATES = Path(__file__).with_name("templates")
MAX_FORM_BYTES = 64_000
MAX_UPLOAD_BYTES = 1_100_000  # a signal file (1 MB) and the form around it

Starter = Callable[[Settings, Claim], object]


@dataclass(frozen=True)
class Visitor:
    """Whoever the session cookie names: an expert, or a signed-in account."""

    token: str
    session: sessions.Session
    person: Person | None = None  # the account, with its roles as stored now

    @property
    def expert_id(self) -> str:
        return self.session.subject

    @property
    def lang(self) -> str:
        return self.session.lang


class NotSignedIn(Exception):
    """Handled into a redirect to /login (a page) or a 401 (a post)."""


class Forbidden(Exception):
    """Handled into a 403 page and an audit event."""

    def __init__(self, visitor: Visitor, action: Action) -> None:
        super().__init__(action.value)
        self.visitor, self.action = visitor, action


def nav_for(person: Person | None) -> list[tuple[str, str]]:
    """The header's links: the areas this account's roles open."""
    if person is None:
        return []
    links = []
    if person.may(Action.READ_CASES):
        links += [("/console", "nav.console"), ("/enterprises", "nav.enterprises")]
    if person.may(Action.READ_AUDIT):
        links.append(("/audit", "nav.audit"))
    if person.may(Action.MANAGE_ACCOUNTS):
        links.append(("/admin", "nav.admin"))
    return links


def home_of(person: Person) -> str:
    """Where an account lands after signing in: the console for staff and approvers, the
    auditor view for auditors, administration for admins."""
    if person.roles & {"staff", "approver"}:
        return "/console"
    if "auditor" in person.roles:
        return "/audit"
    return "/admin"


class Web:
    """The app's shared state and helpers (one per app)."""

    def __init__(self, settings: Settings, db: Database, start: Starter) -> None:
        self.settings, self.db, self.start = settings, db, start
        # Every page escapes what it shows (signal texts, rationales): autoescape for all
        # templates, whatever their file name.
        self.templates = Jinja2Templates(env=Environment(
            loader=FileSystemLoader(str(TEMPLATES)), autoescape=True))
        self.secure_cookie = settings.public_url.startswith("https://")
        # a route's dependency on its action: `who: Visitor = web.need[Action.LAUNCH]`
        self.need = {action: Depends(self.needs(action)) for action in Action}
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.public_url))

    # -- who is there ------------------------------------------------------------------------

    def visitor(self, request: Request) -> Visitor | None:
        token = request.cookies.get(COOKIE)
        found = sessions.find(self.db, token)
        if found is None or token is None:
            return None
        if found.kind == "expert":
            return Visitor(token, found)
        if found.kind == "account":
            person = accounts.find(self.db, found.subject)
            return Visitor(token, found, person) if person is not None else None
        return None

    def expert(self, request: Request) -> Visitor | None:
        who = self.visitor(request)
        return who if who is not None and who.person is None else None

    def needs(self, action: Action) -> Callable[[Request], Awaitable[Visitor]]:
        """A route dependency: the signed-in account, if its roles allow `action`."""
        async def signed_in(request: Request) -> Visitor:
            who = await run_in_threadpool(self.visitor, request)
            if who is None or who.person is None:
                raise NotSignedIn()
            if not who.person.may(action):
                raise Forbidden(who, action)
            return who
        signed_in.action = action  # type: ignore[attr-defined]  # read by the role-matrix test
        return signed_in

    def refused(self, request: Request, refusal: Forbidden) -> HTMLResponse:
        """403, written to the audit log: who tried what, and which role it needs."""
        person = refusal.visitor.person
        assert person is not None
        with self.db.session() as session:
            audit.append(self.db, session, actor=person.actor, action="access.refused",
                         detail={"method": request.method, "path": request.url.path[:200],
                                 "needs": refusal.action.value,
                                 "roles": sorted(person.roles)})
        return self.message(request, "ui.forbidden", 403, who=refusal.visitor,
                            action=refusal.action.value)

    def not_signed_in(self, request: Request) -> Response:
        if request.method == "GET":
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return self.message(request, "ui.need_sign_in", 401)

    # -- pages -------------------------------------------------------------------------------

    def page(self, request: Request, name: str, lang: str, status: int = 200,
             who: Visitor | None = None, **context: Any) -> HTMLResponse:
        t = locale(lang)
        person = who.person if who else None
        return self.templates.TemplateResponse(request, name, {
            "t": t.t, "known": lambda key: key in t.messages, "lang": lang,
            "csrf": who.session.csrf if who else "",
            "signed_in": who is not None, "person": person, "nav": nav_for(person),
            "expert": who is not None and person is None, "path": request.url.path,
            **context}, status_code=status)

    def message(self, request: Request, key: str, status: int, lang: str | None = None,
                who: Visitor | None = None, **params: Any) -> HTMLResponse:
        who = who or self.visitor(request)
        shown = lang or (who.lang if who else asked_lang(request))
        if key == "ui.not_found" and who is not None and who.person is not None:
            key = "ui.not_found_record"  # the expert's wording speaks of assignments
        return self.page(request, "message.html.j2", shown, status, who=who, key=key,
                         params=params)

    # -- posts -------------------------------------------------------------------------------

    def origin_ok(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return not origin or origin in (self.origin, own_origin(request))

    async def form(self, request: Request, who: Visitor,
                   limit: int = MAX_FORM_BYTES) -> dict[str, Any] | Response:
        """The fields of a POST that passes the CSRF checks (the session's token, and an
        Origin of this app when the browser sends one), or the 403 that refuses it. Uploaded
        files come as UploadFile values."""
        def refused() -> Response:
            return self.message(request, "ui.csrf", 403, who=who)

        if not self.origin_ok(request):
            return refused()
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > limit):
            return self.message(request, "ui.too_large", 413, who=who, most=limit // 1000)
        data = await request.form(max_part_size=limit)
        fields = {k: v for k, v in data.items()}
        given = fields.get("csrf", "")
        if not isinstance(given, str) or not hmac.compare_digest(
                given.encode(), who.session.csrf.encode()):
            return refused()
        return fields

    def set_session(self, response: Response, cookie: str) -> None:
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax",
                            secure=self.secure_cookie, max_age=sessions.SESSION_HOURS * 3600,
                            path="/")


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def asked_lang(request: Request, default: str = "zh") -> str:
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        return asked
    return default if default in ("zh", "en") else "zh"


def safe_next(target: str, default: str = "/") -> str:
    """A local path to go back to after a post (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
