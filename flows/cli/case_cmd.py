"""`riskgate case …`, `score …`, `lab …`, `experts …`: how staff and experts drive one case."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cases import lifecycle, store
from cases.errors import InvalidRows, WrongState
from cases.intake import open_case
from cases.roles import Action
from cases.signals import read_signal_file
from cases.views import case_summary
from flows.cli.common import (
    AsUser,
    LiteralTable,
    acting,
    console,
    db,
    err_console,
    prefect_ready,
    print_json,
    report_lang,
    say,
    settings,
)

app = typer.Typer(no_args_is_help=True)
score_app = typer.Typer(no_args_is_help=True)
lab_app = typer.Typer(no_args_is_help=True)
experts_app = typer.Typer(no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@app.command("open")
def case_open(
    signal_file: Annotated[Path, typer.Argument(
        help="A signal (JSON); see docs/samples/signal.json.")],
    as_json: JsonFlag = False,
    lang: Annotated[str | None, typer.Option(help="Report language: zh (default) or en.")] = None,
    as_user: AsUser = None,
) -> None:
    """Take in a signal: a new case, or the open case on the same product."""
    current = settings()
    chosen = report_lang(lang, current)
    person = acting(as_user, Action.OPEN_CASE, current)
    signal = read_signal_file(signal_file)
    opened = open_case(db(current), signal, actor=person.actor, lang=chosen)
    if as_json:
        print_json({"id": opened.case_id, "grouped": opened.grouped})
    else:
        verb = "joined open case" if opened.grouped else "opened case"
        console.print(f"{verb} {opened.case_id}")


@app.command("run")
def case_run(
    case_id: str,
    as_json: JsonFlag = False,
    timeout: Annotated[float, typer.Option(min=1, max=86400,
                                           help="Seconds to wait for the flow run.")] = 600.0,
    as_user: AsUser = None,
) -> None:
    """Run the case's flow until it waits for people or closes (through the deployment)."""
    current = settings()
    person = acting(as_user, Action.LAUNCH, current)
    case = store.get_case(db(current), case_id)
    if not lifecycle.is_live(case.gate, case.state):
        _print_waiting(current, case_id, as_json)
        return
    stacks = []
    from flows.launcher import RunFailed, wait_for_run
    from flows.stack import StackError
    from flows.submissions import launch_case

    done = launch_case(current, case_id, actor=person.actor,
                       prepare=lambda: stacks.append(prefect_ready(current)))
    if not done.claim.claimed:  # it started waiting or closed meanwhile
        _print_waiting(current, case_id, as_json)
        return
    if done.flow_run_id is None:
        raise StackError(f"Prefect could not be reached, so case {case_id}'s run is owed: the "
                         "sweeper starts it when Prefect answers again (or run `riskgate "
                         "sweep`)")
    run_id = done.flow_run_id
    say(f"flow run {run_id}: {stacks[-1].ui_url}/runs/flow-run/{run_id}")
    outcome = wait_for_run(run_id, timeout=timeout)
    if outcome.state != "Completed":
        raise RunFailed(f"flow run {run_id} ended {outcome.state}: {outcome.message[:300]}")
    after = store.get_case(db(current), case_id)
    if lifecycle.is_live(after.gate, after.state) and after.lease_owner:
        raise WrongState(f"case {case_id} is being advanced by another run "
                         f"({after.lease_owner}); it is at gate {after.gate} now — see "
                         f"`riskgate case show {case_id}` when that run is done")
    _print_waiting(current, case_id, as_json)


def _print_waiting(current, case_id: str, as_json: bool) -> None:
    summary = case_summary(store.load_dossier(db(current), case_id), current.home)
    if as_json:
        print_json(summary)
        return
    line = f"{summary['id']}: state {summary['state']}, gate {summary['gate']}"
    scoring = summary["scoring"]
    if summary["state"] == "awaiting_scores" and scoring:
        line += (f" — round {scoring['round']}: {scoring['submitted']} of "
                 f"{scoring['quorum']} scores needed are in")
    console.print(line)


@app.command("show")
def case_show(case_id: str, as_json: JsonFlag = False) -> None:
    """Show a case: state, gate, risk, measures, panel, reports."""
    current = settings()
    summary = case_summary(store.load_dossier(db(current), case_id), current.home)
    if as_json:
        print_json(summary)
        return
    table = LiteralTable(show_header=False, box=None)
    for key in ("id", "title", "state", "gate", "waiting_reason", "channel", "priority",
                "risk_level"):
        if key != "waiting_reason" or summary[key]:
            table.add_row(key, str(summary[key]))
    for signal in summary["signals"]:  # ids for `case move-signal` and `case split`
        why = (signal["grouping"] or {}).get("why") or (signal["grouping"] or {}).get("how")
        table.add_row("signal", f"{signal['id']} {signal['channel']}/{signal['reference']}"
                                + (f" — {why}" if why else ""))
    table.add_row("measures", ", ".join(summary["measures"]) or "—")
    table.add_row("gates", " → ".join(summary["gates_completed"]) or "—")
    table.add_row("panel", ", ".join(f"{p['expert_id']} ({p['role']})"
                                     for p in summary["panel"]) or "—")
    for report in summary["reports"]:
        table.add_row("report", f"{current.home / report['path']}  "
                                f"sha256 {report['sha256'][:16]}…")
    console.print(table)


