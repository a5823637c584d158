"""`riskgate disposal …`, `follow-up …`, `enterprise …`: the decisions after the panel, from
the command line — the same calls as the staff console, with the same role checks (`--as`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cases import actions, approvals, credit, store
from cases.errors import InvalidInput, NotFound
from cases.roles import Action
from flows.cli.common import (
    AsUser,
    LiteralTable,
    acting,
    console,
    db,
    err_console,
    prefect_ready,
    print_json,
    settings,
)

disposal_app = typer.Typer(no_args_is_help=True)
follow_up_app = typer.Typer(no_args_is_help=True)
enterprise_app = typer.Typer(no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
OWED = ("warning: stored, but Prefect could not be reached to start the case's flow run; the "
        "sweeper starts it when Prefect answers again (or run `riskgate sweep`)")


def _continued(case_id: str, done, as_json: bool, extra: dict) -> None:
    if done is not None and done.owed:
        err_console.print(OWED)
    data = {"case_id": case_id, **extra,
            "continued": done is not None,
            "flow_run_id": done.flow_run_id if done is not None else None}
    if as_json:
        print_json(data)
        return
    line = f"{case_id}: " + ", ".join(f"{k} {v}" for k, v in extra.items())
    if done is not None and done.flow_run_id:
        line += f" — the case continues in flow run {done.flow_run_id}"
    console.print(line)


@disposal_app.command("show")
def disposal_show(case_id: str, as_json: JsonFlag = False) -> None:
    """The proposed disposal of a case and, once decided, the decision."""
    review = approvals.require_review(db(), case_id)
    data = {"case_id": case_id, "status": review.status,
            "proposed": [m["code"] for m in review.proposal["measures"]],
            "reasons": {m["code"]: m["reasons"] for m in review.proposal["measures"]},
            "deadline_at": review.deadline_at.isoformat(),
            "escalated": review.escalated_at is not None, "decided_by": review.decided_by,
            "measures": review.measures, "justification": review.justification,
            "difference": review.difference}
    if as_json:
        print_json(data)
        return
    table = LiteralTable(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)


@disposal_app.command("approve")
def disposal_approve(
    case_id: str,
    comment: Annotated[str, typer.Option(help="An optional comment, kept with the decision.")]
    = "",
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Approve the proposed disposal (an approver who did not open the case)."""
    current = settings()
    person = acting(as_user, Action.DECIDE_DISPOSAL, current)
    from flows.submissions import decide_disposal

    done = decide_disposal(current, case_id, person, justification=comment,
                           prepare=lambda: prefect_ready(current))
    _continued(case_id, done, as_json, {"approved_by": person.name})


