"""The expert portal: a personal link opens a session; the expert sees their assignments and, for
a case they vote on, its dossier and the score form; they may declare a conflict.

Who may see what is decided in cases/portal.py; storing a score or a conflict declaration goes
through the same calls as the CLI (cases/submissions.py, cases/panel_changes.py), so a score
from the form is checked and handed over exactly like one from `riskgate score submit`. The form
names the round it answers: a page loaded in round 1 and posted after round 2 opened is refused
(the expert has not seen round 2's feedback), never stored as a round-2 score.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cases import links, mail, panel_changes, portal, sessions
from cases.errors import InvalidInput, NotFound, RiskGateError, WrongState
from cases.models import Case
from cases.submissions import DissentRequired, record_score
from experts.notices import when
from flows.web import forms
from flows.web.context import Visitor, Web, asked_lang, home_of
from flows.web.views import dossier_context, form_values, locale


def _case_id(text: str) -> str:
    """A case id from the query (shown in a message), or nothing."""
    return text if re.fullmatch(r"RG-\d{8}-[0-9A-Z]{5,12}", text) else ""


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    db, settings = web.db, web.settings

    def case_lang(case_id: str | None) -> str:
        if not case_id:
            return "zh"
        with db.read_session() as session:
            case = session.get(Case, case_id)
        return case.lang if case is not None and case.lang in ("zh", "en") else "zh"

    @router.get(links.LINK_PATH + "{token}")
    def open_link(request: Request, token: str) -> Response:
        try:
            link = links.open_link(db, settings, token)
        except links.LinkRefused as refused:
            return web.message(request, f"ui.link_{refused.reason}", 403)
        lang = asked_lang(request, default=case_lang(link.case_id))
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
        web.set_session(response, cookie)
        return response

    @router.get("/")
    def home(request: Request) -> Response:
        """An expert's assignments; an account goes to its own area; nobody signed in is told
        how to get in (an expert's link, or the sign-in page)."""
        who = web.visitor(request)
        if who is None:
            return web.message(request, "ui.need_link", 401)
        if who.person is not None:
            return RedirectResponse(home_of(who.person), status_code=303)
        rows = portal.assignments(db, who.expert_id)
        return web.page(request, "assignments.html.j2", who.lang, who=who, rows=rows,
                        deadline_of=lambda a: when(a.deadline_at),
                        conflict=_case_id(request.query_params.get("conflict", "")))

    def case_page(request: Request, who: Visitor, case_id: str, status: int = 200,
                  **extra: Any) -> HTMLResponse:
        view = portal.expert_view(db, who.expert_id, case_id)
        context = dossier_context(view, who.lang)
        context.setdefault("values", form_values(view))
        context.update(extra)
        return web.page(request, "case.html.j2", who.lang, status, who=who, **context)

    @router.get("/cases/{case_id}")
    def case(request: Request, case_id: str) -> Response:
        who = web.expert(request)
        if who is None:
            return web.message(request, "ui.need_link", 401)
        try:
            return case_page(request, who, case_id,
                             saved=request.query_params.get("saved", "")[:20])
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)

    StoreWork = Callable[[Request, Visitor, str, dict[str, Any], BackgroundTasks], Response]

    async def expert_post(request: Request, work: StoreWork, case_id: str,
                          tasks: BackgroundTasks) -> Response:
        """A case's form post by its expert, checked (session, CSRF, Origin), its store work
        run in the thread pool (the event loop keeps taking requests)."""
        who = await run_in_threadpool(web.expert, request)
        if who is None:
            return web.message(request, "ui.need_link", 401)
        fields = await web.form(request, who)
        if isinstance(fields, Response):
            return fields
        texts = {k: v for k, v in fields.items() if isinstance(v, str)}
        return await run_in_threadpool(work, request, who, case_id, texts, tasks)

    @router.post("/cases/{case_id}/score")
    async def score(request: Request, case_id: str, tasks: BackgroundTasks) -> Response:
        return await expert_post(request, store_score, case_id, tasks)

    def store_score(request: Request, who: Visitor, case_id: str, fields: dict[str, str],
                    tasks: BackgroundTasks) -> Response:
        try:
            target = portal.form_target(db, who.expert_id, case_id)
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        t = locale(who.lang)
        answered = fields.get("round", "")
        if not (answered.isascii() and answered.isdigit() and len(answered) <= 3):
            return web.message(request, "ui.refused", 409, who=who,
                               message=t.t("ui.round_missing"))
        if target.round_no is None:
            return web.message(request, "ui.refused", 409, who=who,
                               message=t.t("ui.round_closed"))
        numbers = target.scenarios or [1]
        parsed = forms.parse(fields, numbers, max(numbers) + 1, t)
        form, errors = forms.validate(parsed, t)
        again = {"values": fields}
        if form is None:
            return case_page(request, who, case_id, 422, errors=errors, **again)
        if fields.get("action") == "preview":
            return case_page(request, who, case_id, preview=form, **again)
        try:
            receipt = record_score(db, case_id, who.expert_id, int(answered),
                                   form.to_record(), actor=f"expert:{who.expert_id} (portal)")
        except DissentRequired as needed:
            errors = {"dissent": t.t("error.dissent_required", own=needed.own,
                                     median=needed.median, distance=needed.distance)}
            return case_page(request, who, case_id, 422, errors=errors, **again)
        except (WrongState, InvalidInput) as refused:
            return web.message(request, "ui.refused", 409, who=who, message=str(refused))
        if receipt.claim.claimed:
            tasks.add_task(web.start, settings, receipt.claim)
            saved = "complete"
        else:
            saved = receipt.change
        return RedirectResponse(f"/cases/{case_id}?saved={saved}", status_code=303)

    @router.post("/cases/{case_id}/conflict")
    async def conflict(request: Request, case_id: str, tasks: BackgroundTasks) -> Response:
        return await expert_post(request, store_conflict, case_id, tasks)

    def store_conflict(request: Request, who: Visitor, case_id: str, fields: dict[str, str],
                       tasks: BackgroundTasks) -> Response:
        try:
            with db.read_session() as s:
                portal.seat_of(s, case_id, who.expert_id)
            panel_changes.declare_conflict(db, settings, case_id, who.expert_id,
                                           fields.get("reason", ""))
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        except InvalidInput:
            return case_page(request, who, case_id, 422, conflict_error=locale(
                who.lang).t("error.description_short"),
                conflict_reason=fields.get("reason", ""))
        except RiskGateError as refused:
            return web.message(request, "ui.refused", 409, who=who, message=str(refused))
        tasks.add_task(mail.deliver, db, settings)
        return RedirectResponse(f"/?conflict={case_id}", status_code=303)

    return router
