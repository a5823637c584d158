"""Accounts of the people who run the centre and check it: names, roles, Argon2 passwords, and
sign-in with failures rate-limited.

Every action an account takes is recorded in the audit log as `user:<name>`: the name of the
signed-in person (the web app) or of the account the CLI acts as (`--as NAME`), never a name
someone typed for the occasion. Roles are read from the store on every request, so a role
removed or an account disabled takes effect at once (and its sessions end).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlmodel import col, func, select

from cases import audit, sessions
from cases.db import Database
from cases.errors import InvalidInput, NotFound, RiskGateError
from cases.models import utcnow
from cases.models_oversight import Account, SignInAttempt
from cases.roles import ROLES, Action, allows
from cases.text import plain_text

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ACTOR_PREFIX = "user:"
SYSTEM_NAME = "riskgate"
MAX_NAME = 64
NAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,63}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 256
MAX_DISPLAY_NAME = 100
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
# Failed sign-ins: this many in the window, by name or by address, lock out until it passes.
FAILURES_BY_NAME, FAILURES_BY_ADDRESS = 5, 20
FAILURE_WINDOW = timedelta(minutes=15)
KEEP_ATTEMPTS = timedelta(days=1)


class Refused(RiskGateError):
    """The account may not do this (a missing role, four-eyes): exit 8 in the CLI, 403 (a role)
    or 409 (four-eyes) on the web."""

    exit_code = 8


class TooManyAttempts(RiskGateError):
    exit_code = 2

    def __init__(self, minutes: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {minutes} minutes")
        self.minutes = minutes


@dataclass(frozen=True)
class Person:
    """A signed-in account as the app sees it."""

    name: str
    roles: frozenset[str]
    display_name: str = ""
    email: str = ""

    @property
    def actor(self) -> str:
        return actor_of(self.name)

    def may(self, action: Action) -> bool:
        return allows(self.roles, action)


def actor_of(name: str) -> str:
    return f"{ACTOR_PREFIX}{name}"


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id with the library's recommended parameters


@cache
def _decoy_hash() -> str:
    """Verified against when the name is unknown, so a sign-in takes as long either way."""
    return _hasher().hash("riskgate decoy password")


def check_name(name: str) -> str:
    if len(name) > MAX_NAME:
        raise InvalidInput(f"account name: {len(name)} characters; at most {MAX_NAME}")
    if not NAME.match(name):
        raise InvalidInput(f"account name {name[:40]!r}: use lower-case letters, digits and "
                           ". _ - @ + (starting with a letter or digit)")
    if name.startswith(SYSTEM_NAME):
        raise InvalidInput(f"account name {name[:40]!r}: names starting with {SYSTEM_NAME!r} "
                           "are the system's own")
    return name


def check_roles(roles: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(r.strip() for r in roles if r.strip()))
    if not chosen:
        raise InvalidInput(f"give at least one role ({', '.join(ROLES)})")
    unknown = [r for r in chosen if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role {unknown[0][:20]!r}; roles are {', '.join(ROLES)}")
    return [r for r in ROLES if r in chosen]  # in the table's order


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise InvalidInput("password: no control characters or line breaks")
    return password


def check_display_name(text: str) -> str:
    text = plain_text(" ".join(text.split()), field="display_name", lines=False)
    if len(text) > MAX_DISPLAY_NAME:
        raise InvalidInput(f"name: {len(text)} characters; at most {MAX_DISPLAY_NAME}")
    return text


def check_email(email: str) -> str:
    email = email.strip()
    if email and not EMAIL.match(email):
        raise InvalidInput(f"e-mail {email[:60]!r} is not an address")
    return email


def _person(row: Account) -> Person:
    return Person(row.name, frozenset(row.roles), row.display_name, row.email)


def add(db: Database, name: str, roles: Iterable[str], *, by: str, password: str | None = None,
        email: str = "", display_name: str = "") -> Person:
    """A new account; InvalidInput if the name is taken or anything is malformed."""
    name, chosen, email = check_name(name), check_roles(roles), check_email(email)
    display_name = check_display_name(display_name)
    hashed = _hasher().hash(check_password(password)) if password is not None else ""
    now = utcnow()
    with db.session() as session:
        db.lock_key(session, f"riskgate:account:{name}")
        if session.get(Account, name) is not None:
            raise InvalidInput(f"account {name} exists already (`riskgate users roles` changes "
                               "its roles)")
        row = Account(name=name, display_name=display_name, email=email,
                      roles=chosen, password_hash=hashed, active=True, created_by=by,
                      created_at=now, updated_at=now)
        session.add(row)
        audit.append(db, session, actor=by, action="account.added", rows=[row],
                     detail={"account": name, "roles": chosen})
        return _person(row)


def update(db: Database, name: str, *, by: str, roles: Iterable[str] | None = None,
           password: str | None = None, email: str | None = None,
           active: bool | None = None) -> Person:
    """Change an account's roles, password, e-mail or whether it may act. Disabling it (or
    changing its password) ends its open sessions."""
    new_roles = check_roles(roles) if roles is not None else None
    hashed = _hasher().hash(check_password(password)) if password is not None else None
    email = check_email(email) if email is not None else None
    with db.session() as session:
        row = session.get(Account, name)
        if row is None:
            raise NotFound(f"no account {name}")
        was_admin = row.active and "admin" in row.roles
        changed: dict[str, object] = {}
        if new_roles is not None and new_roles != row.roles:
            row.roles, changed["roles"] = new_roles, new_roles
        if hashed is not None:
            row.password_hash, changed["password"] = hashed, "changed"
        if email is not None and email != row.email:
            row.email, changed["email"] = email, "changed"
        if active is not None and active != row.active:
            row.active, changed["active"] = active, active
        if not changed:
            return _person(row)
        if was_admin and not _admins_left(session):
            raise InvalidInput(f"account {name} is the last active admin: give another account "
                               "the admin role first (nobody could manage accounts otherwise)",
                               code="last_admin")
        row.updated_at = utcnow()
        session.add(row)
        audit.append(db, session, actor=by, action="account.changed", rows=[row],
                     detail={"account": name, **changed})
        person = _person(row)
    if "password" in changed or changed.get("active") is False:
        sessions.end_all(db, kind="account", subject=name)
    return person


def _admins_left(session: Any) -> bool:
    """Whether an active admin remains (in the caller's transaction, with its changes)."""
    session.flush()
    return any("admin" in a.roles for a in session.exec(select(Account).where(
        col(Account.active).is_(True))).all())


def listing(db: Database) -> list[Account]:
    with db.read_session() as session:
        return list(session.exec(select(Account).order_by(col(Account.name))).all())


def find(db: Database, name: str) -> Person | None:
    """The account if it exists and may act."""
    with db.read_session() as session:
        row = session.get(Account, name)
    return _person(row) if row is not None and row.active else None


def acting(db: Database, name: str | None, action: Action, *, source: str = "--as") -> Person:
    """The account the CLI acts as, if it may do `action`: the same check as the web app's."""
    if not name:
        raise InvalidInput(f"name the account you act as: {source} NAME (or RISKGATE_USER); "
                           "`riskgate users add` creates one")
    try:
        check_name(name)
    except InvalidInput as bad:
        raise InvalidInput(f"{source}: {bad}") from None
    person = find(db, name)
    if person is None:
        raise NotFound(f"{source} {name[:40]}: no such active account")
    require(person, action)
    return person


def require(person: Person, action: Action) -> None:
    if not person.may(action):
        from cases.roles import ACTIONS

        needed = " or ".join(sorted(ACTIONS[action]))
        raise Refused(f"account {person.name} may not {action.value}: it needs the role "
                      f"{needed} (it has {', '.join(sorted(person.roles)) or 'none'})")


def _recent_failures(db: Database, name: str, remote: str, now: datetime) -> tuple[int, int]:
    since = now - FAILURE_WINDOW
    with db.read_session() as session:
        def count(where: Any) -> int:
            return session.exec(select(func.count()).select_from(SignInAttempt).where(
                col(SignInAttempt.ok).is_(False), SignInAttempt.at >= since, where)).one()

        by_name = count(SignInAttempt.username == name)
        by_address = count(SignInAttempt.remote == remote) if remote else 0
    return by_name, by_address


def sign_in(db: Database, name: str, password: str, *, remote: str = "",
            now: datetime | None = None) -> Person | None:
    """The person if the name and password are right; None if not. TooManyAttempts once a
    name or an address has failed too often lately — then even the right password waits."""
    moment = now or utcnow()
    name = name.strip()[:MAX_NAME]
    remote = remote[:64]
    by_name, by_address = _recent_failures(db, name, remote, moment)
    if by_name >= FAILURES_BY_NAME or by_address >= FAILURES_BY_ADDRESS:
        raise TooManyAttempts(int(FAILURE_WINDOW.total_seconds() // 60))
    with db.read_session() as session:
        row = session.get(Account, name) if NAME.match(name) else None
    from argon2.exceptions import InvalidHashError, VerificationError

    stored = row.password_hash if row is not None and row.password_hash else _decoy_hash()
    try:
        ok = _hasher().verify(stored, password[:MAX_PASSWORD]) and row is not None \
            and bool(row.password_hash) and row.active
    except (VerificationError, InvalidHashError):
        ok = False
    with db.session() as session:
        session.add(SignInAttempt(username=name, remote=remote, ok=ok, at=moment))
        # only the window matters: older attempts are dropped, so the table stays small
        session.exec(delete(SignInAttempt).where(
            col(SignInAttempt.at) < moment - KEEP_ATTEMPTS))
    return _person(row) if ok and row is not None else None
