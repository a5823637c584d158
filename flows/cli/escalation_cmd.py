"""`riskgate intake watch`: the escalation watch, run once now in this process (no Prefect
server needed; the `escalation-watch` deployment runs the same logic daily)."""

from __future__ import annotations

from typing import Annotated

import typer

from cases.escalation import MAX_THRESHOLD, MAX_WINDOW_DAYS, THRESHOLD, WINDOW_DAYS, run_watch
from cases.roles import Action
from flows.cli.common import AsUser, acting, console, db, print_json, settings


def watch(
    window_days: Annotated[int, typer.Option(
        "--window-days", min=1, max=MAX_WINDOW_DAYS,
        help="Look at the cases created in the last N days.")] = WINDOW_DAYS,
    threshold: Annotated[int, typer.Option(
        "--threshold", min=2, max=MAX_THRESHOLD,
        help="Distinct products, enterprises or localities that make a pattern.")] = THRESHOLD,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    as_user: AsUser = None,
) -> None:
    """Look for one hazard across several products of a category, enterprises of an industry
    or localities of a province; open an escalation case for each new pattern and link new
    cases to the open ones. Opened cases are launched with `riskgate case run ID` (the
    scheduled deployment launches them itself)."""
    current = settings()
    acting(as_user, Action.OPEN_CASE, current)
    lang = "en" if current.lang == "en" else "zh"
    result = run_watch(db(current), window_days=window_days, threshold=threshold, lang=lang)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"escalation watch: {result.examined} cases in the last {window_days} days, "
                  f"threshold {threshold}", markup=False)
    for opened in result.opened:
        console.print(f"opened {opened.case_id} ({opened.kind}, {opened.reference}): "
                      f"{opened.title} — linked {', '.join(opened.linked)}", markup=False)
    for linked in result.linked:
        console.print(f"linked to {linked.case_id} ({linked.kind}, {linked.reference}): "
                      f"{', '.join(linked.linked)}", markup=False)
    if not result.opened and not result.linked:
        console.print("nothing to escalate", markup=False)
