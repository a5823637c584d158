"""Shared CLI plumbing: settings, output, the Prefect stack."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Any

from rich.console import Console

from cases.config import Settings, load_settings
from cases.db import Database, database

# Piped or logged output has no terminal width; rich would fall back to 80 columns and cut case
# ids and rulebook tables into slivers. Wide enough for every table we print; COLUMNS still wins.
_PIPED_WIDTH = 200
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ
                  else _PIPED_WIDTH)
err_console = Console(stderr=True)


def settings() -> Settings:
    return load_settings()


def db(current: Settings | None = None) -> Database:
    return database((current or settings()).database_url)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def say(message: str) -> None:
    err_console.print(f"[dim]{message}[/dim]")


def current_user() -> str:
    """Who is acting, for the audit trail: the login name of the person at the terminal."""
    try:
        return f"staff:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry in some containers
        return "staff:unknown"


def prefect_ready(current: Settings):
    """Point Prefect at our stack and make sure the server and runner are up."""
    from flows.stack import apply_prefect_env, ensure_stack

    apply_prefect_env(current)
    return ensure_stack(current, say=say)
