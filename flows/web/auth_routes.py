"""Signing in and out, and the page language: the same for experts and accounts.

The sign-in form has no session yet, so its CSRF token is a random value in a short-lived,
HttpOnly, SameSite=Strict cookie that the form must repeat (and the Origin, when the browser
sends one, must be this app). A successful sign-in starts a new session (never reusing one),
in an HttpOnly cookie. Failed sign-ins are rate-limited by name and by address
(cases/accounts.py).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cases import accounts, sessions
from flows.web.context import COOKIE, Web, asked_lang, home_of, safe_next

LOGIN_COOKIE = "riskgate_login"
LOGIN_PATH = "/login"


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    db = web.db

    def login_page(request: Request, lang: str, status: int = 200, error: str = "",
                   username: str = "", next_path: str = "", **params: object) -> Response:
        token = secrets.token_urlsafe(24)
        response = web.page(request, "login.html.j2", lang, status, error=error,
                            error_params=params, username=username, next_path=next_path,
                            login_token=token)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=web.secure_cookie, max_age=3600, path=LOGIN_PATH)
        return response

    @router.get(LOGIN_PATH)
    def login_form(request: Request) -> Response:
        return login_page(request, asked_lang(request),
                          next_path=safe_next(request.query_params.get("next", ""), ""))

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        length = request.headers.get("content-length")
        if not web.origin_ok(request) or (length and (not length.isdigit()
                                                      or int(length) > 8_000)):
            return web.message(request, "ui.csrf", 403)
        data = await request.form()
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
        lang = fields.get("lang") if fields.get("lang") in ("zh", "en") else "zh"
        expected = request.cookies.get(LOGIN_COOKIE, "")
        given = fields.get("csrf", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.message(request, "ui.csrf", 403, lang=lang)
        name = fields.get("username", "").strip()[:accounts.MAX_NAME]
        next_path = safe_next(fields.get("next", ""), "")
        remote = request.client.host if request.client else ""
        try:
            person = await run_in_threadpool(accounts.sign_in, db, name,
                                             fields.get("password", ""), remote=remote)
        except accounts.TooManyAttempts as slow:
            return login_page(request, lang, 429, "ui.login_locked", name, next_path,
                              minutes=slow.minutes)
        if person is None:
            return login_page(request, lang, 401, "ui.login_failed", name, next_path)
        cookie, _ = await run_in_threadpool(
            lambda: sessions.start(db, kind="account", subject=person.name, lang=lang))
        response = RedirectResponse(next_path or home_of(person), status_code=303)
        web.set_session(response, cookie)
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
        return response

    @router.post("/lang")
    async def switch_lang(request: Request) -> Response:
        who = await run_in_threadpool(web.visitor, request)
        if who is None:
            return web.message(request, "ui.need_link", 401)
        fields = await web.form(request, who)
        if isinstance(fields, Response):
            return fields
        chosen = "en" if fields.get("lang") == "en" else "zh"
        await run_in_threadpool(sessions.set_lang, db, who.token, chosen)
        return RedirectResponse(safe_next(str(fields.get("next", "/"))), status_code=303)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        who = await run_in_threadpool(web.visitor, request)
        if who is None:
            return RedirectResponse("/", status_code=303)
        fields = await web.form(request, who)
        if isinstance(fields, Response):
            return fields
        await run_in_threadpool(sessions.end, db, who.token)
        response = RedirectResponse(LOGIN_PATH if who.person else "/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return router
