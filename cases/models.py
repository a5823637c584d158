"""The case record: SQLModel tables. The database is the source of truth for every case.

Prefect holds execution history only; which gates a case has completed, what was decided, who
scored what and which reports exist are read from these tables. Uniqueness constraints make the
idempotency rules hard facts: one record per (case, gate, round), one report per (case, gate,
round), one version number per (case, round, expert), one signal per (channel, reference), one
continuation per idempotency key. A case's gate and state are constrained to the lifecycle's
(cases/lifecycle.py).

Every change to these tables is an Alembic migration (cases/migrations/versions/); a test
checks that the migrations' head equals these models.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from cases.lifecycle import GATES, STATES


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None,
                           dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case store; use cases.models.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None,
                             dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.JSON, nullable=nullable))


def _when(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


def _one_of(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


VOTING_ROLES = ("chair", "member")  # a panel's votes; reserves wait to replace a member
STAGING_DIR = ".staging"  # under reports/<case>/: reports rendered before their commit
CASE_STATE_CHECK = _one_of("state", STATES)
CASE_GATE_CHECK = _one_of("gate", GATES)


class Case(SQLModel, table=True):
    __table_args__ = (sa.CheckConstraint(CASE_STATE_CHECK, name="ck_case_state"),
                      sa.CheckConstraint(CASE_GATE_CHECK, name="ck_case_gate"))

    id: str = Field(primary_key=True, max_length=40)
    title: str
    lang: str = "zh"
    state: str = Field(index=True)  # cases.lifecycle.STATES
    gate: str  # the next gate to complete, or "closed" (cases.lifecycle.GATES)
    category: str = Field(index=True)
    hazards: list[str] = _json()
    product_key: str = Field(index=True)
    enterprise_key: str = Field(index=True)
    province: str = ""
    priority: str | None = None
    risk_level: str | None = None
    measures: list[str] = _json()
    scoring_round: int = 0
    triage_round: int = 0
    waiting_reason: str = ""  # why a case waits for staff (awaiting_staff), for people to read
    opened_by: str
    created_at: datetime = _when(index=True)
    updated_at: datetime = _when()
    closed_at: datetime | None = _when(nullable=True)
    # The lease of the flow run advancing the case (cases/lease.py).
    lease_owner: str | None = None
    lease_expires: datetime | None = _when(nullable=True)


class Signal(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("channel", "reference", name="uq_signal_source"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    channel: str
    reference: str
    received_at: datetime = _when()
    payload: dict = _json()  # the validated signal, as normalised at intake
    imported_at: datetime = _when()
    # cases.names keys of the responsible enterprise, for grouping and conflict checks
    enterprise_code: str = Field(default="", index=True)
    enterprise_name: str = Field(default="", index=True)
    # the vocabulary (rules/domain.yaml) the payload was validated under
    vocabulary_sha256: str = Field(foreign_key="vocabularysnapshot.sha256", max_length=64)
    # why the signal is in its case (cases/grouping.py): {"how": new_case | same_reference |
    # same_product | similar_product | moved, "score": …, "why": text for people}
    grouping: dict | None = _json(nullable=True)
    import_id: str | None = Field(default=None, index=True)  # the import that took it in
    line: int | None = None  # its line in that import's file


class GateRecord(SQLModel, table=True):
    """A completed gate. Its presence is what 'completed' means."""

    __table_args__ = (sa.UniqueConstraint("case_id", "gate", "round", name="uq_gate_round"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    gate: str
    round: int = 1
    outcome: dict = _json()
    actor: str
    flow_run_id: str | None = None
    completed_at: datetime = _when()


class RulebookSnapshot(SQLModel, table=True):
    """The exact text of every rulebook version a decision was made under."""

    sha256: str = Field(primary_key=True, max_length=64)
    name: str
    version: str
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    first_used_at: datetime = _when()


class VocabularySnapshot(SQLModel, table=True):
    """The exact text of every vocabulary (rules/domain.yaml) stored data was validated under."""

    sha256: str = Field(primary_key=True, max_length=64)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    first_used_at: datetime = _when()


class RuleDecision(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("case_id", "gate", "round", name="uq_decision_round"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    gate: str
    round: int = 1
    rulebook_sha256: str = Field(foreign_key="rulebooksnapshot.sha256")
    facts: dict = _json()
    fired: list[str] = _json()
    trail: list[dict] = _json()
    outcome: dict = _json()
    engine: str
    decided_at: datetime = _when()
    vocabulary_sha256: str = Field(foreign_key="vocabularysnapshot.sha256", max_length=64)


class Expert(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=20)
    name: str
    affiliation: str
    seniority: int = 0
    categories: list[str] = _json()
    hazards: list[str] = _json()
    conflicts: list[str] = _json()  # declared relations: enterprise or group names, codes
    active: bool = True
    email: str = ""
    group: str = ""  # the organisation group the expert's affiliation belongs to
    region: str = ""
    lab_methods: list[str] = _json()  # laboratory methods the expert masters
    max_open_seats: int | None = None  # the expert's own cap; the protocol's when None
    unavailable: list[dict] = _json()  # [{"from": ISO date, "to": ISO date}]
    employment: list[dict] = _json()  # [{"enterprise": name or code, "from": year, "to": year}]


class PanelSeat(SQLModel, table=True):
    """A seat on a case's panel. A seat left (a declared conflict, no answer by the deadline)
    stays, inactive, with the reason; a reserve called in becomes a member with its own
    deadline."""

    __table_args__ = (sa.UniqueConstraint("case_id", "expert_id", name="uq_seat"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    expert_id: str = Field(foreign_key="expert.id", index=True)
    role: str  # chair | member | reserve
    match: int = 0
    reasons: list[str] = _json()
    seated_at: datetime = _when()
    active: bool = True
    left_reason: str = ""
    left_at: datetime | None = _when(nullable=True)
    called_at: datetime | None = _when(nullable=True)  # a reserve called in to vote
    deadline_at: datetime | None = _when(nullable=True)  # for the open round
    reminded_round: int = 0  # the last round a reminder went out for


class ScoringRound(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("case_id", "round_no", name="uq_scoring_round"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    round_no: int
    status: str  # open | closed
    quorum: int
    protocol: dict = _json()
    feedback: dict | None = _json(nullable=True)  # anonymised result of the previous round
    result: dict | None = _json(nullable=True)  # statistics once aggregated
    opened_at: datetime = _when()
    closed_at: datetime | None = _when(nullable=True)
    deadline_at: datetime | None = _when(nullable=True)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class Score(SQLModel, table=True):
    """One version of one expert's score in one round. A revision is a new row with the next
    version; earlier versions are kept, never overwritten. The latest version counts."""

    __table_args__ = (sa.UniqueConstraint("case_id", "round_no", "expert_id", "version",
                                          name="uq_score_version"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    round_no: int
    expert_id: str = Field(foreign_key="expert.id")
    version: int = 1
    severity: int
    band: int
    probability: str
    probability_exact: str | None = None
    measures: list[str] = _json()
    rationale: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    vulnerable_users: bool = False
    spread: str | None = None
    confidence: int = 3
    submitted_at: datetime = _when()
    # every injury scenario the expert scored: [{"number", "severity", "band", "probability",
    # "probability_exact", "steps", "population", "description"}]; severity/band above are
    # the deciding (highest-risk) one's
    scenarios: list[dict] = _json()
    dissent: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))


class LabResult(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    item: str
    standard: str = ""
    result: str  # pass | fail
    value: str = ""
    laboratory: str = ""
    source: str  # signal | submitted
    recorded_at: datetime = _when()


def data_path_of(relative_docx: str) -> str:
    """Where a report's data lies: beside it, `<name>.json` (relative to RISKGATE_HOME)."""
    return str(PurePosixPath(relative_docx).with_suffix(".json"))


