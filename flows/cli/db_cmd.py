"""`riskgate db …`: the case store's schema (Alembic migrations, cases/schema.py)."""

from __future__ import annotations

import typer

from cases.db import Database
from flows.cli.common import console, print_json, settings

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade(as_json: bool = typer.Option(False, "--json")) -> None:
    """Bring the store to this RiskGate's schema (one transaction; a new store is created)."""
    from cases import schema

    store = Database(settings().database_url)
    try:
        done = schema.upgrade(store)
    finally:
        store.dispose()
    if as_json:
        print_json({"before": done.before, "after": done.after})
    elif done.before == done.after:
        console.print(f"the store is at revision {done.after} already")
    else:
        console.print(f"upgraded the store from revision {done.before or '(empty)'} to "
                      f"{done.after}")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """The store's schema revision and this RiskGate's."""
    from cases import schema

    store = Database(settings().database_url)
    try:
        found = schema.current_revision(store)
    finally:
        store.dispose()
    head = schema.head_revision()
    data = {"revision": found.revision, "legacy": found.legacy, "head": head,
            "current": found.revision == head}
    if as_json:
        print_json(data)
    else:
        console.print(f"store revision {found.revision or '(empty)'}"
                      f"{' (created before migrations)' if found.legacy else ''}; this "
                      f"RiskGate's is {head}")
