"""What the audit chain covers: the records that decided a case, and their content digests.

Every audit event lists the records its transaction wrote or changed, each with the SHA-256 of
its canonical content (and a short digest per field, so that `audit verify` can say which field
of a record differs, not only that it does). Verification recomputes the digests of the stored
rows and compares them with the latest event that recorded each one (cases/audit.py).

The covered fields are fixed per kind and per digest version and must stay stable: a digest
written today is checked, under its own version's fields, for as long as the store lives. A new
column is covered by a new version (`DIGEST_VERSION`): the kind lists its fields under the new
version and keeps the old lists under `earlier`, so a record written before the column existed
still verifies.
Operational columns are not covered: the lease (it changes with every run), `updated_at`, and
the continuation outbox (which records execution, not decisions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DIGEST_VERSION = "v3"  # v3: a report's PDF copy (0006)
FIELD_DIGEST_LENGTH = 12


@dataclass(frozen=True)
class Kind:
    name: str  # the ref prefix: "score:17"
    table: str  # the table's name in the store
    key: str  # primary key column
    fields: tuple[str, ...]  # covered columns under DIGEST_VERSION, in canonical order
    mutable: bool  # rows that legitimately change (each change comes with an event)
    describe: tuple[str, ...] = ()  # columns that name the row in a problem message
    earlier: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (version, fields) of older digests
    # fields of an otherwise unchanging record that may change, each change with its event:
    # a signal staff move to another case (cases/regroup.py) changes its case_id, nothing else
    movable: tuple[str, ...] = ()

    def fields_of(self, version: str) -> tuple[str, ...]:
        """The covered columns of a digest version (a kind unchanged since keeps its list)."""
        return dict(self.earlier).get(version, self.fields)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("case", "case", "id", (
        "id", "title", "lang", "state", "gate", "category", "hazards", "product_key",
        "enterprise_key", "province", "priority", "risk_level", "measures", "scoring_round",
        "triage_round", "waiting_reason", "opened_by", "created_at", "closed_at"), True),
    Kind("signal", "signal", "id", (
        "id", "case_id", "channel", "reference", "received_at", "payload", "enterprise_code",
        "enterprise_name", "vocabulary_sha256"), False, ("case_id", "channel", "reference"),
        movable=("case_id",)),
    Kind("gate", "gaterecord", "id", (
        "id", "case_id", "gate", "round", "outcome", "actor", "flow_run_id", "completed_at"),
        False, ("case_id", "gate", "round")),
    Kind("decision", "ruledecision", "id", (
        "id", "case_id", "gate", "round", "rulebook_sha256", "facts", "fired", "trail",
        "outcome", "engine", "decided_at", "vocabulary_sha256"), False,
        ("case_id", "gate", "round")),
    Kind("seat", "panelseat", "id", (
        "id", "case_id", "expert_id", "role", "match", "reasons", "seated_at", "active",
        "left_reason", "left_at", "called_at", "deadline_at", "reminded_round"), True,
        ("case_id", "expert_id", "role"),
        earlier=(("v1", ("id", "case_id", "expert_id", "role", "match", "reasons",
                         "seated_at")),)),
    Kind("round", "scoringround", "id", (
        "id", "case_id", "round_no", "status", "quorum", "protocol", "feedback", "result",
        "opened_at", "closed_at", "deadline_at"), True, ("case_id", "round_no"),
        earlier=(("v1", ("id", "case_id", "round_no", "status", "quorum", "protocol",
                         "feedback", "result", "opened_at", "closed_at")),)),
    Kind("link", "expertlink", "id", (
        "id", "expert_id", "case_id", "created_by", "created_at", "expires_at", "revoked_at"),
        True, ("expert_id", "case_id")),
    Kind("mail", "mailmessage", "id", (
        "id", "to_addr", "subject", "body", "kind", "case_id", "expert_id", "created_at"),
        False, ("kind", "to_addr")),
    Kind("scenario", "injuryscenario", "id", (
        "id", "case_id", "number", "description", "population", "created_by", "created_at"),
        True, ("case_id", "number")),
    Kind("score", "score", "id", (
        "id", "case_id", "round_no", "expert_id", "version", "severity", "band",
        "probability", "probability_exact", "measures", "rationale", "vulnerable_users",
        "spread", "confidence", "submitted_at", "scenarios", "dissent"), False,
        ("case_id", "round_no", "expert_id", "version"),
        earlier=(("v1", ("id", "case_id", "round_no", "expert_id", "version", "severity",
                         "band", "probability", "probability_exact", "measures", "rationale",
                         "vulnerable_users", "spread", "confidence", "submitted_at")),)),
    Kind("lab", "labresult", "id", (
        "id", "case_id", "item", "standard", "result", "value", "laboratory", "source",
        "recorded_at"), False, ("case_id", "item")),
    # its PDF copy (migration 0006, digest v3) may be added after the row was written, by
    # `riskgate report archive`, with its own event; nothing else of a manifest row changes
    Kind("report", "reportrecord", "id", (
        "id", "case_id", "gate", "round", "path", "sha256", "size", "template_version", "lang",
        "created_at", "pdf_path", "pdf_sha256", "pdf_size"), False, ("case_id", "path"),
        earlier=tuple((version, ("id", "case_id", "gate", "round", "path", "sha256", "size",
                                 "template_version", "lang", "created_at"))
                      for version in ("v1", "v2")),
        movable=("pdf_path", "pdf_sha256", "pdf_size")),
    Kind("expert", "expert", "id", (
        "id", "name", "affiliation", "seniority", "categories", "hazards", "conflicts",
        "active", "email", "group", "region", "lab_methods", "max_open_seats", "unavailable",
        "employment"), True, (),
        earlier=(("v1", ("id", "name", "affiliation", "seniority", "categories", "hazards",
                         "conflicts", "active", "email")),)),
    # accounts, the four-eyes review, follow-up actions and the enterprise credit file
    # (migration 0004): an account's password is covered by its hash's digest, never its text
    Kind("account", "account", "name", (
        "name", "display_name", "email", "roles", "password_hash", "active", "created_by",
        "created_at"), True),
    Kind("review", "disposalreview", "id", (
        "id", "case_id", "proposal", "proposed_at", "deadline_at", "status", "decided_by",
        "decided_at", "measures", "justification", "difference", "escalated_at"), True,
        ("case_id",)),
    Kind("action", "followupaction", "id", (
        "id", "case_id", "number", "measure", "lead", "due_on", "status", "details", "note",
        "outcome", "created_at", "updated_by", "completed_at", "overdue_at"), True,
        ("case_id", "number", "measure")),
    Kind("enterprise", "enterprisefile", "key", (
        "key", "name", "name_key", "credit_code", "province", "created_at"), True),
    Kind("credit", "creditentry", "id", (
        "id", "enterprise_key", "case_id", "kind", "detail", "at"), False,
        ("enterprise_key", "case_id", "kind")),
    # links between cases (migration 0005): an escalation case and each case behind it
    Kind("case_link", "caselink", "id", (
        "id", "case_id", "linked_case_id", "kind", "detail", "created_at"), False,
        ("case_id", "linked_case_id")),
)}
BY_TABLE = {k.table: k for k in KINDS.values()}


def canonical_time(value: datetime | str) -> str:
    """UTC, microseconds, naive values taken as UTC (SQLite keeps no zone)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return canonical_time(value)
    return value


