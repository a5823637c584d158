"""`riskgate report …`: reports over many cases — the risk product catalogue, the
semi-monthly bulletin (半月报) and the special report (专报) on one case or a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cases import bulletin as bulletin_mod
from cases import catalogue as catalogue_mod
from cases import sampling_plan
from cases import special as special_mod
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
from reports import bulletin as bulletin_files
from reports import catalogue as catalogue_files
from reports import outputs
from reports import special as special_files
from rules.domain import Lang, domain

app = typer.Typer(no_args_is_help=True)

TOP_ROWS = 10  # printed on the terminal; the files hold every row
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _out_dir(current: Settings, out: Path | None, default: str = "catalogue") -> Path:
    """--out, or the data home's catalogue/ (bulletins/, special/). Never under reports/:
    `riskgate audit verify` holds every file there to the case manifest, which these reports
    are not part of."""
    target = (out or current.home / default).expanduser().resolve()
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


# --- riskgate report bulletin / special: the semi-monthly bulletin and the special report ---


def _files_error(exc: Exception, what: str) -> Exception:
    """A refusal to write, as the CLI reports it (exit codes of cases/errors.py)."""
    if isinstance(exc, outputs.OutputExists):
        return WrongState(f"{exc}: not overwritten; pass --overwrite to replace it, or --out "
                          "another directory")
    if isinstance(exc, OSError):
        return InvalidInput(f"cannot write the {what}: {exc.strerror} ({exc.filename})")
    return exc


def produce_bulletin(current: Settings, period: catalogue_mod.Period, *, lang: Lang,
                     out: Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Compute, write and describe one bulletin (what `--json` prints)."""
    found = bulletin_mod.bulletin(db(current), period)
    try:
        written = bulletin_files.write(
            found, out_dir=_out_dir(current, out, "bulletins"), lang=lang,
            generated_at=utcnow(), generated_by=local_actor(),
            overwrite=overwrite)
    except (outputs.OutputExists, OSError) as exc:
        raise _files_error(exc, "bulletin") from None
    return {"bulletin": found.identity, "lang": lang,
            "files": {"docx": str(written.docx), "manifest": str(written.manifest)},
            "unchanged": written.unchanged, "data_hash": written.data_hash,
            "template_version": written.template_version, "sha256": written.sha256,
            **found.content()}


@app.command("bulletin")
def bulletin(
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (Beijing).")],
    last: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, included.")],
    lang: Annotated[str | None, typer.Option(help="Report language: zh (default) or en.")]
    = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for the files (default: bulletins/ in the data directory).")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace files of the same period and language that hold other data.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The semi-monthly bulletin (半月报) of a period: cases opened and closed, new serious
    risks, escalation warnings, overdue follow-up; a .docx with charts and its manifest."""
    current = settings()
    chosen = report_lang(lang, current)
    period = bulletin_mod.parse_period(first, last)
    result = produce_bulletin(current, period, lang=chosen, out=out, overwrite=overwrite)
    if as_json:
        print_json(result)
        return
    state = "unchanged, kept" if result["unchanged"] else "written"
    console.print(f"{result['bulletin']}: {result['opened']['cases']} opened, "
                  f"{result['closed']['cases']} closed, {len(result['serious'])} new serious "
                  f"risk(s), {len(result['escalations'])} escalation warning(s), "
                  f"{len(result['overdue'])} overdue action(s); files {state}:")
    for path in result["files"].values():
        console.print(f"  {path}")
    console.print(f"data hash {result['data_hash']}")


@app.command("special")
def special(
    cases: Annotated[list[str], typer.Argument(help="Case ids (one case or a cluster).",
                                               metavar="CASE", show_default=False)],
    lang: Annotated[str | None, typer.Option(help="Report language: zh (default) or en.")]
    = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for the files (default: special/ in the data directory).")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace files of the same cases and language that hold other data.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """The special report (专报) on one case or a cluster, for sending upwards: the risk, the
    evidence, the assessment, the measures taken and proposed."""
    current = settings()
    chosen = report_lang(lang, current)
    ids = special_mod.parse_ids(cases)
    found = special_mod.special(db(current), ids)
    try:
        written = special_files.write(found, out_dir=_out_dir(current, out, "special"),
                                      lang=chosen, generated_at=utcnow(),
                                      generated_by=local_actor(), overwrite=overwrite)
    except (outputs.OutputExists, OSError) as exc:
        raise _files_error(exc, "special report") from None
    result = {"special": found.identity, "cases": list(found.ids), "lang": chosen,
              "files": {"docx": str(written.docx), "manifest": str(written.manifest)},
              "unchanged": written.unchanged, "data_hash": written.data_hash,
              "template_version": written.template_version, "sha256": written.sha256,
              "summary": found.summary}
    if as_json:
        print_json(result)
        return
    state = "unchanged, kept" if result["unchanged"] else "written"
    console.print(f"{found.identity}: {len(found.ids)} case(s); files {state}:")
    for path in result["files"].values():
        console.print(f"  {path}")
    console.print(f"data hash {result['data_hash']}")


# --- riskgate report archive: PDF copies of committed reports (flows/pdf_archive.py) --------

class ArchiveIncomplete(WrongState):
    """Some reports still have no PDF copy after the run (exit 4)."""


@app.command("archive")
def archive(
    case: Annotated[str | None, typer.Option("--case", help="Only this case's reports.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Make the PDF copy of every committed report that has none and record it in the
    manifest (LibreOffice, many reports per call)."""
    from flows.pdf_archive import Archived, archive_missing

    current = settings()

    def show(done: Archived) -> None:
        if not as_json:
            what = done.pdf if done.status == "archived" else done.reason
            console.print(f"{done.status:8} {done.report}  {what}")

    results = archive_missing(current, db(current), actor=local_actor(), case_id=case,
                              progress=show)
    counts = {status: sum(1 for r in results if r.status == status)
              for status in ("archived", "failed", "skipped")}
    if as_json:
        print_json({**counts, "reports": [r.to_dict() for r in results]})
    else:
        console.print(f"{counts['archived']} PDF copies made, {counts['failed']} failed, "
                      f"{counts['skipped']} skipped" if results else
                      "every committed report has its PDF copy; nothing to do")
    unfinished = [r for r in results if r.status != "archived"]
    if unfinished:
        first = unfinished[0]
        raise ArchiveIncomplete(f"{len(unfinished)} report(s) still without a PDF copy: "
                                f"{first.report}: {first.reason}")


@app.command("templates")
def templates(as_json: JsonFlag = False) -> None:
    """Check every report template (RISKGATE_TEMPLATES, else the shipped set) and list them:
    the file used for each report and language, and its version."""
    from reports.render import SHIPPED_TEMPLATES, TemplateError
    from reports.template_check import check_templates

    try:
        checked = check_templates()
    except TemplateError as exc:
        raise InvalidInput(f"report template refused: {exc}") from None
    rows = [{"report": c.name, "lang": c.lang, "version": c.version, "path": str(c.path),
             "source": "shipped" if c.path.is_relative_to(SHIPPED_TEMPLATES) else "centre"}
            for c in checked]
    if as_json:
        print_json({"templates": rows})
        return
    table = LiteralTable("report", "lang", "source", "version", "path")
    for row in rows:
        table.add_row(row["report"], row["lang"], row["source"], row["version"], row["path"])
    console.print(table)
