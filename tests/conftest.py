"""Shared fixtures. Store tests run on SQLite and, when RISKGATE_TEST_POSTGRES_URL is set (CI sets
it), on a fresh PostgreSQL schema per test. Under CI=true a missing PostgreSQL URL is an error,
not a skip, so CI can never pass without having exercised PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

# Before anything imports prefect: no telemetry, quiet logs, never a developer's own server.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)
for name in ("RISKGATE_HOME", "RISKGATE_DATABASE_URL", "RISKGATE_LANG", "RISKGATE_PREFECT_PORT",
             "RISKGATE_FAILPOINTS"):
    os.environ.pop(name, None)
# LibreOffice takes about a second per report: no PDF copies unless a test asks for them
# (tests/flows/test_pdf_archive.py); processes the tests start inherit this.
os.environ["RISKGATE_PDF_ARCHIVE"] = "off"

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from cases import db as db_module  # noqa: E402
from cases.config import Settings, load_settings  # noqa: E402
from cases.db import Database, database  # noqa: E402

POSTGRES_ENV = "RISKGATE_TEST_POSTGRES_URL"
REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "docs" / "samples"


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url and os.environ.get("CI") == "true":
        raise RuntimeError(f"CI=true but {POSTGRES_ENV} is not set: .ci/run must set it")
    return url


def backends() -> list:
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _prefect_environment_restored():
    """Commands run in-process point Prefect at their stack through os.environ
    (flows.stack.apply_prefect_env); no test may leave that to the next."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}
    yield
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        if key not in saved:
            del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(params=backends())
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a new PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'riskgate.db'}"
        return
    base = _postgres_url()
    if not base:
        pytest.skip(f"{POSTGRES_ENV} not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    yield url
    cached = db_module._databases.pop(url, None)  # close its connections before dropping
    if cached is not None:
        cached.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path, database_url, monkeypatch) -> Settings:
    """RISKGATE_* pointing at a temporary home and the test's store."""
    monkeypatch.setenv("RISKGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKGATE_DATABASE_URL", database_url)
    return load_settings()


@pytest.fixture
def db(settings) -> Database:
    return database(settings.database_url)


@pytest.fixture
def roster(settings) -> None:
    from flows.demo import seed_roster

    seed_roster(settings)


CLI_USER = "tester"


@pytest.fixture
def cli_user(db, monkeypatch) -> str:
    """The account in-process CLI commands act as (RISKGATE_USER): staff, approver and admin,
    without a password (the CLI's --as needs none)."""
    from cases import accounts

    accounts.add(db, CLI_USER, ["staff", "approver", "admin"], by="local:test", password=None)
    monkeypatch.setenv("RISKGATE_USER", CLI_USER)
    return CLI_USER
