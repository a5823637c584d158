"""PDF archive copies: each report's manifest row names its PDF copy beside the .docx.

* reportrecord.pdf_path, pdf_sha256, pdf_size: null until a PDF is made (by the gate that
  wrote the report, or later by `riskgate report archive`). Rows written before this revision
  keep their content and get no PDF until the archive command makes one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reportrecord") as batch:
        batch.add_column(sa.Column("pdf_path", sa.String(), nullable=True))
        batch.add_column(sa.Column("pdf_sha256", sa.String(), nullable=True))
        batch.add_column(sa.Column("pdf_size", sa.Integer(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("RiskGate migrations go forward only; restore a backup instead")
