"""`riskgate report …`: periodic reports over many cases (the risk product catalogue)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cases import catalogue as catalogue_mod
from cases import sampling_plan
from cases.config import Settings
from cases.errors import InvalidInput, WrongState
from cases.models import utcnow
from flows.cli.common import (
    LiteralTable,
    console,
    db,
    local_actor,
    print_json,
    report_lang,
    settings,
)
from reports import catalogue as catalogue_files
from rules.domain import Lang, domain

app = typer.Typer(no_args_is_help=True)

TOP_ROWS = 10  # printed on the terminal; the files hold every row
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _out_dir(current: Settings, out: Path | None) -> Path:
    """--out, or the data home's catalogue/. Never under reports/: `riskgate audit verify`
    holds every file there to the case manifest, which a catalogue is not part of."""
    target = (out or current.home / "catalogue").expanduser().resolve()
    reports = current.reports_dir.resolve()
    if target == reports or reports in target.parents:
        raise InvalidInput(f"--out {out}: inside the case reports directory ({reports}), "
                           "which holds gate reports only; choose another directory")
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"--out {out}: not a directory")
    return target


def produce(current: Settings, period: catalogue_mod.Period, *, lang: Lang, batches: int,
            out: Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Compute, write and describe one catalogue (what the command prints as JSON)."""
    found = catalogue_mod.catalogue(db(current), period)
    focus = sampling_plan.plan(found.categories, batches)
    try:
        written = catalogue_files.write(
            found, focus, out_dir=_out_dir(current, out), lang=lang, budget=batches,
            rules={"scoring": catalogue_mod.SCORING_RULES, "plan": sampling_plan.rules(batches)},
            generated_at=utcnow(), generated_by=local_actor(), overwrite=overwrite)
    except catalogue_files.OutputExists as exc:
        raise WrongState(f"{exc}: not overwritten; pass --overwrite to replace it, or --out "
                         "another directory") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write the catalogue: {exc.strerror} "
                           f"({exc.filename})") from None
    vocab = domain()
    return {
        "catalogue": found.identity, "period": period.to_dict(),
        "previous": found.previous.to_dict(), "lang": lang, "batches": batches,
        "files": {"docx": str(written.docx), "csv": str(written.csv),
                  "plan_csv": str(written.plan_csv), "manifest": str(written.manifest)},
        "unchanged": written.unchanged, "data_hash": written.data_hash,
        "template_version": written.template_version, "sha256": written.sha256,
        "cases": found.cases, "ranked_cases": found.ranked_cases,
        "unassessed": found.unassessed, "out_of_scope": found.out_of_scope,
        "previous_cases": found.previous_cases,
        "rows": [{**row.to_dict(), "category_name": vocab.categories.name(row.category, lang),
                  "hazard_name": catalogue_files.hazard_name(row.hazard, lang)}
                 for row in found.rows],
        "categories": [{**row.to_dict(),
                        "category_name": vocab.categories.name(row.category, lang)}
                       for row in found.categories],
        "plan": [{**f.to_dict(), "category_name": vocab.categories.name(f.category.category,
                                                                        lang),
                  "why": {"zh": catalogue_files.why(f, "zh"),
                          "en": catalogue_files.why(f, "en")}} for f in focus],
    }


@app.command("catalogue")
def catalogue(
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (Beijing).")],
    last: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, included.")],
    lang: Annotated[str | None, typer.Option(help="Report language: zh (default) or en.")]
    = None,
    batches: Annotated[int, typer.Option(
        help="Sampling batches to share among the focus categories.")]
    = sampling_plan.DEFAULT_BATCHES,
    out: Annotated[Path | None, typer.Option(
        help="Directory for the files (default: catalogue/ in the data directory).")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace files of the same period and language that hold other data.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The risk product catalogue (风险产品目录) of a period: .docx, CSVs, sampling focus."""
    current = settings()
    chosen = report_lang(lang, current)
    period = catalogue_mod.parse_period(first, last)
    sampling_plan.check_budget(batches)
    result = produce(current, period, lang=chosen, batches=batches, out=out,
                     overwrite=overwrite)
    if as_json:
        print_json(result)
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    state = "unchanged, kept" if result["unchanged"] else "written"
    console.print(f"{result['catalogue']}: {result['cases']} cases from "
                  f"{result['period']['from']} to {result['period']['to']} "
                  f"({result['unassessed']} not yet assessed, {result['out_of_scope']} out "
                  f"of scope); files {state}:")
    for path in result["files"].values():
        console.print(f"  {path}")
    table = LiteralTable("rank", "category", "hazard", "cases", "score", "trend")
    for row in result["rows"][:TOP_ROWS]:
        table.add_row(str(row["rank"]), row["category_name"], row["hazard_name"],
                      str(row["cases"]), str(row["score"]),
                      row["trend"] if row["trend"] in ("new", "same")
                      else f"{row['trend']} ({row['delta']:+d})")
    console.print(table)
    plan = LiteralTable("focus", "category", "batches", "score")
    for item in result["plan"]:
        plan.add_row(str(item["rank"]), item["category_name"], str(item["batches"]),
                     str(item["score"]))
    console.print(plan)
    console.print(f"data hash {result['data_hash']}")
