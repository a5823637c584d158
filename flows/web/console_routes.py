"""The staff console: cases by gate and state with filters and counts, the panels, approvals and
follow-up actions waiting; opening a case from the browser; the enterprise credit files.

Every route names the action it needs (cases/roles.py) through `web.needs`; the posts on one
case are in flows/web/case_routes.py. Storing goes through the same calls as the CLI.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cases import actions, approvals, console, credit
from cases.errors import FieldErrors, InvalidInput
from cases.intake import open_case
from cases.models import utcnow
from cases.roles import Action
from cases.submissions import launch
from flows.web.context import MAX_UPLOAD_BYTES, Visitor, Web
from flows.web.staff_forms import (
    localised,
    refusal,
    signal_data,
    uploaded_signal,
    validate_signal,
)
from flows.web.staff_views import Names, moment, signal_form_choices
from flows.web.views import locale


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    db, settings = web.db, web.settings

    @router.get("/console")
    def dashboard(request: Request, who: Visitor = web.need[Action.READ_CASES]
                  ) -> Response:
        t = locale(who.lang)
        params = {k: v for k, v in request.query_params.items()}
        errors: dict[str, str] = {}
        try:
            filters = console.parse_filters(params)
        except FieldErrors as refused:
            errors = localised(refused, t)
            filters = console.Filters()
        now = utcnow()
        names = Names(who.lang)
        return web.page(
            request, "console.html.j2", who.lang, 422 if errors else 200, who=who,
            names=names, moment=moment, filters=filters, params=params, errors=errors,
            rows=console.case_rows(db, filters, now), counts=console.counts(db, now),
            panels=console.panels_waiting(db), approvals=approvals.pending(db), now=now,
            due=actions.open_actions(db), today=actions.today(now),
            soon=actions.today(now) + console.DUE_SOON, choices=signal_form_choices(who.lang),
            priorities=console.PRIORITIES)

    @router.get("/console/cases/new")
    def new_case(request: Request, who: Visitor = web.need[Action.OPEN_CASE]
                 ) -> Response:
        return web.page(request, "case_new.html.j2", who.lang, who=who, values={},
                        errors={}, **signal_form_choices(who.lang))

    @router.post("/console/cases")
    async def create_case(request: Request, tasks: BackgroundTasks,
                          who: Visitor = web.need[Action.OPEN_CASE]) -> Response:
        fields = await web.form(request, who, MAX_UPLOAD_BYTES)
        if isinstance(fields, Response):
            return fields
        t = locale(who.lang)
        upload = fields.get("signal_file")
        values = {k: v for k, v in fields.items() if isinstance(v, str)}
        values["hazards"] = [str(h) for h in (await request.form()).getlist("hazards")]
        try:
            if isinstance(upload, UploadFile) and upload.filename:
                signal = await uploaded_signal(upload)
            else:
                signal = validate_signal(signal_data(await request.form()))
            lang = values.get("lang") if values.get("lang") in ("zh", "en") else settings.lang
            opened = await run_in_threadpool(open_case, db, signal, actor=who.person.actor,
                                             lang=lang)
        except FieldErrors as refused:
            return again(request, who, values, localised(refused, t))
        except InvalidInput as refused:
            return again(request, who, values, {"_form": refusal(refused, t)})
        if values.get("launch") == "on":
            claim = await run_in_threadpool(launch, db, opened.case_id, actor=who.person.actor)
            if claim.claimed:  # started after the response; the sweeper retries
                tasks.add_task(web.start, settings, claim)
        key = "grouped" if opened.grouped else "opened"
        return redirect(opened.case_id, key + ("_launched" if values.get("launch") == "on"
                                               else ""))

    def again(request: Request, who: Visitor, values: dict[str, Any],
              errors: dict[str, str]) -> Response:
        return web.page(request, "case_new.html.j2", who.lang, 422, who=who, values=values,
                        errors=errors, **signal_form_choices(who.lang))

    @router.get("/enterprises")
    def enterprises(request: Request, who: Visitor = web.need[Action.READ_CASES]
                    ) -> Response:
        return web.page(request, "enterprises.html.j2", who.lang, who=who,
                        files=credit.listing(db), names=Names(who.lang))

    @router.get("/enterprises/{key}")
    def enterprise(request: Request, key: str,
                   who: Visitor = web.need[Action.READ_CASES]) -> Response:
        file = credit.get(db, key)
        if file is None:
            return web.message(request, "ui.not_found", 404, who=who)
        return web.page(request, "enterprise.html.j2", who.lang, who=who, file=file,
                        names=Names(who.lang), moment=moment)

    return router


def redirect(case_id: str, done: str) -> Response:
    return RedirectResponse(f"/console/cases/{case_id}?done={done}", status_code=303)