@disposal_app.command("override")
def disposal_override(
    case_id: str,
    measures: Annotated[str, typer.Option(help="The measures, best first, comma-separated "
                                               "codes (add, remove or reorder).")],
    justification: Annotated[str, typer.Option(help="Why the proposal is changed.")],
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Override the proposed disposal with a written justification."""
    current = settings()
    person = acting(as_user, Action.DECIDE_DISPOSAL, current)
    from flows.submissions import decide_disposal

    chosen = [m.strip() for m in measures.split(",")]
    done = decide_disposal(current, case_id, person, measures=chosen,
                           justification=justification, prepare=lambda: prefect_ready(current))
    _continued(case_id, done, as_json, {"overridden_by": person.name,
                                        "measures": ",".join(m for m in chosen if m)})


@follow_up_app.command("list")
def follow_up_list(case_id: str, as_json: JsonFlag = False) -> None:
    """A case's follow-up actions: measure, lead, due date, status, progress, outcome."""
    store.get_case(db(), case_id)
    rows = actions.outcome_rows(actions.list_actions(db(), case_id))
    if as_json:
        print_json(rows)
        return
    table = LiteralTable("no.", "measure", "due", "status", "progress", "outcome")
    for r in rows:
        table.add_row(str(r["number"]), r["measure"], r["due_on"] + (" (overdue)"
                      if r["overdue"] else ""), r["status"],
                      "; ".join(f"{k}={v}" for k, v in r["progress"].items()) or "—",
                      r["outcome"] or "—")
    console.print(table)


def _progress(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--progress {pair[:60]!r}: expected NAME=VALUE")
        found[name.strip()] = value
    return found


@follow_up_app.command("update")
def follow_up_update(
    case_id: str,
    number: int,
    status: Annotated[str, typer.Option(help="open, in_progress or completed.")],
    progress: Annotated[list[str] | None, typer.Option(
        help="NAME=VALUE of the measure's progress (repeat); `follow-up fields` lists them.")]
    = None,
    note: Annotated[str, typer.Option(help="A note on the progress.")] = "",
    outcome: Annotated[str, typer.Option(help="What was achieved (needed to complete).")] = "",
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Record a follow-up action's progress; completing the last one closes the case."""
    current = settings()
    person = acting(as_user, Action.FOLLOW_UP, current)
    from flows.submissions import update_action

    done = update_action(current, case_id, number, person,
                         {"status": status, "progress": _progress(progress or []),
                          "note": note, "outcome": outcome},
                         prepare=lambda: prefect_ready(current))
    _continued(case_id, done, as_json, {"action": number, "status": status})


@follow_up_app.command("close")
def follow_up_close(
    case_id: str,
    reason: Annotated[str, typer.Option(help="Why the follow-up ends with actions open.")],
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Close a case's follow-up with a reason: open actions are withdrawn, the case closes."""
    current = settings()
    person = acting(as_user, Action.FOLLOW_UP, current)
    from flows.submissions import close_follow_up

    done = close_follow_up(current, case_id, person, reason,
                           prepare=lambda: prefect_ready(current))
    _continued(case_id, done, as_json, {"closed_by": person.name})


@follow_up_app.command("fields")
def follow_up_fields() -> None:
    """The progress each measure records (rules/domain.yaml `progress`)."""
    from rules.domain import domain

    vocab = domain()
    table = LiteralTable("measure", "progress fields (kind)")
    for code in vocab.measures:
        table.add_row(code, ", ".join(f"{f} ({vocab.progress.attr(f, 'kind')})"
                                      for f in vocab.progress_fields(code)))
    console.print(table)


def _file_data(file: credit.CreditFile) -> dict:
    return {"key": file.key, "name": file.name, "credit_code": file.credit_code,
            "province": file.province, "credit_class": file.credit_class,
            "violations_3y": file.violations_3y, "cases": file.cases,
            "measures": file.measures, "actions_completed": file.actions_completed,
            "actions_overdue": file.actions_overdue, "entries": file.entries}


@enterprise_app.command("show")
def enterprise_show(
    key: Annotated[str | None, typer.Argument(help="The file's key (code:… or a name key).")]
    = None,
    case_id: Annotated[str | None, typer.Option("--case", help="The file of a case's "
                                                               "enterprise.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """An enterprise's credit file: its cases, measures, actions, violations and class."""
    database = db()
    if case_id:
        file = credit.for_case(database, store.load_dossier(database, case_id))
    elif key:
        file = credit.get(database, key)
    else:
        raise InvalidInput("name the file: a KEY, or --case ID")
    if file is None:
        raise NotFound(f"no credit file for {case_id or key}")
    data = _file_data(file)
    if as_json:
        print_json(data)
        return
    console.print(f"{file.name or file.key} ({file.key}): class {file.credit_class}, "
                  f"{file.violations_3y} violation(s) in 3 years, {len(file.cases)} case(s), "
                  f"{file.actions_completed} action(s) completed, {file.actions_overdue} "
                  "overdue")
    table = LiteralTable("at", "case", "entry", "detail")
    for e in file.entries:
        table.add_row(str(e["at"])[:19], e["case_id"], e["kind"],
                      "; ".join(f"{k}={v}" for k, v in e["detail"].items()))
    console.print(table)


@enterprise_app.command("list")
def enterprise_list(as_json: JsonFlag = False) -> None:
    """Every credit file, the most recently changed first."""
    files = credit.listing(db())
    if as_json:
        print_json([{k: v for k, v in _file_data(f).items() if k != "entries"} for f in files])
        return
    table = LiteralTable("key", "name", "class", "violations (3y)", "cases", "overdue")
    for f in files:
        table.add_row(f.key, f.name, f.credit_class, str(f.violations_3y), str(len(f.cases)),
                      str(f.actions_overdue))
    console.print(table)
