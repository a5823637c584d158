"""The web app: the expert portal, the staff console, the auditor view and administration, one
FastAPI app of server-rendered Jinja2 pages that work without JavaScript.

Experts come in by their personal link (flows/web/expert_routes.py); staff, approvers, auditors
and admins sign in at /login (flows/web/auth_routes.py). Every route checks who is there on
the server (flows/web/context.py): the console (console_routes.py, case_routes.py), the auditor
view (audit_routes.py) and administration (admin_routes.py) each name the action they need
(cases/roles.py). Every POST carries the session's CSRF token and, when the browser sends one,
an Origin of this app. Sessions live in HttpOnly cookies; responses are not cached and may not
be framed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cases import portal, sessions
from cases.config import Settings
from cases.db import Database, database
from cases.errors import NotFound
from cases.submissions import Claim
from flows.web import (
    admin_routes,
    audit_routes,
    auth_routes,
    case_routes,
    console_routes,
    expert_routes,
)
from flows.web.context import COOKIE, Forbidden, NotSignedIn, Starter, Web
from flows.web.views import locale

__all__ = ["COOKIE", "create_app"]


def start_continuation(settings: Settings, claim: Claim) -> object:
    """After the response: start the run a submission owes (the sweeper retries)."""
    from flows.submissions import start_claimed

    return start_claimed(settings, claim)


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
    app = FastAPI(title="RiskGate", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=_lifespan)
    db: Database = database(settings.database_url)
    web = Web(settings, db, start)
    _warm(web.templates.env, db)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        return web.not_signed_in(request)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, refusal: Forbidden) -> Response:
        return await run_in_threadpool(web.refused, request, refusal)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        """A page, not FastAPI's JSON: an unknown address is "no such page"."""
        if error.status_code == 404:
            return await run_in_threadpool(web.message, request, "ui.not_found", 404)
        return await run_in_threadpool(web.message, request, "ui.refused", error.status_code,
                                       message=str(error.detail)[:200])

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, _: RequestValidationError) -> Response:
        """A malformed id in the path (a report id that is not a number): no such record."""
        return await run_in_threadpool(web.message, request, "ui.not_found", 404)

    identity = settings.portal_identity()

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:  # on the event loop: a busy store thread pool cannot delay it
        return f"ok {identity}"

    for module in (auth_routes, expert_routes, console_routes, case_routes, audit_routes,
                   admin_routes):
        app.include_router(module.routes(web))
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
