"""`riskgate audit verify`: prove nothing in the trail or the reports was removed or changed."""

from __future__ import annotations

import typer

from cases.audit import verify as verify_trail
from cases.errors import RiskGateError
from flows.cli.common import console, db, print_json, settings

app = typer.Typer(no_args_is_help=True)


class AuditFailed(RiskGateError):
    exit_code = 7


@app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Recompute the hash chain and each report's SHA-256 against the manifest."""
    current = settings()
    result = verify_trail(db(current), current.home)
    if as_json:
        print_json({"ok": result.ok, "events": result.events, "reports": result.reports,
                    "problems": result.problems})
    else:
        console.print(f"{result.events} audit events, {result.reports} reports checked")
        for problem in result.problems:
            console.print(f"[red]✗ {problem}[/red]")
    if not result.ok:
        raise AuditFailed(f"{len(result.problems)} problem(s): {result.problems[0]}")
    if not as_json:
        console.print("[green]✓ chain intact, every report matches its manifest entry[/green]")
