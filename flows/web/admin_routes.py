"""Administration: accounts (add, roles, disable, a new password) and the expert roster
(import a roster file, as `riskgate experts import`). Admins only; every change is audited
under the admin's name."""

from __future__ import annotations

import re
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cases import accounts, store
from cases.errors import InvalidInput, InvalidRows, NotFound
from cases.roles import ROLES, Action
from flows.web.context import Visitor, Web
from flows.web.staff_forms import refusal
from flows.web.views import locale

MAX_ROSTER_BYTES = 2_000_000


def _roster_counts(done: str) -> tuple[int, int] | None:
    """`roster_<added>_<updated>` from the redirect after an import; None for anything else."""
    found = re.fullmatch(r"roster_(\d{1,6})_(\d{1,6})", done)
    return (int(found.group(1)), int(found.group(2))) if found else None


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    db = web.db

    def admin_page(request: Request, who: Visitor, status: int = 200, **extra: Any) -> Response:
        context: dict[str, Any] = {"accounts": accounts.listing(db), "roles": list(ROLES),
                                   "experts": store.roster(db), "seats": store.open_seats(db),
                                   "errors": {}, "values": {},
                                   "done": request.query_params.get("done", "")[:40],
                                   "done_roster": _roster_counts(
                                       request.query_params.get("done", ""))}
        context.update(extra)
        return web.page(request, "admin.html.j2", who.lang, status, who=who, **context)

    @router.get("/admin")
    def overview(request: Request, who: Visitor = web.need[Action.MANAGE_ACCOUNTS]
                 ) -> Response:
        return admin_page(request, who)

    @router.post("/admin/accounts")
    async def add(request: Request, who: Visitor = web.need[Action.MANAGE_ACCOUNTS]
                  ) -> Response:
        fields = await web.form(request, who)
        if isinstance(fields, Response):
            return fields
        form = await request.form()
        values = {k: v for k, v in fields.items() if isinstance(v, str) and k != "password"}
        try:
            await run_in_threadpool(
                accounts.add, db, str(fields.get("name") or "").strip(),
                [str(r) for r in form.getlist("roles")], by=who.person.actor,
                password=str(fields.get("password") or ""),
                email=str(fields.get("email") or ""),
                display_name=str(fields.get("display_name") or ""))
        except InvalidInput as refused:
            return admin_page(request, who, 422, values=values,
                              errors={"account": refusal(refused, locale(who.lang))})
        return RedirectResponse("/admin?done=account_added", status_code=303)

    @router.post("/admin/accounts/{name}")
    async def change(request: Request, name: str,
                     who: Visitor = web.need[Action.MANAGE_ACCOUNTS]) -> Response:
        fields = await web.form(request, who)
        if isinstance(fields, Response):
            return fields
        form = await request.form()
        password = str(fields.get("password") or "")
        try:
            await run_in_threadpool(
                lambda: accounts.update(
                    db, name, by=who.person.actor,
                    roles=[str(r) for r in form.getlist("roles")],
                    password=password or None, active=fields.get("active") == "on"))
        except NotFound:
            return web.message(request, "ui.not_found", 404, who=who)
        except InvalidInput as refused:
            return admin_page(request, who, 422,
                              errors={f"account.{name}": refusal(refused, locale(who.lang))})
        return RedirectResponse("/admin?done=account_changed", status_code=303)

    @router.post("/admin/roster")
    async def roster(request: Request, who: Visitor = web.need[Action.MANAGE_ROSTER]
                     ) -> Response:
        fields = await web.form(request, who, MAX_ROSTER_BYTES + 10_000)
        if isinstance(fields, Response):
            return fields
        upload = fields.get("roster")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return admin_page(request, who, 422, errors={"roster": "choose a roster file"})
        suffix = Path(upload.filename).suffix.lower()
        raw = await upload.read(MAX_ROSTER_BYTES + 1)
        try:
            change = await run_in_threadpool(_import, raw, suffix, upload.filename,
                                             who.person.actor)
        except InvalidRows as refused:
            return admin_page(request, who, 422, errors={"roster": "\n".join(refused.lines)})
        except InvalidInput as refused:
            return admin_page(request, who, 422, errors={"roster": str(refused)})
        return RedirectResponse(f"/admin?done=roster_{len(change.added)}_"
                                f"{len(change.updated)}", status_code=303)

    def _import(raw: bytes, suffix: str, filename: str, actor: str) -> store.RosterChange:
        """The roster import of the CLI, on the uploaded file (same reader, same checks)."""
        from experts.roster import RosterError, load_roster

        if len(raw) > MAX_ROSTER_BYTES:
            raise InvalidInput(f"{filename[:60]}: larger than {MAX_ROSTER_BYTES} bytes")
        if suffix not in (".csv", ".yaml", ".yml"):
            raise InvalidInput(f"{filename[:60]}: a roster is a .csv or .yaml file")
        with TemporaryDirectory() as folder:
            path = Path(folder) / f"roster{suffix}"
            path.write_bytes(raw)
            try:
                profiles = load_roster(path)
            except RosterError as exc:
                raise InvalidRows([line.replace(str(path), filename[:60])
                                   for line in exc.lines]) from None
        return store.upsert_experts(db, profiles, actor=actor)

    return router
