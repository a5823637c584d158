"""The tables of the people who oversee cases: accounts and sign-ins, the four-eyes disposal
review, follow-up actions, the enterprise credit file, and whole-store verification runs.

Kept apart from cases/models.py (the case record itself) so that each module stays readable;
cases/db.py registers both on the metadata, and every change here is an Alembic migration too.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cases.models import _json, _when


class Account(SQLModel, table=True):
    """A person who signs in: staff, approvers, auditors, admins (cases/accounts.py)."""

    name: str = Field(primary_key=True, max_length=64)
    display_name: str = ""
    email: str = ""
    roles: list[str] = _json()  # cases.roles.ROLES
    password_hash: str = ""  # Argon2id; empty: no web sign-in (the CLI's --as still works)
    active: bool = True
    created_by: str
    created_at: datetime = _when()
    updated_at: datetime = _when()


class SignInAttempt(SQLModel, table=True):
    """Every sign-in attempt, for rate limiting failures by name and by address."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    remote: str = Field(default="", max_length=64, index=True)
    ok: bool
    at: datetime = _when(index=True)


class DisposalReview(SQLModel, table=True):
    """The four-eyes review of a disposal: what the rulebook proposed, and what an approver
    (not the case's opener) decided — approved as proposed, or overridden with a written
    justification. One per case."""

    __table_args__ = (sa.UniqueConstraint("case_id", name="uq_review_case"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    proposal: dict = _json()  # {"measures": [{"code", "reasons"}], "notify", "flags", "fired"}
    proposed_at: datetime = _when()
    deadline_at: datetime = _when()
    status: str = "pending"  # pending | approved | overridden
    decided_by: str | None = None
    decided_at: datetime | None = _when(nullable=True)
    measures: list[str] = _json()  # the decision, ranked (empty while pending)
    justification: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    difference: dict = _json()  # {"added", "removed", "reordered"}
    escalated_at: datetime | None = _when(nullable=True)


class FollowUpAction(SQLModel, table=True):
    """One disposal measure tracked to completion (cases/actions.py)."""

    __table_args__ = (sa.UniqueConstraint("case_id", "number", name="uq_action"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    number: int
    measure: str
    lead: str  # the lead department, in the case's language
    due_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    status: str = "open"  # open | in_progress | completed | withdrawn
    details: dict = _json()  # the measure's progress fields (units recovered, listings, …)
    note: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    outcome: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = _when()
    updated_at: datetime = _when()
    updated_by: str
    completed_at: datetime | None = _when(nullable=True)
    overdue_at: datetime | None = _when(nullable=True)  # when the sweeper flagged it overdue


class EnterpriseFile(SQLModel, table=True):
    """An enterprise's credit file (企业信用档案), keyed like a case's enterprise: the unified
    social credit code where known (`code:…`), else the normalised name (cases/names.py)."""

    key: str = Field(primary_key=True, max_length=200)
    name: str = ""
    name_key: str = Field(default="", index=True)
    credit_code: str = Field(default="", index=True)
    province: str = ""
    created_at: datetime = _when()
    updated_at: datetime = _when()


class CreditEntry(SQLModel, table=True):
    """One fact in an enterprise's file: a disposal, a violation, an action completed or
    overdue. Entries are appended, never changed; the file's class is derived from them."""

    id: int | None = Field(default=None, primary_key=True)
    enterprise_key: str = Field(foreign_key="enterprisefile.key", index=True, max_length=200)
    case_id: str = Field(foreign_key="case.id", index=True)
    kind: str  # disposal | violation | action_completed | action_overdue
    detail: dict = _json()
    at: datetime = _when()


class VerificationRun(SQLModel, table=True):
    """A whole-store verification an auditor started; its result, for the auditor view."""

    id: int | None = Field(default=None, primary_key=True)
    requested_by: str
    requested_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)
    status: str = "running"  # running | ok | problems | failed
    events: int = 0
    records: int = 0
    reports: int = 0
    head: str = ""
    problems: list[str] = _json()
