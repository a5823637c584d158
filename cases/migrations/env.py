"""Alembic environment for the case store. RiskGate runs migrations itself (cases/schema.py),
handing Alembic an open connection in `config.attributes["connection"]`; developers create a
new revision with `alembic -c cases/migrations/alembic.ini revision -m "…"` and write its
upgrade by hand (see docs/engineering-notes.md, "Schema changes")."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from cases import models  # noqa: F401 - the models are the target of autogenerate

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `riskgate db upgrade` (cases/schema.py), which "
                       "passes the store's connection")
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=True, compare_type=True, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