class ReportRecord(SQLModel, table=True):
    """The manifest: one row per report file, with the SHA-256 an auditor checks."""

    __table_args__ = (sa.UniqueConstraint("case_id", "gate", "round", name="uq_report"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    gate: str
    round: int = 1
    path: str  # relative to RISKGATE_HOME
    sha256: str
    size: int
    template_version: str
    lang: str
    created_at: datetime = _when()
    # Its PDF archive copy (reports/archive.py; migration 0006): written with the report, or
    # later by `riskgate report archive`; none when LibreOffice was missing or failed.
    pdf_path: str | None = None  # relative to RISKGATE_HOME
    pdf_sha256: str | None = None
    pdf_size: int | None = None


class InjuryScenario(SQLModel, table=True):
    """An injury scenario staff describe for the panel to score (DESIGN: "Scoring")."""

    __table_args__ = (sa.UniqueConstraint("case_id", "number", name="uq_scenario"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    number: int
    description: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    population: str = "general"  # target_users code: who gets hurt
    created_by: str
    created_at: datetime = _when()


class ExpertLink(SQLModel, table=True):
    """A personal link an expert opens the portal with: signed (its id in a signed token),
    expiring, revocable. The link names the expert; the case is where it leads first."""

    id: str = Field(primary_key=True, max_length=32)
    expert_id: str = Field(foreign_key="expert.id", index=True)
    case_id: str | None = Field(default=None, foreign_key="case.id")
    created_by: str
    created_at: datetime = _when()
    expires_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)
    opened_at: datetime | None = _when(nullable=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, the store only its SHA-256."""

    id: str = Field(primary_key=True, max_length=64)
    kind: str  # expert (a personal link) | account (signed in at /login)
    subject: str = Field(index=True)  # the expert id or the account name
    csrf: str = Field(max_length=64)
    lang: str = "zh"
    created_at: datetime = _when()
    expires_at: datetime = _when()
    revoked_at: datetime | None = _when(nullable=True)


class MailMessage(SQLModel, table=True):
    """The mail outbox: stored first, sent after, so a failing SMTP server delays mail and
    loses none."""

    id: int | None = Field(default=None, primary_key=True)
    to_addr: str
    subject: str
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    kind: str  # link | round_opened | reminder | reserve_called | …
    case_id: str | None = Field(default=None, foreign_key="case.id", index=True)
    expert_id: str | None = Field(default=None, foreign_key="expert.id")
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str = ""


class Continuation(SQLModel, table=True):
    """The outbox of the hand-over: a flow run a case is owed.

    Written in the same transaction as the claim that owes it (a quorum, lab results, more
    information, a launch, the sweeper's retake), so a continuation is never lost: starting the
    Prefect run is retried until Prefect confirms it (`flow_run_id` set), by the submitter and
    then by the sweeper. `key` is the run's idempotency key: one Prefect run per row.
    """

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    key: str = Field(unique=True, max_length=120)
    reason: str  # the event or action that owes it
    owed_at: datetime = _when()
    flow_run_id: str | None = Field(default=None, max_length=40)
    started_at: datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str = ""


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained: each event's hash covers the previous one (cases/audit.py)."""

    seq: int = Field(primary_key=True)
    at: datetime = _when()
    case_id: str | None = Field(default=None, index=True)
    actor: str
    action: str
    detail: dict = _json()
    prev_hash: str
    hash: str = Field(unique=True)
