"""`riskgate case move-signal …` and `riskgate case split …`: staff correct intake's grouping
(cases/regroup.py says when it is allowed). Registered onto the `case` app by `register`."""

from __future__ import annotations

from typing import Annotated

import typer

from cases.config import Settings
from cases.errors import FieldErrors, InvalidInput
from cases.regroup import Regrouped, move_signal, split_case
from cases.roles import Action
from flows.cli.common import (
    AsUser,
    acting,
    console,
    db,
    err_console,
    prefect_ready,
    print_json,
    settings,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded with the move; "
                                                      "4 to 1000 characters).")]


def move_signal_cmd(
    signal_id: Annotated[int, typer.Argument(help="The signal's id (`case show --json`).")],
    to: Annotated[str | None, typer.Option("--to", help="An open case at intake or triage.")]
    = None,
    new: Annotated[bool, typer.Option("--new", help="Open a new case from the signal.")]
    = False,
    *,
    reason: Reason,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Move a signal to another open case (--to) or to a new case (--new)."""
    if (to is None) == (not new):
        raise InvalidInput("give exactly one of --to CASE_ID and --new")
    current = settings()
    person = acting(as_user, Action.REGROUP, current)
    done = move_signal(db(current), signal_id, to_case=None if new else to, actor=person,
                       reason=reason)
    _report(current, done, as_json)


def split_cmd(
    case_id: str,
    signals: Annotated[str, typer.Option("--signals", help="The signals to split off into one "
                                                           "new case: ids, comma-separated.")],
    reason: Reason,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Split signals off a case into one new case."""
    ids = signal_ids(signals)
    current = settings()
    person = acting(as_user, Action.REGROUP, current)
    _report(current, split_case(db(current), case_id, ids, actor=person, reason=reason),
            as_json)


def signal_ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    bad = next((p for p in parts if not (p.isascii() and p.isdigit() and len(p) <= 18)), None)
    if bad is not None:
        raise FieldErrors({"--signals": ("int_parsing", {}, f"{bad[:20]!r} is not a signal id; "
                                         "give ids separated by commas")})
    return [int(p) for p in parts]


def _report(current: Settings, done: Regrouped, as_json: bool) -> None:
    """What changed; a case sent back to triage has its triage run started (or owed)."""
    from flows.submissions import start_claimed

    runs = {claim.case_id: start_claimed(current, claim, lambda: prefect_ready(current))
            for claim in done.claims}
    if any(run is None for run in runs.values()):
        from flows.cli.case_cmd import OWED_WARNING

        err_console.print(OWED_WARNING, markup=False, highlight=False)
    if as_json:
        print_json({**done.as_dict(), "flow_runs": runs})
        return
    ids = ", ".join(str(i) for i in done.signal_ids)
    where = f"new case {done.to_case}" if done.new_case else f"case {done.to_case}"
    console.print(f"{done.how} signal{'s' if len(done.signal_ids) > 1 else ''} {ids} from case "
                  f"{done.from_case} to {where}")
    for case_id, hazards in done.hazards.items():
        console.print(f"{case_id}: hazards {', '.join(hazards) or '—'}")
    for case_id in done.back_to_triage:
        run = runs.get(case_id)
        console.print(f"{case_id}: back to triage"
                      + (f" — continuing in flow run {run}" if run else ""))


def register(app: typer.Typer) -> None:
    app.command("move-signal")(move_signal_cmd)
    app.command("split")(split_cmd)
