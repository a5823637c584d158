"""Intake at volume: import runs, quarantined rows, the launch queue, case links, and why each
signal is in its case.

* importrun: one file taken in by `riskgate intake import`, with its last committed record.
* quarantinedrow: rows an import could not take, kept whole with their problems.
* intakequeue: cases opened by an import, waiting for their flow to be launched.
* caselink: an escalation case and the cases behind it.
* signal.grouping, signal.import_id, signal.line: why the signal joined its case, and where
  it came from. Signals taken in before this revision are recorded as having opened or joined
  their case one at a time (`how`: `single`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "importrun",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("mapping_sha256", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("encoding", sa.String(), nullable=False),
        sa.Column("header", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("last_record", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("beat_at", when, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("started_at", when, nullable=False),
        sa.Column("finished_at", when, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_sha256", "mapping_sha256", "attempt", name="uq_import_file"))
    op.create_index("ix_importrun_file_sha256", "importrun", ["file_sha256"])
    op.create_table(
        "quarantinedrow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.String(), nullable=False),
        sa.Column("record", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("resolved_by", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["importrun.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("import_id", "record", name="uq_quarantined_record"))
    op.create_index("ix_quarantinedrow_import_id", "quarantinedrow", ["import_id"])
    op.create_table(
        "intakequeue",
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("import_id", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("triaged", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("queued_at", when, nullable=False),
        sa.Column("launched_at", when, nullable=True),
        sa.Column("flow_run_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["import_id"], ["importrun.id"]),
        sa.PrimaryKeyConstraint("case_id"))
    op.create_index("ix_intakequeue_import_id", "intakequeue", ["import_id"])
    op.create_index("ix_intakequeue_launched_at", "intakequeue", ["launched_at"])
    op.create_table(
        "caselink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("linked_case_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["linked_case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "linked_case_id", name="uq_case_link"))
    op.create_index("ix_caselink_case_id", "caselink", ["case_id"])
    op.create_index("ix_caselink_linked_case_id", "caselink", ["linked_case_id"])
    with op.batch_alter_table("signal") as batch:
        batch.add_column(sa.Column("grouping", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("import_id", sa.String(), nullable=True))
        batch.add_column(sa.Column("line", sa.Integer(), nullable=True))
        batch.create_index("ix_signal_import_id", ["import_id"])
    op.execute(sa.text("UPDATE signal SET grouping = :single").bindparams(
        sa.bindparam("single", {"how": "single"}, type_=sa.JSON())))


def downgrade() -> None:
    raise NotImplementedError("RiskGate migrations go forward only; restore a backup instead")
