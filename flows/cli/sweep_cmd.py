"""`riskgate sweep`: run the sweeper once now (it also runs on a schedule)."""

from __future__ import annotations

import typer

from flows.cli.common import console, prefect_ready, print_json, settings


def sweep(as_json: bool = typer.Option(False, "--json")) -> None:
    """Start owed continuations, take up cases whose run died, retry waiting panels, remind
    and replace experts at their deadlines, send the mail outbox."""
    current = settings()
    prefect_ready(current)
    from flows.sweep import sweep_once

    done = sweep_once(current).to_dict()
    if as_json:
        print_json(done)
        return
    console.print(", ".join(f"{key.replace('_', ' ')}: "
                            f"{value if isinstance(value, int) else len(value)}"
                            for key, value in done.items()), markup=False)