# One encoder each, built once: json.dumps with options builds a new encoder per call, which
# was a tenth of an import's time (digests of every signal and case, bench/intake.py).
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=str)
_SAFE = json.JSONEncoder(ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def canonical_loads(value: Any) -> Any:
    """A JSON-safe copy, as the store will read it back (datetimes and the like as text)."""
    return json.loads(_SAFE.encode(value))


@dataclass(frozen=True)
class Inserted:
    """A row written with a core insert (an import's signals), as its table and values: an
    audit event covers it as it covers an ORM row."""

    table: str
    values: dict[str, Any]


def _values(kind: Kind, row: Mapping[str, Any], version: str) -> dict[str, Any]:
    return {name: _canonical(row.get(name)) for name in kind.fields_of(version)}


def digest(kind: Kind, row: Mapping[str, Any], version: str = DIGEST_VERSION
           ) -> dict[str, Any]:
    """The recorded digest of one row under a digest version (default: the current one): the
    whole content and a short digest per field."""
    values = _values(kind, row, version)
    encoded = {name: canonical_json(value) for name, value in values.items()}
    # The whole row's canonical JSON, built from its fields' (byte for byte what encoding the
    # dict would give: sorted keys, no spaces), so each value is encoded once.
    whole_json = "{" + ",".join(f"{canonical_json(name)}:{encoded[name]}"
                                for name in sorted(encoded)) + "}"
    whole = hashlib.sha256(whole_json.encode("utf-8")).hexdigest()
    per_field = {name: hashlib.sha256(text.encode("utf-8")).hexdigest()[:FIELD_DIGEST_LENGTH]
                 for name, text in encoded.items()}
    return {"sha256": f"{version}:{whole}", "fields": per_field}


def version_of(recorded: Mapping[str, Any]) -> str:
    """The digest version a recorded entry was written under ("v1:…" → "v1")."""
    text = str(recorded.get("sha256", ""))
    return text.split(":", 1)[0] if ":" in text else "v1"


def ref(kind: Kind, row: Mapping[str, Any]) -> str:
    return f"{kind.name}:{row[kind.key]}"


def row_mapping(row: Any) -> dict[str, Any]:
    """A SQLModel row or a SQLAlchemy mapping as a plain dict of its columns."""
    if isinstance(row, Inserted):
        return row.values
    if isinstance(row, Mapping):
        return dict(row)
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def kind_of(row: Any) -> Kind:
    return BY_TABLE[row.table if isinstance(row, Inserted) else row.__table__.name]


def record_entries(rows: list[Any]) -> dict[str, dict[str, Any]]:
    """`{ref: digest}` for ORM rows, as an audit event lists them."""
    entries: dict[str, dict[str, Any]] = {}
    for row in rows:
        kind = kind_of(row)
        values = row_mapping(row)
        entries[ref(kind, values)] = digest(kind, values)
    return entries


def allowed_change(kind: Kind, before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether two recorded digests of one record may differ: any change of a mutable kind;
    of an unchanging one, only a change confined to its movable fields (which the per-field
    digests must show)."""
    if kind.mutable or before.get("sha256") == after.get("sha256"):
        return True
    changed = differing_fields(before, after)
    return bool(changed) and set(changed) <= set(kind.movable)


def differing_fields(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Which fields differ between a recorded digest and a current one (by the short field
    digests; a record written without them says only that the content differs)."""
    before, after = recorded.get("fields") or {}, current.get("fields") or {}
    return [name for name in after if name in before and before[name] != after[name]]
