"""Shared CLI plumbing: settings, output, the Prefect stack."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cases import accounts
from cases.config import Settings, load_settings, make_private
from cases.db import Database, database
from cases.errors import InvalidInput
from cases.roles import Action
from cases.text import neutralise
from rules.domain import LANGS, Lang


class LiteralConsole(Console):
    """A console that prints user data as literal text: no markup, emoji or highlighting is
    read into it (a title holding `[/bold]` used to crash `case list` for everyone), and
    control characters (ANSI and OSC-8 escapes, bidi overrides) are shown, not obeyed. Style
    comes from `style=`, never from text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def print(self, *objects: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().print(*(neutralise(o, keep_newlines=True) if isinstance(o, str) else o
                        for o in objects), **kwargs)


class LiteralTable(Table):
    """A table whose cells are shown literally (see LiteralConsole)."""

    def add_row(self, *cells: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().add_row(*(neutralise(c) if isinstance(c, str) else c for c in cells),
                        **kwargs)


# Piped or logged output has no terminal width; rich would fall back to 80 columns and cut case
# ids and rulebook tables into slivers. Wide enough for every table we print; COLUMNS still wins.
_PIPED_WIDTH = 200
console = LiteralConsole(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ
                         else _PIPED_WIDTH)
err_console = LiteralConsole(stderr=True)


def settings() -> Settings:
    current = load_settings()
    make_private(current)
    return current


def db(current: Settings | None = None) -> Database:
    return database((current or settings()).database_url)


def print_json(data: Any) -> None:
    """JSON for tools: JSON escapes C0 controls itself; C1 and bidi controls are escaped too,
    so the output is safe on a terminal as well."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(neutralise(text, json_escapes=True) + "\n")


def report_lang(lang: str | None, current: Settings) -> Lang:
    """The language of the reports a command writes: --lang, else RISKGATE_LANG's."""
    chosen = lang or current.lang
    if chosen not in LANGS:
        raise InvalidInput(f"--lang {chosen!r}: expected zh or en")
    return chosen  # type: ignore[return-value]


def say(message: str) -> None:
    err_console.print(message, style="dim")


# Every command that changes a case or the roster acts as a named account: `--as NAME`, or
# RISKGATE_USER. The account's roles are checked exactly as the web app checks them.
AsUser = Annotated[str | None, typer.Option(
    "--as", envvar="RISKGATE_USER", show_envvar=False,
    help="The account you act as (or RISKGATE_USER); its roles are checked.")]


def acting(name: str | None, action: Action, current: Settings | None = None
           ) -> accounts.Person:
    """The account named with --as, if it may do `action` (cases/roles.py)."""
    return accounts.acting(db(current), name, action)


def local_actor() -> str:
    """Who runs an administrative command (`riskgate users …`): the operating-system account
    that owns the process, as the system reports it — not a name from the environment."""
    import pwd

    try:
        return f"local:{pwd.getpwuid(os.getuid()).pw_name}"
    except KeyError:  # no passwd entry in some containers
        return f"local:uid{os.getuid()}"


def prefect_ready(current: Settings):
    """Point Prefect at our stack and make sure the server and runner are up."""
    from flows.stack import apply_prefect_env, ensure_stack

    apply_prefect_env(current)
    return ensure_stack(current, say=say)
