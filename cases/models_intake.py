"""The tables of intake at volume: import runs, quarantined rows, the launch queue, and links
between cases (an escalation case and the cases behind it).

Kept apart from cases/models.py (the case record itself); cases/db.py registers them on the
metadata, and every change here is an Alembic migration (0005).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from cases.models import _json, _when


class ImportRun(SQLModel, table=True):
    """One file taken in by `riskgate intake import`. `last_record` counts the records whose
    batch is committed (`last_line` is the last one's line, for people): a crashed import
    resumes after it, and a finished one is not taken in again (same file, same mapping)
    unless asked. Records, not lines, because a JSON array may hold many on one line."""

    __table_args__ = (sa.UniqueConstraint("file_sha256", "mapping_sha256", "attempt",
                                          name="uq_import_file"),)

    id: str = Field(primary_key=True, max_length=40)
    path: str
    file_sha256: str = Field(max_length=64, index=True)
    mapping_sha256: str = Field(max_length=64)
    attempt: int = 1  # `--again` takes the same file in once more, as a new attempt
    channel: str
    format: str  # csv | json | jsonl
    encoding: str = "utf-8"  # the mapping's: rejects files are written in it
    header: str = ""  # a CSV's header line, for its rejects file
    status: str = "running"  # running | stopped (a problem with the file) | done
    last_record: int = 0
    last_line: int = 0
    counts: dict = _json()  # read, accepted, duplicates, grouped, new_cases, rejected
    owner: str = ""  # host:pid of the process importing it; another waits or takes over
    beat_at: datetime = _when()
    actor: str
    started_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)


class QuarantinedRow(SQLModel, table=True):
    """A row an import could not take: kept whole with its line and what was wrong, until it
    is corrected and imported again."""

    __table_args__ = (sa.UniqueConstraint("import_id", "record", name="uq_quarantined_record"),)

    id: int | None = Field(default=None, primary_key=True)
    import_id: str = Field(foreign_key="importrun.id", index=True)
    record: int  # its number in the file (1 = the first record)
    line: int  # the line it starts on
    channel: str
    reference: str = ""
    raw: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    problems: list[str] = _json()
    status: str = "open"  # open | resolved (taken in by a later import)
    created_at: datetime = _when()
    resolved_by: str = ""  # the import that took the corrected row in


class IntakeQueue(SQLModel, table=True):
    """A case opened by an import, waiting for its flow to be launched: P1 first, with a limit
    on how many run at once (cases/intake_queue.py)."""

    case_id: str = Field(primary_key=True, foreign_key="case.id", max_length=40)
    import_id: str = Field(foreign_key="importrun.id", index=True)
    priority: str = "P4"  # set by bulk triage; the launch order
    triaged: bool = False
    held: bool = False  # --no-launch: left for `riskgate intake launch`
    queued_at: datetime = _when()
    launched_at: datetime | None = _when(nullable=True, index=True)
    flow_run_id: str = ""


class CaseLink(SQLModel, table=True):
    """A case linked to another: an escalation case and each case behind it."""

    __table_args__ = (sa.UniqueConstraint("case_id", "linked_case_id", name="uq_case_link"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    linked_case_id: str = Field(foreign_key="case.id", index=True)
    kind: str  # escalation
    detail: dict = _json()
    created_at: datetime = _when()
