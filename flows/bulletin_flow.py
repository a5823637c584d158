"""The semi-monthly bulletin as a Prefect flow: the `bulletin` deployment in prefect.yaml runs
it at 08:00 Beijing time on the 1st and the 16th. Run on the 1st it covers the 16th to the end
of the month before, run on the 16th the 1st to the 15th (cases/bulletin.py
`half_month_before` of the run's scheduled day); `first`/`last` name another period.

Orchestration only: the data (cases/bulletin.py) and the files (reports/bulletin.py), written
in the centre's language (RISKGATE_LANG) under $RISKGATE_HOME/bulletins/; the run shows the
file as a link artifact and the bulletin's counts as a markdown artifact in the Prefect UI.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.runtime import flow_run

from cases import bulletin as bulletin_mod
from cases.actions import CENTRE_ZONE
from cases.catalogue import Period
from cases.config import Settings, load_settings
from cases.db import database
from cases.errors import InvalidInput, WrongState
from cases.models import utcnow
from reports import bulletin as bulletin_files
from reports import outputs
from reports.i18n import Catalog
from rules.domain import Lang

ACTOR = "system:bulletin"
OUT_DIR = "bulletins"
ARTIFACT_KEY = "bulletin"


def out_dir(settings: Settings) -> Path:
    return settings.home / OUT_DIR


def period_for(first: str | None, last: str | None, on: str | None,
               scheduled: datetime) -> Period:
    """The period asked for (both `first` and `last`), else the half-month before `on` or
    before the run's scheduled day (Beijing)."""
    if first or last:
        if not (first and last):
            raise InvalidInput("give both first and last (the period's days), or neither")
        return bulletin_mod.parse_period(first, last)
    if on:
        try:
            day = date.fromisoformat(on)
        except ValueError:
            raise InvalidInput(f"on {on[:40]!r}: expected a date YYYY-MM-DD") from None
    else:
        day = scheduled.astimezone(CENTRE_ZONE).date()
    return bulletin_mod.half_month_before(day)


def summary_markdown(result: Any, written: Any, lang: Lang) -> str:
    """The bulletin's counts for the Prefect UI, in the report's language."""
    t = Catalog.load(lang).t
    period = result.period
    lines = [f"# {t('bulletin.title')}", "",
             t("bulletin.period_value", first=period.first, last=period.last,
               days=period.days), "",
             *(f"- {t(f'bulletin.overview.{key}', count=count)}" for key, count in (
                 ("opened", result.opened.cases), ("closed", result.closed.cases),
                 ("serious", len(result.serious)), ("escalations", len(result.escalations)),
                 ("overdue", len(result.overdue)))),
             "", f"[{written.docx.name}]({written.docx.as_uri()})", "",
             f"`{result.data_hash}`"]
    return "\n".join(lines) + "\n"


@flow(name="bulletin", log_prints=False, persist_result=False)
def bulletin(first: str | None = None, last: str | None = None, on: str | None = None,
             overwrite: bool = False) -> dict:
    """Write the semi-monthly bulletin of the half-month before the scheduled day (or of
    `first`..`last`) and show its file in the Prefect UI."""
    settings = load_settings()
    lang: Lang = "en" if settings.lang == "en" else "zh"
    period = period_for(first, last, on, flow_run.scheduled_start_time or utcnow())
    found = bulletin_mod.bulletin(database(settings.database_url), period)
    try:
        written = bulletin_files.write(found, out_dir=out_dir(settings), lang=lang,
                                       generated_at=utcnow(), generated_by=ACTOR,
                                       overwrite=overwrite)
    except outputs.OutputExists as exc:
        raise WrongState(f"{exc}: not overwritten; run with overwrite=true to replace "
                         "it") from None
    create_link_artifact(link=written.docx.as_uri(), link_text=written.docx.name,
                         key=ARTIFACT_KEY, description=f"{found.identity} ({lang})")
    create_markdown_artifact(markdown=summary_markdown(found, written, lang),
                             key=f"{ARTIFACT_KEY}-summary",
                             description=f"{found.identity}: counts")
    get_run_logger().info("bulletin %s: %s (%s)", found.identity, written.docx,
                          "unchanged" if written.unchanged else "written")
    return {"bulletin": found.identity, "period": period.to_dict(), "lang": lang,
            "docx": str(written.docx), "manifest": str(written.manifest),
            "unchanged": written.unchanged, "data_hash": found.data_hash,
            "sha256": written.sha256}
