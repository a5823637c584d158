"""What every gate step shares: its context, its result, writing its report, committing it.

A step reads the case's dossier, asks `rules`/`experts`/`cases` for the decision, has `reports`
render the gate's report to a staging file of its own run, and commits everything through
`cases.commits` with the lifecycle event it reached. Failpoints `<gate>.before_commit` and
`<gate>.after_commit` let tests kill the process at exactly those points.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cases import failpoints, lifecycle
from cases.commits import (
    GateCommit,
    ReportFile,
    StagedFile,
    clear_staging,
    commit_gate,
)
from cases.config import Settings
from cases.db import Database
from cases.models import STAGING_DIR, data_path_of, utcnow
from cases.store import Dossier
from flows.pdf_archive import stage_copy
from reports.docx_package import write_atomically
from reports.render import render_report
from rules.domain import Lang
from rules.rulebook import Rulebook

SYSTEM_ACTOR = "riskgate"


@dataclass
class StepContext:
    settings: Settings
    db: Database
    case_id: str
    owner: str  # the lease
    flow_run_id: str | None = None


@dataclass(frozen=True)
class StepResult:
    gate: str
    completed: bool  # False: the gate is waiting (another round, lab results, staff)
    state: str
    next_gate: str
    summary: dict = field(default_factory=dict)  # short, for the Prefect artifact
    report: str | None = None


def lang_of(d: Dossier) -> Lang:
    return "en" if d.case.lang == "en" else "zh"


def rulebook_actor(rulebook: Rulebook) -> str:
    return f"{SYSTEM_ACTOR} (rulebook {rulebook.name} {rulebook.version})"


def _header(d: Dossier) -> dict:
    case = d.case
    return {"id": case.id, "title": case.title, "lang": case.lang,
            "channel": d.signals[0].channel, "category": case.category,
            "hazards": list(case.hazards), "opened_by": case.opened_by,
            "created_at": case.created_at, "priority": case.priority,
            "risk_level": case.risk_level}


def gate_context(d: Dossier, gate: str, round_no: int, actor: str, generated_at: datetime,
                 context: dict[str, Any]) -> dict[str, Any]:
    """What every gate report is rendered with: the case header, who and when, then the
    gate's own content."""
    return {"case": _header(d), "case_id": d.case.id, "gate": gate, "round": round_no,
            "generated_at": generated_at, "actor": actor, "launched_by": d.case.opened_by,
            **context}


def write_report(ctx: StepContext, d: Dossier, gate: str, round_no: int, actor: str,
                 **context: Any) -> ReportFile:
    """Render the gate's report into this run's staging file, with its PDF copy when
    RISKGATE_PDF_ARCHIVE wants one (a failed conversion leaves the report without); the commit
    puts them in place."""
    name = f"{lifecycle.gate_number(gate):02d}-{gate}" + (f"-r{round_no}" if round_no > 1 else "")
    relative = f"reports/{d.case.id}/{name}.docx"
    clear_staging(ctx.settings.home, d.case.id, name)
    staged = (ctx.settings.home / "reports" / d.case.id / STAGING_DIR
              / f"{name}.{uuid.uuid4().hex[:12]}.docx")
    staged.parent.mkdir(parents=True, exist_ok=True)
    rendered = render_report(gate, gate_context(d, gate, round_no, actor, utcnow(), context),
                             lang=d.case.lang, out_path=staged)
    data = staged.with_suffix(".json")
    write_atomically(data, rendered.data)
    copy = stage_copy(ctx.settings, staged, relative)
    return ReportFile(path=relative, staged=staged, sha256=rendered.sha256, size=rendered.size,
                      template_version=rendered.template_version, lang=d.case.lang,
                      pdf=copy.pdf, pdf_error=copy.error,
                      data=StagedFile(path=data_path_of(relative), staged=data,
                                      sha256=rendered.data_hash, size=len(rendered.data)))


def commit(ctx: StepContext, d: Dossier, gate_commit: GateCommit,
           summary: dict | None = None) -> StepResult:
    """Commit the gate's work; the result says where the lifecycle took the case."""
    gate_commit.flow_run_id = ctx.flow_run_id
    gate = d.case.gate
    failpoints.hit(f"{gate}.before_commit")
    try:
        step = commit_gate(ctx.db, ctx.settings, gate_commit)
    except BaseException:
        for report in (*gate_commit.amendments,
                       *([gate_commit.report] if gate_commit.report else [])):
            for staged in report.staged_files():
                staged.unlink(missing_ok=True)
        raise
    failpoints.hit(f"{gate}.after_commit")
    next_gate, state = step.target
    return StepResult(gate, step.completes, state, next_gate,
                      gate_commit.outcome if summary is None else summary,
                      gate_commit.report.path if gate_commit.report else None)
