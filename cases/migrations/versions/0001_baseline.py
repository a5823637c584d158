"""Baseline: the case store as RiskGate created it before migrations (commit ba5c1c0).

A store created by `create_all` before Alembic has these tables and no alembic_version;
`riskgate db upgrade` stamps it at this revision and goes on from here.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auditevent',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('case_id', sa.String(), nullable=True),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(), nullable=False),
    sa.Column('hash', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('hash')
    )
    op.create_index(op.f('ix_auditevent_case_id'), 'auditevent', ['case_id'], unique=False)
    op.create_table('case',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('lang', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('gate', sa.String(), nullable=False),
    sa.Column('category', sa.String(), nullable=False),
    sa.Column('hazards', sa.JSON(), nullable=False),
    sa.Column('product_key', sa.String(), nullable=False),
    sa.Column('enterprise_key', sa.String(), nullable=False),
    sa.Column('province', sa.String(), nullable=False),
    sa.Column('priority', sa.String(), nullable=True),
    sa.Column('risk_level', sa.String(), nullable=True),
    sa.Column('measures', sa.JSON(), nullable=False),
    sa.Column('scoring_round', sa.Integer(), nullable=False),
    sa.Column('triage_round', sa.Integer(), nullable=False),
    sa.Column('opened_by', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(), nullable=True),
    sa.Column('lease_expires', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_case_category'), 'case', ['category'], unique=False)
    op.create_index(op.f('ix_case_created_at'), 'case', ['created_at'], unique=False)
    op.create_index(op.f('ix_case_enterprise_key'), 'case', ['enterprise_key'], unique=False)
    op.create_index(op.f('ix_case_product_key'), 'case', ['product_key'], unique=False)
    op.create_index(op.f('ix_case_state'), 'case', ['state'], unique=False)
    op.create_table('expert',
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('affiliation', sa.String(), nullable=False),
    sa.Column('seniority', sa.Integer(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('hazards', sa.JSON(), nullable=False),
    sa.Column('conflicts', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('email', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('rulebooksnapshot',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('version', sa.String(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('first_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('gaterecord',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('gate', sa.String(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('flow_run_id', sa.String(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'gate', 'round', name='uq_gate_round')
    )
    op.create_index(op.f('ix_gaterecord_case_id'), 'gaterecord', ['case_id'], unique=False)
    op.create_table('labresult',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('item', sa.String(), nullable=False),
    sa.Column('standard', sa.String(), nullable=False),
    sa.Column('result', sa.String(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.Column('laboratory', sa.String(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_labresult_case_id'), 'labresult', ['case_id'], unique=False)
    op.create_table('panelseat',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('expert_id', sa.String(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('match', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('seated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['expert_id'], ['expert.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'expert_id', name='uq_seat')
    )
    op.create_index(op.f('ix_panelseat_case_id'), 'panelseat', ['case_id'], unique=False)
    op.create_index(op.f('ix_panelseat_expert_id'), 'panelseat', ['expert_id'], unique=False)
    op.create_table('reportrecord',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('gate', sa.String(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(), nullable=False),
    sa.Column('sha256', sa.String(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('template_version', sa.String(), nullable=False),
    sa.Column('lang', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'gate', 'round', name='uq_report')
    )
    op.create_index(op.f('ix_reportrecord_case_id'), 'reportrecord', ['case_id'], unique=False)
    op.create_table('ruledecision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('gate', sa.String(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('rulebook_sha256', sa.String(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('fired', sa.JSON(), nullable=False),
    sa.Column('trail', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.Column('engine', sa.String(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['rulebook_sha256'], ['rulebooksnapshot.sha256'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'gate', 'round', name='uq_decision_round')
    )
    op.create_index(op.f('ix_ruledecision_case_id'), 'ruledecision', ['case_id'], unique=False)
    op.create_table('score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.String(), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('band', sa.Integer(), nullable=False),
    sa.Column('probability', sa.String(), nullable=False),
    sa.Column('probability_exact', sa.String(), nullable=True),
    sa.Column('measures', sa.JSON(), nullable=False),
    sa.Column('rationale', sa.Text(), nullable=False),
    sa.Column('vulnerable_users', sa.Boolean(), nullable=False),
    sa.Column('spread', sa.String(), nullable=True),
    sa.Column('confidence', sa.Integer(), nullable=False),
    sa.Column('revisions', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.ForeignKeyConstraint(['expert_id'], ['expert.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'round_no', 'expert_id', name='uq_score')
    )
    op.create_index(op.f('ix_score_case_id'), 'score', ['case_id'], unique=False)
    op.create_table('scoringround',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('round_no', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('quorum', sa.Integer(), nullable=False),
    sa.Column('protocol', sa.JSON(), nullable=False),
    sa.Column('feedback', sa.JSON(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'round_no', name='uq_scoring_round')
    )
    op.create_index(op.f('ix_scoringround_case_id'), 'scoringround', ['case_id'], unique=False)
    op.create_table('signal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('reference', sa.String(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'reference', name='uq_signal_source')
    )
    op.create_index(op.f('ix_signal_case_id'), 'signal', ['case_id'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("RiskGate migrations go forward only; restore a backup instead")
