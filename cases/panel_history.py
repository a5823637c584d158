"""What happened to a case's panel while it scored, read back from the store for the assessment
report: each round's deadline and when it closed, every change to the panel (a conflict
declared, a reminder, a seat lost at the deadline, a reserve called in, a new chair, a quorum
lost, a round extended) with its time and actor, and every dissent an outlier recorded.

The changes come from the hash-chained audit log, so what the report prints is what the
trail proves; the seats and scores supply what the log's details only name.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from cases.db import Database
from cases.lifecycle import Event
from cases.models import AuditEvent
from cases.panels import why_left
from cases.store import Dossier

PANEL_ACTIONS = ("panel.conflict_declared", "panel.deadlines", Event.ROUND_EXTENDED.value,
                 Event.PANEL_RESEATED.value)


def _changes(event: AuditEvent) -> list[dict[str, Any]]:
    """The panel changes one audit event records, in the order they happened."""
    detail = event.detail or {}
    at = detail.get("at") or event.at  # the time the change took effect (the sweeper's clock)
    actor = event.actor
    round_no = detail.get("round")

    def change(kind: str, expert_id: str = "", **extra: Any) -> dict[str, Any]:
        return {"at": at, "actor": actor, "kind": kind, "expert_id": expert_id,
                "round_no": round_no, **extra}

    found: list[dict[str, Any]] = []
    if event.action == "panel.conflict_declared":
        found.append(change("conflict_declared", detail.get("expert", ""),
                            reason=detail.get("reason", "")))
    elif event.action == "panel.deadlines":
        found += [change("reminded", e) for e in detail.get("reminded", [])]
        found += [change("no_answer", e) for e in detail.get("left", [])]
    elif event.action == Event.ROUND_EXTENDED.value:
        found.append(change("extended", days=detail.get("days")))
    elif event.action == Event.PANEL_RESEATED.value:
        found += [change("staff_seated", e) for e in detail.get("seated", [])]
    found += [change("reserve_called", e) for e in detail.get("called", [])]
    if detail.get("new_chair"):
        found.append(change("new_chair", detail["new_chair"]))
    if detail.get("quorum_lost"):
        found.append(change("quorum_lost"))
    if detail.get("closed"):
        found.append(change("closed_at_deadline"))
    return found


def panel_history(db: Database, d: Dossier) -> dict[str, Any]:
    """Rounds with their deadlines, the panel's changes and the recorded dissent of case `d`."""
    with db.read_session() as session:
        events = session.exec(select(AuditEvent).where(
            AuditEvent.case_id == d.case.id, col(AuditEvent.action).in_(PANEL_ACTIONS))
            .order_by(col(AuditEvent.seq))).all()
    rounds = []
    for r in sorted(d.rounds, key=lambda r: r.round_no):
        versions = [s for s in d.scores if s.round_no == r.round_no]
        rounds.append({"round_no": r.round_no, "opened_at": r.opened_at,
                       "deadline_at": r.deadline_at, "closed_at": r.closed_at,
                       "quorum": r.quorum, "experts": len({s.expert_id for s in versions}),
                       "revisions": sum(1 for s in versions if s.version > 1)})
    dissent = [{"round_no": r.round_no, "expert_id": s.expert_id, "text": s.dissent}
               for r in sorted(d.rounds, key=lambda r: r.round_no)
               for s in d.scores_of(r.round_no) if s.dissent.strip()]
    seats = [{"expert_id": s.expert_id, "role": s.role, "active": s.active,
              **dict(zip(("left_kind", "left_detail"), why_left(s.left_reason), strict=True)),
              "left_at": s.left_at, "called_at": s.called_at}
             for s in sorted(d.seats, key=lambda s: s.id or 0)]
    return {"rounds": rounds, "seats": seats,
            "changes": [c for e in events for c in _changes(e)], "dissent": dissent}
