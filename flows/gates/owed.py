"""Reports a bulk triage owes (cases/bulk_commit.py): rendered by the case's first flow run,
before its next gate, from the records the gates left — the same content the gates' own steps
would have rendered then, with the rulebook read back from its stored text."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlmodel import select

from cases.commits import record_owed_report
from cases.models import GateRecord, RulebookSnapshot
from cases.store import Dossier
from flows.gates import intake, triage
from flows.gates.common import StepContext, write_report
from rules.rulebook import parse_rulebook

OWED_GATES = ("intake", "triage")


def render_owed(ctx: StepContext, d: Dossier) -> list[str]:
    """Render and record every owed report of the case; returns their paths."""
    have = {(r.gate, r.round) for r in d.reports}
    placed = []
    for record in sorted(d.gates, key=lambda g: g.id or 0):
        if record.gate not in OWED_GATES or (record.gate, record.round) in have:
            continue
        if record.gate == "intake":  # the signals it was taken in with, not later ones
            context = intake.report_context(ctx.db, _as_of(d, record.completed_at))
        else:
            context = _triage_context(ctx, d, record)
        report = write_report(ctx, d, record.gate, record.round, record.actor, **context)
        report = dataclasses.replace(report, gate=record.gate, round=record.round)
        if record_owed_report(ctx.db, ctx.settings, d.case.id, ctx.owner, report,
                              record.actor):
            placed.append(report.path)
    return placed


def _as_of(d: Dossier, moment: datetime) -> Dossier:
    kept = [n for n, row in enumerate(d.signal_rows) if row.imported_at <= moment]
    return dataclasses.replace(d, signals=[d.signals[n] for n in kept],
                               signal_rows=[d.signal_rows[n] for n in kept])


def _triage_context(ctx: StepContext, d: Dossier, record: GateRecord) -> dict:
    decision = next(x for x in d.decisions
                    if x.gate == "triage" and x.round == record.round)
    with ctx.db.read_session() as session:
        snapshot = session.exec(select(RulebookSnapshot).where(
            RulebookSnapshot.sha256 == decision.rulebook_sha256)).one()
    rulebook = parse_rulebook(snapshot.text, source=f"rulebook {snapshot.sha256[:12]}")
    evidence = record.outcome.get("credit_file")
    recorded = {"kind": "triage", **decision.outcome, "fired": decision.fired,
                "trail": decision.trail, "facts": decision.facts, "rulebook": rulebook.ref(),
                "engine": decision.engine}
    return triage.report_context(rulebook, recorded, evidence)
