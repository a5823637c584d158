"""`riskgate demo`: the main job on the embedded default."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from cases.errors import InvalidInput
from flows.cli.common import (
    LiteralTable,
    console,
    prefect_ready,
    print_json,
    report_lang,
    say,
    settings,
)
from rules.domain import domain

if TYPE_CHECKING:  # flows.demo imports Prefect; only the demo itself needs it at run time
    from flows.demo import DemoRow


def demo(
    cases: Annotated[int, typer.Option(help="How many cases (the first five are the "
                                            "archetypes, more come from EU Safety Gate).")] = 5,
    lang: Annotated[str | None, typer.Option(help="Report language: zh (default) or en.")]
    = None,
    seed: Annotated[str, typer.Option(help="Seed of the simulated experts.")] = "riskgate",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Seed experts and signals, run every case through every gate, print the outcome."""
    if not 1 <= cases <= 50:
        raise InvalidInput(f"--cases {cases}: choose 1 to 50")
    current = settings()
    if lang:
        current = replace(current, lang=report_lang(lang, current))
    started = time.monotonic()
    stack = prefect_ready(current)
    say(f"Prefect UI: {stack.ui_url}")
    from flows.demo import run_demo
    from flows.demo_staff import demo_accounts

    people = demo_accounts(current)
    rows = run_demo(current, cases, seed=seed, progress=say)
    from flows.demo import portal_case
    from flows.stack import ensure_web

    ensure_web(current, say=say)
    invite = portal_case(current, seed=seed)
    total = time.monotonic() - started
    if as_json:
        print_json({"ui": stack.ui_url, "seconds": round(total, 2),
                    "cases": [row.__dict__ for row in rows],
                    "portal": {"case_id": invite.case_id, "expert_id": invite.expert_id,
                               "url": invite.url},
                    "console": {"url": f"{current.public_url}/login",
                                "accounts": {p.name: {"roles": p.roles,
                                                      "password": p.password}
                                             for p in people.values()}}})
        return
    console.print(outcome_table(rows, current.lang))
    late = sum(row.late_scores for row in rows)
    console.print(f"reports under {current.reports_dir}; {late} late expert score(s) refused "
                  f"after the quorum; total {total:.1f} s; Prefect UI {stack.ui_url}")
    console.print(f"\nCase {invite.case_id} waits for the last score of its panel. Score it "
                  f"as expert {invite.expert_id} in the portal:\n{invite.url}", markup=False,
                  soft_wrap=True)
    waiting = [row.case_id for row in rows if row.state == "awaiting_approval"]
    console.print(f"\nStaff console: {current.public_url}/login — sign in as (passwords are new "
                  "on every demo run):", soft_wrap=True)
    for account in people.values():
        console.print(f"  {account.name:<14} {account.password:<18} "
                      f"{', '.join(account.roles)}", soft_wrap=True)
    if waiting:
        console.print(f"Case {', '.join(waiting)} waits for approval of its disposal: sign in "
                      "as demo-approver to approve or override it; as demo-auditor to read "
                      "and verify the reports.", soft_wrap=True)


def outcome_table(rows: list[DemoRow], lang: str) -> LiteralTable:
    """The demo's closing table: one row per case, ids whole so they can be copied."""
    vocab = domain()
    table = LiteralTable(title=f"RiskGate demo — {len(rows)} cases")
    table.add_column("case", no_wrap=True)
    for header in ("channel", "state", "risk level", "measures", "gates passed", "reports",
                   "rounds", "seconds"):
        table.add_column(header)
    for row in rows:
        table.add_row(row.case_id, vocab.channels.name(row.channel, lang), row.state,
                      row.risk_level or "—", ", ".join(row.measures) or "—",
                      " → ".join(row.gates), str(row.reports), str(row.rounds or "—"),
                      f"{row.seconds:.1f}")
    return table
