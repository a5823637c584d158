"""Foundations: the lifecycle in the database, the hand-over outbox, score versions, the
vocabulary versioned, enterprise keys for grouping and conflicts, and an audit checkpoint.

* case: `waiting_reason` (why it waits for staff); its state and gate are constrained to the
  lifecycle's (cases/lifecycle.py as of this revision); product and enterprise keys are
  recomputed with the one normalisation of names (cases/names.py, as intake computes them, a
  name's credit code found in other signals included). This imports the application's
  cases.names and cases.records: a later change there must not change what they compute for
  this data (the digests are versioned for that reason).
* continuation: the outbox of owed flow runs. Active cases that had passed intake are owed one,
  so the sweeper takes them up.
* score: a revision is a new version row; `version` = the old `revisions` + 1.
* vocabularysnapshot: the vocabulary's text by SHA-256; signals and rule decisions record the
  one they were validated under (all stored rows: the baseline's, frozen beside this file).
* signal: enterprise_code / enterprise_name keys.
* auditevent: one `store.migrated` event that records the content digest of every record the
  chain now covers (cases/records.py), so verification covers data written before this revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from cases import names, records
from cases.audit import GENESIS, event_hash

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATES = ("active", "awaiting_lab", "awaiting_scores", "awaiting_information",
          "awaiting_staff", "closed")
GATES = ("intake", "triage", "lab_test", "panel", "assessment", "disposal", "follow_up",
         "closure", "closed")
BASELINE_VOCABULARY = Path(__file__).resolve().parent.parent / "frozen" / "domain-0001.yaml"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)

    op.create_table(
        "vocabularysnapshot",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"))
    text = BASELINE_VOCABULARY.read_text(encoding="utf-8")
    vocabulary = hashlib.sha256(text.encode("utf-8")).hexdigest()
    snapshots = sa.table("vocabularysnapshot", sa.column("sha256"), sa.column("text"),
                         sa.column("first_used_at", sa.DateTime(timezone=True)))
    op.bulk_insert(snapshots, [{"sha256": vocabulary, "text": text, "first_used_at": now}])

    # signals: enterprise keys and the vocabulary they were validated under
    with op.batch_alter_table("signal") as batch:
        batch.add_column(sa.Column("enterprise_code", sa.String(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("enterprise_name", sa.String(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("vocabulary_sha256", sa.String(length=64), nullable=False,
                                   server_default=vocabulary))
    signal = sa.table("signal", sa.column("id"), sa.column("case_id"), sa.column("payload",
                      sa.JSON()), sa.column("enterprise_code"), sa.column("enterprise_name"))
    signals = bind.execute(sa.select(signal.c.id, signal.c.case_id, signal.c.payload)
                           .order_by(signal.c.id)).all()
    first_payload: dict[str, dict] = {}
    known: dict[str, str] = {}  # enterprise name key -> a credit code signals gave with it
    for row in signals:
        enterprise = (row.payload or {}).get("enterprise") or {}
        code = names.code_key(enterprise.get("credit_code", ""))
        name = names.name_key(enterprise.get("name", ""))
        bind.execute(signal.update().where(signal.c.id == row.id).values(
            enterprise_code=code, enterprise_name=name))
        if code and name:
            known.setdefault(name, code)
        first_payload.setdefault(row.case_id, row.payload or {})
    with op.batch_alter_table("signal") as batch:
        batch.alter_column("enterprise_code", server_default=None)
        batch.alter_column("enterprise_name", server_default=None)
        batch.alter_column("vocabulary_sha256", server_default=None)
        batch.create_index("ix_signal_enterprise_code", ["enterprise_code"])
        batch.create_index("ix_signal_enterprise_name", ["enterprise_name"])
        batch.create_foreign_key("fk_signal_vocabulary", "vocabularysnapshot",
                                 ["vocabulary_sha256"], ["sha256"])

    with op.batch_alter_table("ruledecision") as batch:
        batch.add_column(sa.Column("vocabulary_sha256", sa.String(length=64), nullable=False,
                                   server_default=vocabulary))
    with op.batch_alter_table("ruledecision") as batch:
        batch.alter_column("vocabulary_sha256", server_default=None)
        batch.create_foreign_key("fk_ruledecision_vocabulary", "vocabularysnapshot",
                                 ["vocabulary_sha256"], ["sha256"])

    # scores: versions instead of a revision counter on one overwritten row
    with op.batch_alter_table("score") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.execute("UPDATE score SET version = revisions + 1")
    with op.batch_alter_table("score") as batch:
        batch.alter_column("version", server_default=None)
        batch.drop_constraint("uq_score", type_="unique")
        batch.create_unique_constraint("uq_score_version",
                                       ["case_id", "round_no", "expert_id", "version"])
        batch.drop_column("revisions")

    # cases: keys with the one normalisation; the lifecycle's states and gates as constraints
    case = sa.table("case", sa.column("id"), sa.column("product_key"),
                    sa.column("enterprise_key"), sa.column("state"), sa.column("gate"))
    for case_id, payload in first_payload.items():
        enterprise = payload.get("enterprise") or {}
        product = payload.get("product") or {}
        who = names.enterprise_identity(
            enterprise.get("credit_code", ""), enterprise.get("name", ""),
            known.get(names.name_key(enterprise.get("name", "")), ""))
        bind.execute(case.update().where(case.c.id == case_id).values(
            enterprise_key=who,
            product_key=names.product_identity(who, product.get("brand", ""),
                                               product.get("name", ""),
                                               product.get("model", ""))))
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("waiting_reason", sa.String(), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("case") as batch:
        batch.alter_column("waiting_reason", server_default=None)
        batch.create_check_constraint("ck_case_state", _one_of("state", STATES))
        batch.create_check_constraint("ck_case_gate", _one_of("gate", GATES))

    # the outbox
    op.create_table(
        "continuation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("owed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flow_run_id", sa.String(length=40), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"))
    op.create_index("ix_continuation_case_id", "continuation", ["case_id"])
    gate_record = sa.table("gaterecord", sa.column("case_id"))
    launched = {r.case_id for r in bind.execute(sa.select(gate_record.c.case_id).distinct())}
    active = [r.id for r in bind.execute(sa.select(case.c.id).where(case.c.state == "active"))]
    continuation = sa.table("continuation", sa.column("case_id"), sa.column("key"),
                            sa.column("reason"),
                            sa.column("owed_at", sa.DateTime(timezone=True)),
                            sa.column("attempts"), sa.column("last_error"))
    owed = [{"case_id": c, "key": f"{c}:migrated-0002", "reason": "migration 0002",
             "owed_at": now, "attempts": 0, "last_error": ""}
            for c in sorted(active) if c in launched]
    if owed:
        op.bulk_insert(continuation, owed)

    _checkpoint(bind, now)


# The kinds the chain covered at this revision, digested under that revision's version.
CHECKPOINT_KINDS = ("case", "signal", "gate", "decision", "seat", "round", "score", "lab",
                    "report", "expert")
CHECKPOINT_VERSION = "v1"


def _checkpoint(bind: sa.Connection, now: datetime) -> None:
    """One audit event recording the digest of every covered record as it stands now."""
    kinds = [records.KINDS[name] for name in CHECKPOINT_KINDS]
    metadata = sa.MetaData()
    metadata.reflect(bind, only=[k.table for k in kinds] + ["auditevent"])
    entries: dict[str, dict] = {}
    for kind in kinds:
        table = metadata.tables[kind.table]
        for row in bind.execute(sa.select(table).order_by(table.c[kind.key])).mappings():
            entries[records.ref(kind, row)] = records.digest(kind, row, CHECKPOINT_VERSION)
    if not entries:
        return  # a new store: nothing written before this revision
    events = metadata.tables["auditevent"]
    last = bind.execute(sa.select(events.c.seq, events.c.hash)
                        .order_by(events.c.seq.desc()).limit(1)).first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    detail = {"migration": revision, "records": entries}
    actor, action = "riskgate (migration)", "store.migrated"
    bind.execute(events.insert().values(
        seq=seq, at=now, case_id=None, actor=actor, action=action, detail=detail,
        prev_hash=prev, hash=event_hash(seq, now, None, actor, action, detail, prev)))


def downgrade() -> None:
    raise NotImplementedError("RiskGate migrations go forward only; restore a backup instead")
