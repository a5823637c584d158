"""Staff, approvers and auditors: accounts, four-eyes disposal, follow-up to completion, the
enterprise credit file, whole-store verification runs.

* account, signinattempt: people who sign in, and the attempts rate limiting counts.
* disposalreview: the rulebook's proposal and the approver's decision, one per case.
* followupaction: each disposal measure tracked to completion.
* enterprisefile, creditentry: the enterprise credit file and its entries.
* verificationrun: whole-store verifications started from the auditor view.
* case: the state constraint admits `awaiting_approval` and `awaiting_actions`
  (cases/lifecycle.py as of this revision).

Cases already past disposal keep their recorded disposal; a case at the disposal or follow-up
gate when the store is upgraded takes the new way from there (proposal and approval, tracked
actions).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATES = ("active", "awaiting_lab", "awaiting_scores", "awaiting_information",
          "awaiting_panel", "awaiting_staff", "awaiting_approval", "awaiting_actions", "closed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "account",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.PrimaryKeyConstraint("name"))
    op.create_table(
        "signinattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("at", when, nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_signinattempt_username", "signinattempt", ["username"])
    op.create_index("ix_signinattempt_remote", "signinattempt", ["remote"])
    op.create_index("ix_signinattempt_at", "signinattempt", ["at"])
    op.create_table(
        "disposalreview",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("proposal", sa.JSON(), nullable=False),
        sa.Column("proposed_at", when, nullable=False),
        sa.Column("deadline_at", when, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", when, nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("difference", sa.JSON(), nullable=False),
        sa.Column("escalated_at", when, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", name="uq_review_case"))
    op.create_index("ix_disposalreview_case_id", "disposalreview", ["case_id"])
    op.create_table(
        "followupaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(), nullable=False),
        sa.Column("lead", sa.String(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.Column("completed_at", when, nullable=True),
        sa.Column("overdue_at", when, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "number", name="uq_action"))
    op.create_index("ix_followupaction_case_id", "followupaction", ["case_id"])
    op.create_table(
        "enterprisefile",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_key", sa.String(), nullable=False),
        sa.Column("credit_code", sa.String(), nullable=False),
        sa.Column("province", sa.String(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.PrimaryKeyConstraint("key"))
    op.create_index("ix_enterprisefile_name_key", "enterprisefile", ["name_key"])
    op.create_index("ix_enterprisefile_credit_code", "enterprisefile", ["credit_code"])
    op.create_table(
        "creditentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_key", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", when, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["enterprise_key"], ["enterprisefile.key"]),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_creditentry_enterprise_key", "creditentry", ["enterprise_key"])
    op.create_index("ix_creditentry_case_id", "creditentry", ["case_id"])
    op.create_table(
        "verificationrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", when, nullable=False),
        sa.Column("finished_at", when, nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"))

    with op.batch_alter_table("case") as batch:
        batch.drop_constraint("ck_case_state", type_="check")
        batch.create_check_constraint("ck_case_state", _one_of("state", STATES))


def downgrade() -> None:
    raise NotImplementedError("RiskGate migrations go forward only; restore a backup instead")
