"""One case on the console: its page (the timeline of gates with their reports, the signals, the
rules that fired and why, the panel and its rounds, the disposal, the follow-up, the audit
events) and every post staff and approvers make on it.

Each post needs its action's role (cases/roles.py), passes the CSRF check, and stores through
the same call as the CLI (flows/submissions.py and the cases/ modules); a post that completes
what the case waits for starts the continuation after the response. A refused post shows the
case page again with the error beside the field (422) or the reason (409), nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cases import (
    actions,
    approvals,
    auditor,
    case_file,
    mail,
    panel_changes,
    regroup,
    scenarios,
    submissions,
    sweeping,
)
from cases.errors import FieldErrors, InvalidInput, NotFound, RiskGateError
from cases.roles import Action
from cases.signals import LabResultIn
from cases.submissions import Claim
from flows.web.console_routes import redirect
from flows.web.context import MAX_UPLOAD_BYTES, Visitor, Web
from flows.web.staff_forms import (
    action_data,
    localised,
    move_form,
    ranked_measures,
    refusal,
    signal_data,
    split_form,
    uploaded_signal,
    validate_signal,
)
from flows.web.staff_views import case_context, signal_form_choices
from flows.web.views import locale

LAB_ROWS = 5  # test items entered at once
Work = Callable[[Visitor, dict[str, Any]], Claim | str]


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    db, settings = web.db, web.settings

    def case_page(request: Request, who: Visitor, case_id: str, status: int = 200,
                  **extra: Any) -> HTMLResponse:
        t = locale(who.lang)
        context = case_context(case_file.load(db, case_id), who.lang, t.t)
        context.update(signal_form_choices(who.lang))
        if context["can_regroup"] and who.person is not None \
                and who.person.may(Action.REGROUP):
            context["move_targets"] = regroup.targets(db, except_case=case_id)
        context.setdefault("errors", {})
        context.setdefault("values", {})
        context.setdefault("form", "")
        context.update(extra)
        return web.page(request, "console_case.html.j2", who.lang, status, who=who,
                        done=request.query_params.get("done", "")[:40], **context)

    @router.get("/console/cases/{case_id}")
    def case(request: Request, case_id: str,
             who: Visitor = web.need[Action.READ_CASES]) -> Response:
        try:
            return case_page(request, who, case_id)
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)

    @router.get("/console/cases/{case_id}/reports/{report_id}")
    def report(request: Request, case_id: str, report_id: int,
               who: Visitor = web.need[Action.READ_CASES]) -> Response:
        try:
            record = auditor.find_report(db, case_id, report_id)
            path = auditor.report_file(settings.home, record)
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        return FileResponse(path, filename=path.name, media_type=(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))

    @router.get("/console/cases/{case_id}/reports/{report_id}/pdf")
    def report_pdf(request: Request, case_id: str, report_id: int,
                   who: Visitor = web.need[Action.READ_CASES]) -> Response:
        """The report's PDF archive copy, to whoever may read the .docx."""
        try:
            record = auditor.find_report(db, case_id, report_id)
            path = auditor.report_pdf_file(settings.home, record)
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        return FileResponse(path, filename=path.name, media_type="application/pdf")

    async def post(request: Request, who: Visitor, case_id: str, tasks: BackgroundTasks,
                   work: Work, done: str, form: str, limit: int = 64_000) -> Response:
        """Check the post, run `work` in the thread pool, start what it claimed, and go back
        to the case page (`?done=…`), or show the page again with what was refused."""
        fields = await web.form(request, who, limit)
        if isinstance(fields, Response):
            return fields
        t = locale(who.lang)
        values = {k: v for k, v in fields.items() if isinstance(v, str)}
        try:
            if isinstance(fields.get("signal_file"), UploadFile):
                fields["signal"] = await uploaded_or_none(fields["signal_file"])
            result = await run_in_threadpool(work, who, fields)
        except FieldErrors as refused:
            return again(request, who, case_id, 422, form, values, localised(refused, t))
        except InvalidInput as refused:
            return again(request, who, case_id, 422, form, values,
                         {"_form": refusal(refused, t)})
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        except RiskGateError as refused:  # a case not waiting for this, four-eyes, …
            return again(request, who, case_id, 409, form, values,
                         {"_form": refusal(refused, t)})
        if isinstance(result, Claim) and result.claimed:
            tasks.add_task(web.start, settings, result)  # the sweeper retries if it fails
        elif isinstance(result, str):
            done = result
        tasks.add_task(mail.deliver, db, settings)
        return redirect(case_id, done)

    def again(request: Request, who: Visitor, case_id: str, status: int, form: str,
              values: dict[str, Any], errors: dict[str, str]) -> Response:
        try:
            return case_page(request, who, case_id, status, form=form, values=values,
                             errors=errors)
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)

    async def uploaded_or_none(upload: UploadFile) -> Any:
        return await uploaded_signal(upload) if upload.filename else None

    def posted_signal(fields: dict[str, Any]) -> Any:
        return fields.get("signal") or validate_signal(signal_data(fields))

    @router.post("/console/cases/{case_id}/launch")
    async def launch(request: Request, case_id: str, tasks: BackgroundTasks,
                     who: Visitor = web.need[Action.LAUNCH]) -> Response:
        def work(who: Visitor, _: dict[str, Any]) -> Claim:
            claim = submissions.launch(db, case_id, actor=who.person.actor)
            if not claim.claimed:
                raise InvalidInput("the case is not active: it waits for people or is "
                                   "closed, so there is nothing to launch", code="not_active")
            return claim
        return await post(request, who, case_id, tasks, work, "launched", "launch")

    @router.post("/console/cases/{case_id}/scenarios")
    async def scenario(request: Request, case_id: str, tasks: BackgroundTasks,
                       who: Visitor = web.need[Action.DESCRIBE_SCENARIOS]
                       ) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> str:
            number = str(fields.get("number") or "").strip()
            description = str(fields.get("description") or "")
            population = str(fields.get("population") or "general")
            if number:
                if not (number.isascii() and number.isdigit() and len(number) <= 6):
                    raise NotFound(f"case {case_id} has no scenario {number[:10]!r}")
                scenarios.edit(db, case_id, int(number), description=description,
                               population=population, by=who.person.actor)
                return "scenario_edited"
            scenarios.add(db, case_id, description=description, population=population,
                          by=who.person.actor)
            return "scenario_added"
        return await post(request, who, case_id, tasks, work, "scenario_added", "scenario")

    @router.post("/console/cases/{case_id}/information")
    async def information(request: Request, case_id: str, tasks: BackgroundTasks,
                          who: Visitor = web.need[Action.ADD_INFORMATION]
                          ) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> Claim:
            return submissions.add_information(db, case_id, posted_signal(fields),
                                               actor=who.person.actor)
        return await post(request, who, case_id, tasks, work, "information", "information",
                          MAX_UPLOAD_BYTES)

    @router.post("/console/cases/{case_id}/lab")
    async def lab(request: Request, case_id: str, tasks: BackgroundTasks,
                  who: Visitor = web.need[Action.ENTER_LAB]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> Claim:
            results = []
            for n in range(1, LAB_ROWS + 1):
                row = {key: str(fields.get(f"lab{n}.{key}") or "").strip()
                       for key in LabResultIn.model_fields}
                if not any(row.values()):
                    continue
                try:
                    results.append(LabResultIn.model_validate(row))
                except ValidationError as exc:
                    raise FieldErrors({f"lab{n}.{name}": error for name, error in
                                       FieldErrors.from_validation(exc).errors.items()}
                                      ) from None
            if not results:
                raise FieldErrors({"lab1.item": ("lab_item_needed", {},
                                                 "give at least one test item")})
            return submissions.record_lab_results(db, case_id, results,
                                                  actor=who.person.actor)
        return await post(request, who, case_id, tasks, work, "lab", "lab")

    @router.post("/console/cases/{case_id}/retry")
    async def retry(request: Request, case_id: str, tasks: BackgroundTasks,
                    who: Visitor = web.need[Action.RETRY]) -> Response:
        def work(who: Visitor, _: dict[str, Any]) -> Claim:
            claim = sweeping.retry(db, case_id, actor=who.person.actor, by="staff",
                                   why="staff asked to retry")
            if claim is None:
                raise InvalidInput("the case is not waiting for staff", code="not_for_staff")
            return claim
        return await post(request, who, case_id, tasks, work, "retried", "retry")

    @router.post("/console/cases/{case_id}/seat")
    async def seat(request: Request, case_id: str, tasks: BackgroundTasks,
                   who: Visitor = web.need[Action.MANAGE_PANEL]) -> Response:
        def work(who: Visitor, _: dict[str, Any]) -> str:
            panel_changes.seat_more(db, settings, case_id, by=who.person.actor)
            return "seated"
        return await post(request, who, case_id, tasks, work, "seated", "panel")

    @router.post("/console/cases/{case_id}/extend")
    async def extend(request: Request, case_id: str, tasks: BackgroundTasks,
                     who: Visitor = web.need[Action.MANAGE_PANEL]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> str:
            days = str(fields.get("days") or "")
            if not (days.isdigit() and 1 <= int(days) <= 90):
                raise FieldErrors({"days": ("days_range", {}, "give 1 to 90 days")})
            panel_changes.extend_round(db, settings, case_id, days=int(days),
                                       by=who.person.actor)
            return "extended"
        return await post(request, who, case_id, tasks, work, "extended", "panel")

    async def regrouping(request: Request, case_id: str, tasks: BackgroundTasks,
                         who: Visitor, regroup_work: Callable[[Visitor, dict[str, Any]],
                                                              regroup.Regrouped],
                         done: str, form: str) -> Response:
        """A move or a split; the triage runs it owes (a case sent back to triage) start
        after the response."""
        owed: list[Claim] = []

        def work(who: Visitor, fields: dict[str, Any]) -> str:
            owed.extend(regroup_work(who, fields).claims)
            return done

        response = await post(request, who, case_id, tasks, work, done, form)
        for claim in owed:
            tasks.add_task(web.start, settings, claim)
        return response

    @router.post("/console/cases/{case_id}/move")
    async def move(request: Request, case_id: str, tasks: BackgroundTasks,
                   who: Visitor = web.need[Action.REGROUP]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> regroup.Regrouped:
            posted = move_form(fields)
            return regroup.move_signal(db, posted.signal, to_case=posted.target,
                                       actor=who.person, reason=posted.reason,
                                       from_case=case_id)
        return await regrouping(request, case_id, tasks, who, work, "moved", "move")

    @router.post("/console/cases/{case_id}/split")
    async def split(request: Request, case_id: str, tasks: BackgroundTasks,
                    who: Visitor = web.need[Action.REGROUP]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> regroup.Regrouped:
            posted = split_form(fields)
            return regroup.split_case(db, case_id, posted.signals, actor=who.person,
                                      reason=posted.reason)
        return await regrouping(request, case_id, tasks, who, work, "split", "split")

    @router.post("/console/cases/{case_id}/disposal")
    async def disposal(request: Request, case_id: str, tasks: BackgroundTasks,
                       who: Visitor = web.need[Action.DECIDE_DISPOSAL]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> Claim:
            decision = fields.get("decision")
            if decision == "approve":
                return approvals.decide(db, case_id, who.person,
                                        justification=str(fields.get("comment") or "")).claim
            if decision != "override":
                raise InvalidInput("choose approve or override", code="decision_unknown")
            return approvals.decide(db, case_id, who.person, measures=ranked_measures(fields),
                                    justification=str(fields.get("justification") or "")).claim
        return await post(request, who, case_id, tasks, work, "decided", "disposal")

    @router.post("/console/cases/{case_id}/actions/{number}")
    async def action(request: Request, case_id: str, number: int, tasks: BackgroundTasks,
                     who: Visitor = web.need[Action.FOLLOW_UP]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> Claim | str:
            found = next((a for a in actions.list_actions(db, case_id) if a.number == number),
                         None)
            if found is None:
                raise NotFound(f"no action {number}")
            update = actions.parse_update(action_data(fields, found.measure))
            updated = actions.update_action(db, case_id, number, who.person, update)
            return updated.claim if updated.claim is not None else "action_saved"
        return await post(request, who, case_id, tasks, work, "follow_up_done",
                          f"action{number}")

    @router.post("/console/cases/{case_id}/close")
    async def close(request: Request, case_id: str, tasks: BackgroundTasks,
                    who: Visitor = web.need[Action.FOLLOW_UP]) -> Response:
        def work(who: Visitor, fields: dict[str, Any]) -> Claim:
            return actions.close_follow_up(db, case_id, who.person,
                                           str(fields.get("reason") or ""))
        return await post(request, who, case_id, tasks, work, "closing", "close")

    return router
