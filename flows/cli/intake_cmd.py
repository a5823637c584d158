"""`riskgate intake …`: import signal files at volume, check a mapping, launch the queue,
read the rejects (docs/intake.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cases import feeds, intake_queue
from cases.config import Settings
from cases.errors import InvalidInput
from cases.import_runs import Counts
from cases.importer import StoppedImport, import_file
from cases.rejects import write_rejects
from cases.roles import Action
from flows.cli.common import (
    AsUser,
    LiteralTable,
    acting,
    console,
    db,
    prefect_ready,
    print_json,
    report_lang,
    say,
    settings,
)
from flows.cli.escalation_cmd import watch

app = typer.Typer(no_args_is_help=True)
app.command("watch")(watch)  # the escalation watch (flows/cli/escalation_cmd.py)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

MappingOption = Annotated[Path | None, typer.Option(
    "--mapping", help="A mapping file (YAML) for a feed with no shipped mapping.")]
ChannelOption = Annotated[str | None, typer.Option(
    "--channel", help="A shipped channel mapping (" + ", ".join(feeds.channel_names())
    + "), or any other channel whose records are in the signal schema.")]


def mapping_of(channel: str | None, mapping: Path | None) -> feeds.Mapping:
    """A shipped channel's mapping; for any other channel of the vocabulary, records already
    in the signal schema, of that channel; or the user's own mapping file."""
    if (channel is None) == (mapping is None):
        raise InvalidInput("give one of --channel NAME or --mapping FILE")
    if mapping is not None:
        return feeds.load_mapping(mapping)
    assert channel is not None
    if channel in feeds.channel_names():
        return feeds.channel_mapping(channel)
    return feeds.signal_mapping(channel)


def _summary_rows(counts: Counts) -> list[tuple[str, int]]:
    return [(name.replace("_", " "), value) for name, value in counts.to_dict().items()]


def _triage_and_launch(current: Settings, *, launch: bool, label: str = "queue"
                       ) -> tuple[dict, list]:
    """Triage every queued case not yet triaged (this import's, and any an earlier import
    left), as one `triage-intake` flow run; then launch the queue, P1 first."""
    store = db(current)
    triaged: dict = {}
    launched: list = []
    if intake_queue.untriaged(store):
        prefect_ready(current)
        from flows.intake_flow import triage_intake

        triaged = triage_intake(label)
    if launch and intake_queue.status(store).waiting:
        prefect_ready(current)
        from flows.intake_launch import launch_queued

        launched = launch_queued(current).started
    return triaged, launched


