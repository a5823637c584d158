"""The case store's schema, evolved by Alembic migrations (cases/migrations/versions/).

* A new, empty store is created at the head revision the first time a process opens it.
* A store at an older revision — including one created by `create_all` before migrations, which
  is at the baseline `0001` without knowing it — is refused with one line that names the
  command to run, `riskgate db upgrade`, so no code ever reads tables it does not expect.
* `upgrade()` runs the pending migrations in one transaction, holding the store's lock, so two
  processes never migrate at once and a failed migration leaves the store as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from cases.db import Database, StoreUnavailable
from cases.errors import WrongState

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
UPGRADE_COMMAND = "riskgate db upgrade"


if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

_REVISION = re.compile(r'^revision = "(?P<rev>[^"]+)"$', re.MULTILINE)
_DOWN = re.compile(r'^down_revision = (?:"(?P<rev>[^"]+)"|None)$', re.MULTILINE)


class StoreOutdated(WrongState):
    """The store's schema is not the one this code runs on."""


@cache
def head_from_files() -> str:
    """The head revision read from the migration files' `revision` / `down_revision` lines:
    the fast path of every process's schema check, which need not import Alembic (0.4 s) when
    the store is current. The full check (`head_revision`) is Alembic's own; a test keeps the
    two equal."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        text = path.read_text(encoding="utf-8")
        found, down = _REVISION.search(text), _DOWN.search(text)
        if found:
            revisions.add(found["rev"])
        if down and down["rev"]:
            parents.add(down["rev"])
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _stamped_revision(connection: sa.Connection) -> str | None:
    """alembic_version's row, read with plain SQL (None if the table is not there)."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    row = connection.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


@cache
def _script() -> ScriptDirectory:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every revision, oldest first."""
    return [r.revision for r in reversed(list(_script().walk_revisions()))]


@dataclass(frozen=True)
class Revision:
    revision: str | None  # None: an empty store
    legacy: bool = False  # tables from before migrations, no alembic_version


def _revision_of(connection: sa.Connection) -> Revision:
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    if current is not None:
        return Revision(current)
    tables = set(sa.inspect(connection).get_table_names())
    if "case" in tables:
        return Revision(BASELINE, legacy=True)
    return Revision(None)


@contextmanager
def _migration_connection(db: Database) -> Iterator[sa.Connection]:
    """A connection in a transaction that holds the store's schema lock. On SQLite, foreign
    keys are off for its duration (a table rebuild in batch mode drops and renames tables) and
    checked before the commit."""
    try:
        connection = db.engine.connect()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnavailable(f"cannot open the case store {db.shown_url}: {reason}") from None
    try:
        sqlite = db.dialect == "sqlite"
        driver = connection.connection.driver_connection
        if sqlite and driver is not None:  # must be set outside a transaction to take effect
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if not sqlite:
                    connection.execute(sa.text(
                        "SELECT pg_advisory_xact_lock(hashtextextended('riskgate:schema', 0))"))
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left broken foreign keys: {broken[:3]}")
        finally:
            if sqlite and driver is not None:
                driver.execute("PRAGMA foreign_keys=ON")
    finally:
        connection.close()


def _run_upgrade(connection: sa.Connection, legacy: bool, to: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    if legacy:
        command.stamp(config, BASELINE)
    command.upgrade(config, to)


def current_revision(db: Database) -> Revision:
    with db.engine.connect() as connection:
        return _revision_of(connection)


def ensure_current(db: Database) -> None:
    """Create an empty store at head; refuse one at another revision."""
    try:
        with db.engine.connect() as connection:
            if _stamped_revision(connection) == head_from_files():
                return  # the usual case, without importing Alembic
            found = _revision_of(connection)
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnavailable(f"cannot open the case store {db.shown_url}: {reason}") from None
    head = head_revision()
    if found.revision == head:
        return
    if found.revision is None:
        with _migration_connection(db) as connection:
            again = _revision_of(connection)  # another process may have created it meanwhile
            if again.revision is None:
                _run_upgrade(connection, legacy=False)
                return
            found = again
        if found.revision == head:
            return
    _refuse(db, found, head)


def _refuse(db: Database, found: Revision, head: str) -> None:
    if found.revision not in known_revisions():
        raise StoreOutdated(f"the case store {db.shown_url} is at schema revision "
                            f"{found.revision}, which this RiskGate does not know (its newest is "
                            f"{head}): use the RiskGate that wrote it, or a newer one")
    what = " (created before migrations)" if found.legacy else ""
    raise StoreOutdated(f"the case store {db.shown_url} is at schema revision "
                        f"{found.revision}{what}; this RiskGate needs {head}: run "
                        f"`{UPGRADE_COMMAND}`")


@dataclass(frozen=True)
class Upgraded:
    before: str | None
    after: str


def upgrade(db: Database, to: str | None = None) -> Upgraded:
    """Run every pending migration (up to `to`, default the head) in one transaction; a new
    store is created."""
    target = to or head_revision()
    with _migration_connection(db) as connection:
        found = _revision_of(connection)
        if found.revision not in (None, *known_revisions()):
            _refuse(db, found, head_revision())
        if found.revision != target:
            _run_upgrade(connection, legacy=found.legacy, to=target)
    return Upgraded(before=found.revision, after=target)
