"""The auditor view: read-only. Every case, its gates and reports — each with its verification
status (the file's hash, its manifest row and the audit chain agree) — the case's audit log,
the replay of each stored rule decision under the rulebook version that made it, and the
whole-store verification, run in the background and its result shown.

Starting a verification writes only the record of that run, never anything about a case.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cases import audit, auditor, case_file, console
from cases.errors import NotFound, RiskGateError
from cases.models import utcnow
from cases.roles import Action
from flows.web.context import Visitor, Web
from flows.web.staff_views import Names, case_context, moment
from flows.web.views import locale


def _number(text: str) -> str:
    return text if text.isascii() and text.isdigit() and len(text) <= 9 else ""


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    db, settings = web.db, web.settings

    @router.get("/audit")
    def overview(request: Request, who: Visitor = web.need[Action.READ_AUDIT]) -> Response:
        now = utcnow()
        return web.page(request, "audit.html.j2", who.lang, who=who, names=Names(who.lang),
                        moment=moment, runs=auditor.runs(db), now=now,
                        interrupted=auditor.interrupted, head=audit.head(db),
                        rows=console.case_rows(db, console.Filters(), now),
                        started=_number(request.query_params.get("started", "")))

    @router.post("/audit/verify")
    async def verify(request: Request, tasks: BackgroundTasks,
                     who: Visitor = web.need[Action.READ_AUDIT]) -> Response:
        fields = await web.form(request, who)
        if isinstance(fields, Response):
            return fields
        try:
            run_id = await run_in_threadpool(auditor.start_run, db, who.person.actor)
        except RiskGateError as busy:
            return web.message(request, "ui.refused", 409, who=who, message=str(busy))
        tasks.add_task(auditor.run, db, settings.home, run_id)
        return RedirectResponse(f"/audit?started={run_id}", status_code=303)

    @router.get("/audit/cases/{case_id}")
    def case(request: Request, case_id: str,
             who: Visitor = web.need[Action.READ_AUDIT]) -> Response:
        t = locale(who.lang)
        try:
            file = case_file.load(db, case_id)
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        chain = audit.chain_status(db)
        return web.page(request, "audit_case.html.j2", who.lang, who=who,
                        **case_context(file, who.lang, t.t), chain=chain,
                        statuses=auditor.report_statuses(db, settings.home, case_id, chain),
                        replays=auditor.replays(db, case_id))

    return router