@app.command("import")
def intake_import(
    file: Annotated[Path, typer.Argument(help="The signal file: CSV, JSON or JSONL.")],
    channel: ChannelOption = None,
    mapping: MappingOption = None,
    no_launch: Annotated[bool, typer.Option(
        "--no-launch", help="Import and triage; leave the cases queued for `intake launch`.")
    ] = False,
    again: Annotated[bool, typer.Option(
        "--again", help="Take a file imported before in once more (its signals stay once).")
    ] = False,
    lang: Annotated[str | None, typer.Option(help="Report language: zh (default) or en.")] = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Import a file: de-duplicate, group into cases, triage in bulk, launch P1 first."""
    current = settings()
    chosen_lang = report_lang(lang, current)
    person = acting(as_user, Action.OPEN_CASE, current)
    chosen = mapping_of(channel, mapping)
    store = db(current)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[n]}"),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=as_json or not sys.stderr.isatty()) as progress:
        task = progress.add_task("importing", total=None, n="")

        def on_batch(read: int, counts: Counts) -> None:
            progress.update(task, n=f"{read} rows · {counts.new_cases} new cases · "
                                    f"{counts.rejected} rejected")

        try:
            result = import_file(store, file, chosen, actor=person.actor, lang=chosen_lang,
                                 hold=no_launch, again=again, on_batch=on_batch)
        except StoppedImport as stopped:
            # what came before the problem is taken in: its cases are triaged, then the error
            write_rejects(store, current.imports_dir, stopped.import_id)
            _triage_and_launch(current, launch=not no_launch, label=stopped.import_id)
            raise
    rejects = write_rejects(store, current.imports_dir, result.import_id)
    triaged, launched = _triage_and_launch(current, launch=not no_launch,
                                           label=result.import_id)
    if as_json:
        print_json({"import": result.import_id, "status": result.status,
                    "counts": result.counts.to_dict(), "resumed_from": result.resumed_from,
                    "cases": list(result.new_case_ids),
                    "rejects": [str(p) for p in rejects], "triage": triaged,
                    "launched": [c for c, _ in launched]})
        return
    if result.status == "already":
        say(f"{file} was imported before under this mapping (import {result.import_id}); "
            "nothing taken in again (--again to import it once more)")
    table = LiteralTable(title=f"import {result.import_id}" + (
        f" (resumed after record {result.resumed_from})" if result.resumed_from else ""))
    table.add_column("")
    table.add_column("rows", justify="right")
    for name, value in _summary_rows(result.counts):
        table.add_row(name, str(value))
    console.print(table)
    if triaged:
        console.print(f"triaged {triaged['triaged']} new cases: " + ", ".join(
            f"{p} {n}" for p, n in triaged["by_priority"].items()))
    if launched:
        console.print(f"launched {len(launched)} (P1 first); the rest wait their turn")
    elif no_launch:
        console.print("cases queued, held: `riskgate intake launch` starts them")
    if rejects:
        console.print(f"rejected rows, with what was wrong: {rejects[-1]}")


@app.command("launch")
def intake_launch(
    limit: Annotated[int | None, typer.Option(min=1, help="Launch at most this many.")] = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Launch queued cases (held ones included), P1 first, within the concurrency limit."""
    current = settings()
    acting(as_user, Action.LAUNCH, current)
    _triage_and_launch(current, launch=False)  # cases an import left untriaged, if any
    prefect_ready(current)
    from flows.intake_launch import launch_queued

    done = launch_queued(current, include_held=True, limit=limit)
    if as_json:
        print_json({"launched": [c for c, _ in done.started], "waiting": done.waiting})
        return
    for case_id, run_id in done.started:
        console.print(f"launched {case_id}" + ("" if run_id else " (start owed to the sweeper)"))
    console.print(f"{done.waiting} cases wait their turn "
                  f"(at most {current.launch_concurrency} running at once)")


@app.command("status")
def intake_status(as_json: JsonFlag = False) -> None:
    """The launch queue: untriaged, waiting by priority, held, running, launched."""
    current = settings()
    status = intake_queue.status(db(current))
    if as_json:
        print_json(status.to_dict())
        return
    table = LiteralTable()
    for name in ("untriaged", "waiting", "held", "running", "launched", "settled"):
        table.add_column(name, justify="right")
    table.add_row(str(status.untriaged), ", ".join(f"{p} {n}" for p, n in status.waiting.items())
                  or "0", str(status.held), str(status.running), str(status.launched),
                  str(status.settled))
    console.print(table)


@app.command("check")
def intake_check(
    file: Annotated[Path, typer.Argument(help="The file to try the mapping on.")],
    channel: ChannelOption = None,
    mapping: MappingOption = None,
    rows: Annotated[int, typer.Option(min=1, max=10_000, help="Rows to map.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """How the first rows map, and which source values no value map covers."""
    report = feeds.check(file, mapping_of(channel, mapping), limit=rows)
    if as_json:
        print_json(report.to_dict())
        return
    report.render(console)


@app.command("rejects")
def intake_rejects(
    import_id: Annotated[str, typer.Argument(help="The import (see `intake import`).")],
    as_json: JsonFlag = False,
) -> None:
    """The rows an import quarantined, with their lines and what was wrong."""
    current = settings()
    from cases.rejects import quarantined

    found = quarantined(db(current), import_id)
    if as_json:
        print_json([{"line": r.line, "reference": r.reference, "status": r.status,
                     "problems": r.problems} for r in found])
        return
    table = LiteralTable()
    for name in ("line", "reference", "status", "problems"):
        table.add_column(name)
    for row in found:
        table.add_row(str(row.line), row.reference, row.status, "; ".join(row.problems))
    console.print(table)
