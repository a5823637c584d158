"""Database engines for the case store: SQLite by default, PostgreSQL at scale.

Several processes share the store (the CLI, the Prefect runner's flow runs, later the web
portal). Transactions that read and then write (counting scores, claiming a transition, chaining
the audit log) must not interleave:

* SQLite runs in WAL mode and starts every transaction with `BEGIN IMMEDIATE`, which takes the
  write lock up front (a deferred transaction that reads and then writes fails with
  SQLITE_BUSY_SNAPSHOT instead of waiting). `busy_timeout` makes other processes wait their
  turn; threads of one process (the portal's) queue on a lock first, because SQLite's busy
  handler waits by sleeping up to 100 ms at a time, which under load becomes the latency.
* PostgreSQL runs at READ COMMITTED; writers that need exclusion lock the case row
  (`SELECT … FOR UPDATE`) or a named advisory transaction lock (`lock_key`: the audit chain,
  a product being grouped, a rulebook's first use, the roster's workloads).

Readers that need one consistent view and must not block writers (`audit verify`) use
`read_session()`: a deferred read transaction on SQLite (WAL gives it a snapshot), REPEATABLE
READ READ ONLY on PostgreSQL. The schema is Alembic's (cases/schema.py): a new store is created
at the head revision, an older one is refused until `riskgate db upgrade`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from cases import models, models_intake, models_oversight  # noqa: F401 - register the tables on the metadata
from cases.errors import InvalidInput, RiskGateError

SQLITE_BUSY_TIMEOUT_MS = 30_000


class StoreUnavailable(RiskGateError):
    exit_code = 5


class Database:
    """One engine per URL per process; `session()` is a unit of work (commit or roll back)."""

    def __init__(self, url: str):
        try:
            parsed = make_url(url)
            port = parsed.port  # a non-numeric port raises here
        except (sa.exc.ArgumentError, ValueError):
            raise InvalidInput(f"RISKGATE_DATABASE_URL={_hidden(url)!r} is not a database URL "
                               "(sqlite:///PATH or postgresql://USER@HOST:PORT/DB)") from None
        if port is not None and not 0 < port < 65536:
            raise InvalidInput(f"RISKGATE_DATABASE_URL: port {port} is not a port number")
        self.url = url
        self.dialect = parsed.get_backend_name()
        self._write_lock: threading.Lock | None = None
        self._turn_holder = threading.local()
        if self.dialect == "sqlite":
            self._write_lock = threading.Lock()
            self.engine = self._sqlite_engine(parsed, "BEGIN IMMEDIATE")
            self.read_engine = self._sqlite_engine(parsed, "BEGIN")
        elif self.dialect == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            try:
                self.engine = sa.create_engine(parsed, pool_pre_ping=True)
            except (ModuleNotFoundError, sa.exc.NoSuchModuleError) as exc:
                raise InvalidInput(f"RISKGATE_DATABASE_URL: the PostgreSQL driver for "
                                   f"{parsed.drivername} is not installed ({exc}); install it "
                                   "with `pip install -e '.[postgres]'` (psycopg)") from None
            self.read_engine = self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            raise InvalidInput(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    @staticmethod
    def _sqlite_engine(parsed: sa.URL, begin: str) -> sa.Engine:
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create {folder} for the case store: "
                                       f"{exc.strerror}") from None
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: sa.Connection) -> None:
            connection.exec_driver_sql(begin)

        return engine

    @property
    def shown_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed if the block completes, rolled back if it raises."""
        with self._write_turn(), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        """On SQLite, this process's writers one at a time, as long as SQLite's busy timeout
        would let them wait. A second write transaction in the thread that holds one could
        never start (SQLite's lock is the outer one's): it is refused at once."""
        lock = self._write_lock
        if lock is None:
            yield
            return
        if getattr(self._turn_holder, "held", False):
            raise RuntimeError("a write transaction was opened inside another in the same "
                               "thread; SQLite would wait for itself")
        if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise StoreUnavailable("the case store stayed busy for "
                                   f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s; try again")
        self._turn_holder.held = True
        try:
            yield
        finally:
            self._turn_holder.held = False
            lock.release()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction with one consistent view that does not block writers."""
        with Session(self.read_engine, expire_on_commit=False) as session:
            yield session  # closing ends the transaction and keeps the loaded rows readable

    def lock_case(self, session: Session, case_id: str) -> None:
        """Serialise writers of one case (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
        if self.dialect == "postgresql":
            session.connection().execute(
                sa.text('SELECT id FROM "case" WHERE id = :id FOR UPDATE'), {"id": case_id})

    def lock_key(self, session: Session, name: str) -> None:
        """Serialise the transactions that take the same named lock until they end
        (PostgreSQL advisory lock; on SQLite every writer already holds the write lock)."""
        if self.dialect == "postgresql":
            session.connection().execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                {"name": name})

    def lock_audit_chain(self, session: Session) -> None:
        self.lock_key(session, "riskgate:audit-chain")

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def _hidden(url: str) -> str:
    """A URL as it may be shown: without its password."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in credentials else url


_databases: dict[str, Database] = {}


def database(url: str) -> Database:
    """The process's Database for a URL. A new, empty store is created at the schema's head
    revision; a store at an older revision is refused (StoreOutdated) until upgraded."""
    db = _databases.get(url)
    if db is None:
        from cases import schema

        db = Database(url)
        schema.ensure_current(db)
        _databases[url] = db
    return db