@app.command("list")
def case_list(as_json: JsonFlag = False,
              limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """The most recent cases."""
    cases = store.list_cases(db(), limit)
    rows = [{"id": c.id, "state": c.state, "gate": c.gate, "risk_level": c.risk_level,
             "title": c.title} for c in cases]
    if as_json:
        print_json(rows)
        return
    table = LiteralTable("id", "state", "gate", "risk", "title")
    for row in rows:
        table.add_row(row["id"], row["state"], row["gate"], row["risk_level"] or "—",
                      row["title"])
    console.print(table)


@app.command("explain")
def case_explain(
    case_id: str,
    gate: Annotated[str, typer.Option(help="triage or disposal")] = "triage",
    as_json: JsonFlag = False,
) -> None:
    """Replay a stored rule decision under the rulebook version that made it."""
    from cases.explain import explain

    result = explain(db(), case_id, gate)
    if as_json:
        print_json(result.__dict__)
    else:
        book = result.rulebook
        console.print(f"{case_id} {gate} (round {result.round}) under {book['name']} "
                      f"{book['version']} (sha256 {book['sha256'][:16]}…)")
        for step in result.replayed["trail"]:
            console.print(f"  {step['order']}. {step['rule']} {step['title']['en']} — "
                          + ", ".join(f"{k}={v}" for k, v in step["matched"].items()))
        console.print("reproduced: the stored decision follows from that rulebook"
                      if result.reproduced else
                      "NOT reproduced: the stored decision differs from a replay")
    if not result.reproduced:
        raise typer.Exit(7)


@app.command("retry")
def case_retry(case_id: str, as_json: JsonFlag = False, as_user: AsUser = None) -> None:
    """Take a case that waits for staff back to its gate (after the roster changed, or the
    cause of its failing runs was fixed)."""
    current = settings()
    person = acting(as_user, Action.RETRY, current)
    from cases.sweeping import retry
    from flows.submissions import Submitted, start_claimed

    case = store.get_case(db(current), case_id)
    if case.state != "awaiting_staff":
        raise WrongState(f"case {case_id} is not waiting for staff (state {case.state}, gate "
                         f"{case.gate})")
    claim = retry(db(current), case_id, actor=person.actor, by="staff",
                  why="staff asked to retry")
    if claim is None:
        raise WrongState(f"case {case_id} changed meanwhile; see `riskgate case show {case_id}`")
    done = Submitted(claim, start_claimed(current, claim, lambda: prefect_ready(current)))
    _report_claim(done, as_json)


@app.command("supplement")
def case_supplement(
    case_id: str,
    signal_file: Annotated[Path, typer.Argument(help="The further signal answering triage.")],
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Give a case that asked for more information a further signal; triage runs again."""
    current = settings()
    person = acting(as_user, Action.ADD_INFORMATION, current)
    signal = read_signal_file(signal_file)
    from flows.submissions import submit_information

    done = submit_information(current, case_id, signal, actor=person.actor,
                              prepare=lambda: prefect_ready(current))
    _report_claim(done, as_json)


OWED_WARNING = ("warning: stored, and the case is ready to continue, but Prefect could not be "
                "reached to start its flow run; the continuation is owed and the sweeper starts "
                "it when Prefect answers again (or run `riskgate sweep`)")


def _report_claim(done, as_json: bool, extra: dict | None = None) -> None:
    data = {"case_id": done.claim.case_id, "continued": done.claim.claimed,
            "flow_run_id": done.flow_run_id,
            "continuation": ("owed" if done.owed else "started") if done.claim.claimed
            else None, **(extra or {})}
    if done.owed:
        err_console.print(OWED_WARNING, markup=False, highlight=False)
    if as_json:
        print_json(data)
    elif done.claim.claimed and not done.owed:
        console.print(f"{done.claim.case_id}: complete — continuing in flow run "
                      f"{done.flow_run_id}")
    elif not done.claim.claimed:
        console.print(f"{done.claim.case_id}: recorded")


@score_app.command("submit")
def score_submit(
    case_id: Annotated[str, typer.Option("--case", help="Case id.")],
    expert_id: Annotated[str, typer.Option("--expert", help="Your expert id.")],
    round_no: Annotated[int, typer.Option("--round", help="The scoring round you answer "
                                                          "(`case show` gives the open one).")],
    severity: Annotated[int, typer.Option(help="1 first aid … 4 fatal or permanent.")],
    probability: Annotated[str, typer.Option(help="0.002, 1/500 or a band label '> 1/1 000'.")],
    measures: Annotated[str, typer.Option(help="Recommended measures, best first, "
                                               "comma-separated codes.")],
    rationale: Annotated[str, typer.Option(help="Why: the injury scenario you scored.")],
    confidence: Annotated[int, typer.Option(help="1 (low) … 5 (high).")] = 3,
    vulnerable: Annotated[bool, typer.Option("--vulnerable/--not-vulnerable",
                                             help="Vulnerable users are exposed.")] = False,
    spread: Annotated[str | None, typer.Option(help="batch, enterprise, industry or region.")]
    = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Record a score an expert gave outside the portal (staff enter it; the audit log names
    both); when the quorum is in, the case continues by itself."""
    current = settings()
    person = acting(as_user, Action.ENTER_SCORE, current)
    form = {"severity": severity, "probability": probability,
            "measures": [m.strip() for m in measures.split(",") if m.strip()],
            "rationale": rationale, "confidence": confidence, "vulnerable_users": vulnerable,
            "spread": spread}
    from flows.submissions import submit_score

    done = submit_score(current, case_id, expert_id, round_no, form,
                        actor=f"expert:{expert_id} (entered by {person.actor})",
                        prepare=lambda: prefect_ready(current))
    receipt = done.receipt
    extra = {"expert_id": expert_id, "round": receipt.round_no, "version": receipt.version,
             "change": receipt.change,
             "submitted": receipt.submitted, "quorum": receipt.quorum}
    if as_json:
        _report_claim(done, True, extra)
        return
    console.print(f"{case_id}: score of {expert_id} {receipt.change} "
                  f"(round {receipt.round_no}: {receipt.submitted} of {receipt.quorum})")
    if done.owed:
        err_console.print(OWED_WARNING, markup=False, highlight=False)
    elif done.claim.claimed:
        console.print(f"quorum reached — case continues in flow run {done.flow_run_id}")


@lab_app.command("submit")
def lab_submit(
    case_id: Annotated[str, typer.Option("--case", help="Case id.")],
    item: Annotated[str, typer.Option(help="Test item.")],
    result: Annotated[str, typer.Option(help="pass or fail.")],
    standard: Annotated[str, typer.Option(help="Standard tested against.")] = "",
    value: Annotated[str, typer.Option(help="Measured value.")] = "",
    laboratory: Annotated[str, typer.Option(help="Testing laboratory.")] = "",
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Enter a lab result for a case waiting for one; the case continues by itself."""
    current = settings()
    person = acting(as_user, Action.ENTER_LAB, current)
    from flows.submissions import submit_lab_results

    done = submit_lab_results(current, case_id, [{"item": item, "result": result,
                                                  "standard": standard, "value": value,
                                                  "laboratory": laboratory}],
                              actor=person.actor, prepare=lambda: prefect_ready(current))
    _report_claim(done, as_json)


def _import_roster(path: Path, *, dry_run: bool, as_json: bool, as_user: str | None) -> None:
    from experts.roster import RosterError, load_roster

    person = acting(as_user, Action.MANAGE_ROSTER)
    try:
        profiles = load_roster(path)
    except RosterError as exc:
        raise InvalidRows(exc.lines) from None
    if dry_run:
        result = {"file": str(path), "experts": len(profiles), "dry_run": True}
        if as_json:
            print_json(result)
        else:
            console.print(f"{len(profiles)} experts in {path.name} are valid; nothing stored "
                          "(--dry-run)")
        return
    change = store.upsert_experts(db(), profiles, actor=person.actor)
    if as_json:
        print_json({"file": str(path), "experts": len(profiles), "added": list(change.added),
                    "updated": list(change.updated), "unchanged": change.unchanged})
        return
    console.print(f"{len(profiles)} experts in {path.name}: {len(change.added)} added, "
                  f"{len(change.updated)} updated, {change.unchanged} unchanged")


@experts_app.command("import")
def experts_import(
    roster: Annotated[Path, typer.Argument(help="Roster file: .yaml/.yml (a list under "
                                                "`experts:`) or .csv (one expert per row)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, store nothing.")]
    = False,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Add or update experts from a roster file: every row is checked first, and a bad row
    (reported with its line) means nothing is imported. Experts the file does not name stay."""
    _import_roster(roster, dry_run=dry_run, as_json=as_json, as_user=as_user)


@experts_app.command("seed")
def experts_seed(
    roster: Annotated[Path | None, typer.Argument(help="Roster file (default: the demo roster)")]
    = None,
    as_user: AsUser = None,
) -> None:
    """Add or update experts from a roster file, the demo roster by default (repeatable)."""
    from experts.roster import DEMO_ROSTER

    _import_roster(roster or DEMO_ROSTER, dry_run=False, as_json=False, as_user=as_user)


@experts_app.command("list")
def experts_list(as_json: JsonFlag = False) -> None:
    """The roster with each expert's open voting seats."""
    database = db()
    seats = store.open_seats(database)
    rows = [{"id": e.id, "name": e.name, "affiliation": e.affiliation, "active": e.active,
             "categories": e.categories, "open_seats": seats.get(e.id, 0)}
            for e in store.roster(database)]
    if as_json:
        print_json(rows)
        return
    table = LiteralTable("id", "name", "affiliation", "categories", "seats", "active")
    for r in rows:
        table.add_row(r["id"], r["name"], r["affiliation"], ", ".join(r["categories"]),
                      str(r["open_seats"]), "yes" if r["active"] else "no")
    console.print(table)
