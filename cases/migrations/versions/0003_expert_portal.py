"""The expert portal: personal links, browser sessions, the mail outbox, injury scenarios,
deadlines and reserves, scores per scenario with dissent, a richer roster, and the
`awaiting_panel` state.

* expertlink, websession, mailmessage, injuryscenario: new tables.
* expert: group, region, lab_methods, max_open_seats, unavailable, employment.
* panelseat: active, left_reason, left_at, called_at, deadline_at, reminded_round.
* scoringround: deadline_at (open rounds get one from their protocol's days, from now).
* score: scenarios (the one scenario scored so far, from its severity and band), dissent.
* case: the state constraint admits `awaiting_panel` (cases/lifecycle.py as of this revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATES = ("active", "awaiting_lab", "awaiting_scores", "awaiting_information",
          "awaiting_panel", "awaiting_staff", "closed")
DEFAULT_ROUND_DAYS = 7


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    bind = op.get_bind()
    when = sa.DateTime(timezone=True)
    op.create_table(
        "injuryscenario",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("population", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "number", name="uq_scenario"))
    op.create_index("ix_injuryscenario_case_id", "injuryscenario", ["case_id"])
    op.create_table(
        "expertlink",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("expert_id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.Column("revoked_at", when, nullable=True),
        sa.Column("opened_at", when, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_expertlink_expert_id", "expertlink", ["expert_id"])
    op.create_table(
        "websession",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.Column("revoked_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_websession_subject", "websession", ["subject"])
    op.create_table(
        "mailmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("to_addr", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=True),
        sa.Column("expert_id", sa.String(), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("sent_at", when, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["expert_id"], ["expert.id"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_mailmessage_case_id", "mailmessage", ["case_id"])

    with op.batch_alter_table("expert") as batch:
        for name in ("group", "region"):
            batch.add_column(sa.Column(name, sa.String(), nullable=False, server_default=""))
        for name in ("lab_methods", "unavailable", "employment"):
            batch.add_column(sa.Column(name, sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("max_open_seats", sa.Integer(), nullable=True))
    with op.batch_alter_table("expert") as batch:
        for name in ("group", "region", "lab_methods", "unavailable", "employment"):
            batch.alter_column(name, server_default=None)

    with op.batch_alter_table("panelseat") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("left_reason", sa.String(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("left_at", when, nullable=True))
        batch.add_column(sa.Column("called_at", when, nullable=True))
        batch.add_column(sa.Column("deadline_at", when, nullable=True))
        batch.add_column(sa.Column("reminded_round", sa.Integer(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("panelseat") as batch:
        for name in ("active", "left_reason", "reminded_round"):
            batch.alter_column(name, server_default=None)

    with op.batch_alter_table("scoringround") as batch:
        batch.add_column(sa.Column("deadline_at", when, nullable=True))
    deadline = datetime.now(UTC) + timedelta(days=DEFAULT_ROUND_DAYS)
    rounds = sa.table("scoringround", sa.column("case_id"), sa.column("status"),
                      sa.column("deadline_at", when))
    bind.execute(rounds.update().where(rounds.c.status == "open").values(deadline_at=deadline))
    seats = sa.table("panelseat", sa.column("case_id"), sa.column("role"),
                     sa.column("deadline_at", when))
    open_cases = [r.case_id for r in bind.execute(
        sa.select(rounds.c.case_id).where(rounds.c.status == "open"))]
    if open_cases:
        bind.execute(seats.update().where(seats.c.case_id.in_(open_cases),
                                          seats.c.role.in_(("chair", "member")))
                     .values(deadline_at=deadline))

    with op.batch_alter_table("score") as batch:
        batch.add_column(sa.Column("scenarios", sa.JSON(), nullable=False,
                                   server_default="[]"))
        batch.add_column(sa.Column("dissent", sa.Text(), nullable=False, server_default=""))
    score = sa.table("score", sa.column("id"), sa.column("severity"), sa.column("band"),
                     sa.column("probability"), sa.column("probability_exact"),
                     sa.column("scenarios", sa.JSON()))
    for row in bind.execute(sa.select(score.c.id, score.c.severity, score.c.band,
                                      score.c.probability, score.c.probability_exact)).all():
        bind.execute(score.update().where(score.c.id == row.id).values(scenarios=[{
            "number": 1, "severity": row.severity, "band": row.band,
            "probability": row.probability, "probability_exact": row.probability_exact,
            "steps": [], "population": "general", "description": ""}]))
    with op.batch_alter_table("score") as batch:
        batch.alter_column("scenarios", server_default=None)
        batch.alter_column("dissent", server_default=None)

    with op.batch_alter_table("case") as batch:
        batch.drop_constraint("ck_case_state", type_="check")
        batch.create_check_constraint("ck_case_state", _one_of("state", STATES))


def downgrade() -> None:
    raise NotImplementedError("RiskGate migrations go forward only; restore a backup instead")
