"""`riskgate users …`: the accounts of staff, approvers, auditors and admins.

These are the data directory owner's commands (the first admin is made here); each is audited
as `local:<operating-system account>`. Passwords are read from stdin with `--password-stdin`
(one line), or asked for twice at a terminal; never from an option, which would stay in the
shell's history and the process list.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cases import accounts
from cases.errors import InvalidInput
from cases.roles import ROLES
from flows.cli.common import LiteralTable, console, db, local_actor, print_json, settings

app = typer.Typer(no_args_is_help=True)
RolesOption = Annotated[list[str] | None, typer.Option(
    "--role", help=f"A role ({', '.join(ROLES)}); repeat for several.")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from stdin (one line).")]


def _password(from_stdin: bool, *, required: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline(accounts.MAX_PASSWORD + 2)
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        if required:
            raise InvalidInput("no terminal to ask for the password: give it on stdin with "
                               "--password-stdin (or --no-password for an account that signs "
                               "in only through the CLI's --as)")
        return None
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        raise InvalidInput("the two passwords differ; nothing was stored")
    return str(first)


@app.command("add")
def users_add(
    name: str,
    role: RolesOption = None,
    email: Annotated[str, typer.Option(help="Where escalations are mailed (approvers).")] = "",
    display_name: Annotated[str, typer.Option("--name", help="The person's name.")] = "",
    password_stdin: PasswordStdin = False,
    no_password: Annotated[bool, typer.Option(
        "--no-password", help="No web sign-in; the account acts only through --as.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add an account with one or more roles."""
    current = settings()
    password = None if no_password else _password(password_stdin, required=True)
    person = accounts.add(db(current), name, role or [], by=local_actor(), password=password,
                          email=email, display_name=display_name)
    if as_json:
        print_json({"name": person.name, "roles": sorted(person.roles)})
        return
    console.print(f"account {person.name} added: {', '.join(sorted(person.roles))}")


@app.command("set")
def users_set(
    name: str,
    role: RolesOption = None,
    email: Annotated[str | None, typer.Option(help="A new e-mail address.")] = None,
    password_stdin: PasswordStdin = False,
    password: Annotated[bool, typer.Option("--password", help="Ask for a new password.")]
    = False,
    active: Annotated[bool | None, typer.Option("--enable/--disable",
                                                help="Let the account act, or stop it.")]
    = None,
) -> None:
    """Change an account's roles, e-mail, password, or whether it may act (disabling it or
    changing its password ends its open sessions)."""
    current = settings()
    new_password = _password(password_stdin, required=True) \
        if password or password_stdin else None
    person = accounts.update(db(current), name, by=local_actor(), roles=role or None,
                             password=new_password, email=email, active=active)
    console.print(f"account {person.name}: {', '.join(sorted(person.roles))}"
                  + ("" if accounts.find(db(current), name) else " (disabled)"))


@app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every account, its roles and whether it may act."""
    rows = [{"name": a.name, "display_name": a.display_name, "roles": list(a.roles),
             "email": a.email, "active": a.active, "web_sign_in": bool(a.password_hash)}
            for a in accounts.listing(db())]
    if as_json:
        print_json(rows)
        return
    table = LiteralTable("name", "roles", "e-mail", "web sign-in", "active")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["roles"]), r["email"] or "—",
                      "yes" if r["web_sign_in"] else "no", "yes" if r["active"] else "no")
    console.print(table)
