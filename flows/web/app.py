"""The expert portal: FastAPI routes that render Jinja2 pages and take form posts.

The pages work without JavaScript. Who may see what is decided in cases/portal.py; storing a
score, a conflict declaration or a revocation goes through the same calls as the CLI
(flows/submissions.py, cases/panel_changes.py), so a score from the form is checked and handed
over exactly like one from `riskgate score submit`.

Security: a personal link (cases/links.py) opens a session whose token lives only in an
HttpOnly, SameSite=Lax cookie; every POST carries the session's CSRF token and, when the
browser sends one, an Origin of this portal; every route checks the session's role on the
server. Responses are not cached and may not be framed.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cases import links, mail, panel_changes, portal, sessions
from cases.config import Settings
from cases.db import Database, database
from cases.errors import InvalidInput, NotFound, RiskGateError, WrongState
from cases.submissions import Claim, DissentRequired, record_score
from experts.notices import when
from flows.web import forms
from flows.web.views import dossier_context, form_values, locale

COOKIE = "riskgate_session"
TEMPLATES = Path(__file__).with_name("templates")
MAX_FORM_BYTES = 64_000

Starter = Callable[[Settings, Claim], object]


def start_continuation(settings: Settings, claim: Claim) -> object:
    """After the response: start the run a closed round owes (the sweeper retries)."""
    from flows.submissions import start_claimed

    return start_claimed(settings, claim)


@dataclass(frozen=True)
class Visitor:
    token: str
    session: sessions.Session

    @property
    def expert_id(self) -> str:
        return self.session.subject


SECURITY_HEADERS = (
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    # same-origin, not no-referrer: with no-referrer Chromium posts forms with "Origin: null",
    # which the CSRF check must refuse.
    ("referrer-policy", "same-origin"),
    ("content-security-policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; form-action 'self'; frame-ancestors 'none'"),
)
# Threads for the store's work. Python runs one at a time, so many threads only queue behind
# each other for the GIL; a few keep a slow read from holding up a post (bench/portal.py).
STORE_THREADS = 8


class SecurityHeaders:
    """The headers every answer carries, as plain ASGI middleware (Starlette's
    BaseHTTPMiddleware costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = STORE_THREADS
    yield


def create_app(settings: Settings, *, start: Starter = start_continuation) -> FastAPI:
    app = FastAPI(title="RiskGate expert portal", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=_lifespan)
    # Every page escapes what it shows (signal texts, rationales): autoescape for all
    # templates, whatever their file name.
    templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(str(TEMPLATES)),
                                                autoescape=True))
    db: Database = database(settings.database_url)
    _warm(templates.env, db)
    secure_cookie = settings.public_url.startswith("https://")
    portal_origin = "{0.scheme}://{0.netloc}".format(urlsplit(settings.public_url))

    app.add_middleware(SecurityHeaders)

    def visitor(request: Request) -> Visitor | None:
        token = request.cookies.get(COOKIE)
        found = sessions.find(db, token)
        if found is None or found.kind != "expert" or token is None:
            return None
        return Visitor(token, found)

    def page(request: Request, name: str, lang: str, status: int = 200,
             **context: Any) -> HTMLResponse:
        t = locale(lang)
        who = visitor(request)
        return templates.TemplateResponse(request, name, {
            "t": t.t, "lang": lang, "csrf": who.session.csrf if who else "",
            "signed_in": who is not None, "path": request.url.path, **context},
            status_code=status)

    def message(request: Request, key: str, status: int, lang: str | None = None,
                **params: Any) -> HTMLResponse:
        who = visitor(request)
        shown = lang or (who.session.lang if who else _asked_lang(request))
        return page(request, "message.html.j2", shown, status, key=key, params=params)

    async def authorised_post(request: Request) -> tuple[Visitor, dict[str, str]] | Response:
        """The visitor and form of a POST, or the refusal: no session (401), a failed CSRF or
        Origin check (403)."""
        who = visitor(request)
        if who is None:
            return message(request, "ui.need_link", 401)
        fields = await posted(request, who)
        if fields is None:
            return message(request, "ui.csrf", 403)
        return who, fields

    async def posted(request: Request, who: Visitor) -> dict[str, str] | None:
        """The form of a POST that passes the CSRF checks; None otherwise."""
        origin = request.headers.get("origin")
        if origin and origin not in (portal_origin, _own_origin(request)):
            return None
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
            return None
        data = await request.form()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        given = fields.get("csrf", "")
        if not hmac.compare_digest(given.encode(), who.session.csrf.encode()):
            return None
        return fields

    identity = settings.portal_identity()

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:  # on the event loop: a busy store thread pool cannot delay it
        return f"ok {identity}"

    @app.get(links.LINK_PATH + "{token}")
    def open_link(request: Request, token: str) -> Response:
        try:
            link = links.open_link(db, settings, token)
        except links.LinkRefused as refused:
            return message(request, f"ui.link_{refused.reason}", 403)
        lang = _asked_lang(request, default=_case_lang(db, link.case_id))
        cookie, _ = sessions.start(db, kind="expert", subject=link.expert_id, lang=lang)
        target = "/"
        if link.case_id:
            try:
                with db.read_session() as s:
                    portal.seat_of(s, link.case_id, link.expert_id)
                target = f"/cases/{link.case_id}"
            except NotFound:
                target = "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="lax",
                            secure=secure_cookie, max_age=sessions.SESSION_HOURS * 3600,
                            path="/")
        return response

    @app.get("/")
    def assignments(request: Request) -> Response:
        who = visitor(request)
        if who is None:
            return message(request, "ui.need_link", 401)
        rows = portal.assignments(db, who.expert_id)
        return page(request, "assignments.html.j2", who.session.lang, rows=rows,
                    deadline_of=lambda a: when(a.deadline_at),
                    conflict=request.query_params.get("conflict", "")[:40])

    def case_page(request: Request, who: Visitor, case_id: str, status: int = 200,
                  **extra: Any) -> HTMLResponse:
        view = portal.expert_view(db, who.expert_id, case_id)
        lang = who.session.lang
        context = dossier_context(view, lang)
        context.setdefault("values", form_values(view))
        context.update(extra)
        return page(request, "case.html.j2", lang, status, **context)

    @app.get("/cases/{case_id}")
    def case(request: Request, case_id: str) -> Response:
        who = visitor(request)
        if who is None:
            return message(request, "ui.need_link", 401)
        try:
            return case_page(request, who, case_id,
                             saved=request.query_params.get("saved", "")[:20])
        except NotFound:
            return message(request, "ui.not_found", 404)

    StoreWork = Callable[[Request, Visitor, str, dict[str, str], BackgroundTasks], Response]

    async def authorised_work(request: Request, work: StoreWork, case_id: str,
                              tasks: BackgroundTasks) -> Response:
        """A case's form post that passes the checks, its store work run in the thread pool
        (the event loop keeps taking requests)."""
        checked = await authorised_post(request)
        if isinstance(checked, Response):
            return checked
        who, fields = checked
        return await run_in_threadpool(work, request, who, case_id, fields, tasks)

    @app.post("/cases/{case_id}/score")
    async def score(request: Request, case_id: str, tasks: BackgroundTasks) -> Response:
        return await authorised_work(request, store_score, case_id, tasks)

    def store_score(request: Request, who: Visitor, case_id: str, fields: dict[str, str],
                    tasks: BackgroundTasks) -> Response:
        try:
            target = portal.form_target(db, who.expert_id, case_id)
        except NotFound:
            return message(request, "ui.not_found", 404)
        t = locale(who.session.lang)
        if target.round_no is None:
            return message(request, "ui.refused", 409, message=t.t("ui.round_closed"))
        numbers = target.scenarios or [1]
        parsed = forms.parse(fields, numbers, max(numbers) + 1, t)
        form, errors = forms.validate(parsed, t)
        again = {"values": fields}
        if form is None:
            return case_page(request, who, case_id, 422, errors=errors, **again)
        if fields.get("action") == "preview":
            return case_page(request, who, case_id, preview=form, **again)
        try:
            receipt = record_score(db, case_id, who.expert_id, target.round_no,
                                   form.to_record(), actor=f"expert:{who.expert_id} (portal)")
        except DissentRequired as needed:
            errors = {"dissent": t.t("error.dissent_required", own=needed.own,
                                     median=needed.median, distance=needed.distance)}
            return case_page(request, who, case_id, 422, errors=errors, **again)
        except (WrongState, InvalidInput) as refused:
            return message(request, "ui.refused", 409, message=str(refused))
        if receipt.claim.claimed:
            tasks.add_task(start, settings, receipt.claim)
            saved = "complete"
        else:
            saved = receipt.change
        return RedirectResponse(f"/cases/{case_id}?saved={saved}", status_code=303)

    @app.post("/cases/{case_id}/conflict")
    async def conflict(request: Request, case_id: str, tasks: BackgroundTasks) -> Response:
        return await authorised_work(request, store_conflict, case_id, tasks)

    def store_conflict(request: Request, who: Visitor, case_id: str, fields: dict[str, str],
                       tasks: BackgroundTasks) -> Response:
        try:
            with db.read_session() as s:
                portal.seat_of(s, case_id, who.expert_id)
            panel_changes.declare_conflict(db, settings, case_id, who.expert_id,
                                           fields.get("reason", ""))
        except NotFound:
            return message(request, "ui.not_found", 404)
        except InvalidInput:
            return case_page(request, who, case_id, 422, conflict_error=locale(
                who.session.lang).t("error.description_short"),
                conflict_reason=fields.get("reason", ""))
        except RiskGateError as refused:
            return message(request, "ui.refused", 409, message=str(refused))
        tasks.add_task(mail.deliver, db, settings)
        return RedirectResponse(f"/?conflict={case_id}", status_code=303)

    @app.post("/lang")
    async def switch_lang(request: Request) -> Response:
        checked = await authorised_post(request)
        if isinstance(checked, Response):
            return checked
        who, fields = checked
        await run_in_threadpool(sessions.set_lang, db, who.token,
                                "en" if fields.get("lang") == "en" else "zh")
        back = fields.get("next", "/")
        if not back.startswith("/") or back.startswith("//") or "\\" in back:
            back = "/"
        return RedirectResponse(back, status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        who = visitor(request)
        if who is None:
            return RedirectResponse("/", status_code=303)
        fields = await posted(request, who)
        if fields is None:
            return message(request, "ui.csrf", 403)
        await run_in_threadpool(sessions.end, db, who.token)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return app


def _warm(env: Environment, db: Database) -> None:
    """Compile every template, load both languages and run the hot paths' queries once before
    the first expert arrives: otherwise the first wave of posts after a start pays for it
    (measured with bench/portal.py: p95 of the first posts 0.6-0.8 s, warm 20-40 ms)."""
    for name in env.list_templates():
        env.get_template(name)
    for lang in ("zh", "en"):
        locale(lang)
    sessions.find(db, "warm-up")
    for warm_up in (lambda: portal.form_target(db, "warm-up", "warm-up"),
                    lambda: portal.expert_view(db, "warm-up", "warm-up"),
                    lambda: portal.assignments(db, "warm-up")):
        with suppress(NotFound):
            warm_up()


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def _asked_lang(request: Request, default: str = "zh") -> str:
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        return asked
    return default if default in ("zh", "en") else "zh"


def _case_lang(db: Database, case_id: str | None) -> str:
    if not case_id:
        return "zh"
    from cases.models import Case

    with db.read_session() as session:
        case = session.get(Case, case_id)
    return case.lang if case is not None and case.lang in ("zh", "en") else "zh"
