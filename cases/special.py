"""The special report (专报): one case, or a cluster of cases, written up for the centre's
superiors — the risk, the evidence, the assessment, the measures taken and proposed.

Plain reads (no Prefect, no rendering; `reports/special.py` writes the .docx). Unlike the
bulletin it is as of now: it is asked for on demand to tell where things stand. Its identity
comes from the sorted case ids (the same cluster, the same files) and its data hash from
everything shown, so a second request with nothing changed keeps the files already written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import col, select

from cases.actions import FINAL, today
from cases.bulletin import content_hash
from cases.db import Database
from cases.errors import InvalidInput, NotFound
from cases.escalation import LINK_KIND
from cases.models import Case, ScoringRound
from cases.models_intake import CaseLink
from cases.models_oversight import DisposalReview, FollowUpAction
from cases.store import Dossier, load_dossiers
from rules.risk_matrix import LEVELS

SCHEMA = "special/1"  # bump when what is read changes: it is in the data hash
MAX_CASES = 50
MAX_ID = 40  # Case.id's length
NAMED_IDS = 3  # a cluster's identity names its first case and counts the rest


def parse_ids(raw: Iterable[str]) -> tuple[str, ...]:
    """The case ids asked for, sorted, each once; none or too many refused in one line."""
    ids = sorted({text.strip() for text in raw if text.strip()})
    if not ids:
        raise InvalidInput("name at least one case id")
    if len(ids) > MAX_CASES:
        raise InvalidInput(f"{len(ids)} cases: a special report covers at most {MAX_CASES}")
    long = next((i for i in ids if len(i) > MAX_ID), None)
    if long is not None:
        raise InvalidInput(f"case id {long[:MAX_ID]!r}…: longer than {MAX_ID} characters")
    return tuple(ids)


def identity(ids: Sequence[str]) -> str:
    """`SPECIAL-<id>` for one case; a cluster adds how many more and a digest of all ids, so
    two clusters sharing a first case never share files."""
    if len(ids) == 1:
        return f"SPECIAL-{ids[0]}"
    digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:8]
    return f"SPECIAL-{ids[0]}+{len(ids) - 1}-{digest}"


@dataclass(frozen=True)
class Special:
    ids: tuple[str, ...]
    cases: tuple[dict[str, Any], ...]  # one per case, in id order (`case_brief`)
    summary: dict[str, Any]
    data_hash: str

    @property
    def identity(self) -> str:
        return identity(self.ids)

    def content(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "ids": list(self.ids), "summary": self.summary,
                "cases": list(self.cases)}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _first(values: Iterable[str]) -> str:
    return next((v for v in values if v), "")


def _risk(d: Dossier) -> dict[str, Any]:
    case, signals = d.case, d.signals
    triage = d.gate_record("triage")
    outcome = triage.outcome if triage is not None else {}
    return {
        "id": case.id, "title": case.title, "state": case.state, "category": case.category,
        "hazards": list(dict.fromkeys(case.hazards or ())), "province": case.province,
        "priority": case.priority, "created_at": _iso(case.created_at),
        "closed_at": _iso(case.closed_at),
        "product": " ".join(p for p in (_first(s.product.name for s in signals),
                                         _first(s.product.brand for s in signals),
                                         _first(s.product.model for s in signals)) if p),
        "batch": _first(s.product.batch for s in signals),
        "target_users": signals[0].product.target_users if signals else None,
        "enterprise": _first(s.enterprise.name or s.enterprise.credit_code for s in signals),
        "preliminary_risk": outcome.get("risk"),
        "flags": list(outcome.get("flags") or ()),
        "interim_measures": list(outcome.get("interim_measures") or ()),
    }


def _evidence(d: Dossier) -> dict[str, Any]:
    signals: list[dict[str, Any]] = [
        {"channel": s.channel, "reference": s.reference, "received_at": _iso(s.received_at),
         "title": s.title, "description": s.description, "injured": s.injuries.count,
         "severe": s.injuries.severe, "fatalities": s.injuries.fatalities,
         "children": s.injuries.children} for s in d.signals]
    keys = ("item", "result", "standard", "value", "laboratory", "source")
    lab: list[dict[str, Any]] = [{key: r.get(key, "") for key in keys}
                                 for r in d.lab_evidence()]
    return {"signals": signals, "lab_results": lab,
            "injured": sum(s["injured"] for s in signals),
            "severe": sum(s["severe"] + s["fatalities"] for s in signals),
            "failed_items": sum(r["result"] == "fail" for r in lab)}


def _assessment(d: Dossier, rounds: dict[int, ScoringRound]) -> dict[str, Any] | None:
    record = d.gate_record("assessment")
    if record is None:
        return None
    outcome = record.outcome or {}
    final = rounds.get(int(outcome.get("rounds") or 0))
    result = (final.result if final is not None else None) or {}
    return {
        "risk_level": outcome.get("risk_level"), "severity": outcome.get("severity"),
        "band_label": outcome.get("band_label"), "consensus": outcome.get("consensus"),
        "rounds": outcome.get("rounds"), "level_stable": outcome.get("level_stable"),
        "scope": outcome.get("scope"), "vulnerable_users": outcome.get("vulnerable_users"),
        "panel_measures": list(outcome.get("panel_measures") or ()),
        "kendall_w": outcome.get("kendall_w"), "experts": result.get("n"),
        "iqr": result.get("iqr"), "share_within_one": result.get("share_within_one"),
        "dissent": len(result.get("outliers") or ()), "completed_at": _iso(record.completed_at),
    }


def _disposal(d: Dossier, review: DisposalReview | None) -> dict[str, Any] | None:
    """The decision (approved or overridden) or, while it waits, the rulebook's proposal."""
    if review is None:
        return None
    proposed = [m["code"] for m in review.proposal.get("measures") or ()]
    return {"status": review.status, "proposed": proposed, "decided": list(review.measures),
            "by": review.decided_by, "at": _iso(review.decided_at),
            "justification": review.justification,
            "notify": list(review.proposal.get("notify") or ()),
            "added": list((review.difference or {}).get("added") or ()),
            "removed": list((review.difference or {}).get("removed") or ())}


def _actions(rows: Sequence[FollowUpAction], on: date) -> list[dict[str, Any]]:
    return [{"number": a.number, "measure": a.measure, "due_on": a.due_on.isoformat(),
             "status": a.status, "outcome": a.outcome,
             "completed_at": _iso(a.completed_at),
             "overdue": a.overdue_at is not None
             or (a.status not in FINAL and a.due_on < on)} for a in rows]


def case_brief(d: Dossier, rounds: dict[int, ScoringRound], review: DisposalReview | None,
               actions: Sequence[FollowUpAction], links: dict[str, Any],
               on: date) -> dict[str, Any]:
    """One case as the report shows it (JSON-able: the data hash covers it)."""
    return {"risk": _risk(d), "evidence": _evidence(d), "assessment": _assessment(d, rounds),
            "disposal": _disposal(d, review), "actions": _actions(actions, on),
            "escalation": links}


def summarise(briefs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The cluster at a glance: the highest assessed level, the measures decided or proposed."""
    levels = [b["assessment"]["risk_level"] for b in briefs
              if b["assessment"] and b["assessment"]["risk_level"] in LEVELS]
    measures: list[str] = []
    for brief in briefs:
        disposal = brief["disposal"] or {}
        measures += disposal.get("decided") or disposal.get("proposed") or []
    return {"cases": len(briefs),
            "signals": sum(len(b["evidence"]["signals"]) for b in briefs),
            "injured": sum(b["evidence"]["injured"] for b in briefs),
            "severe": sum(b["evidence"]["severe"] for b in briefs),
            "failed_items": sum(b["evidence"]["failed_items"] for b in briefs),
            "highest_level": max(levels, key=LEVELS.index) if levels else None,
            "assessed": len(levels), "measures": list(dict.fromkeys(measures)),
            "categories": sorted({b["risk"]["category"] for b in briefs})}


def special(db: Database, ids: Sequence[str], *, now: datetime | None = None) -> Special:
    """The special report's data for these (parsed, sorted) case ids; unknown ids → NotFound
    naming every one."""
    with db.read_session() as session:
        known = set(session.exec(select(Case.id).where(col(Case.id).in_(list(ids)))).all())
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound(f"no case {', '.join(missing)}" if len(missing) <= 5 else
                           f"no case {', '.join(missing[:5])} (and {len(missing) - 5} more)")
        rounds: dict[str, dict[int, ScoringRound]] = {}
        for r in session.exec(select(ScoringRound).where(col(ScoringRound.case_id).in_(ids))):
            rounds.setdefault(r.case_id, {})[r.round_no] = r
        reviews = {r.case_id: r for r in session.exec(
            select(DisposalReview).where(col(DisposalReview.case_id).in_(ids)))}
        actions: dict[str, list[FollowUpAction]] = {}
        for a in session.exec(select(FollowUpAction).where(col(FollowUpAction.case_id).in_(ids))
                              .order_by(col(FollowUpAction.number))):
            actions.setdefault(a.case_id, []).append(a)
        links: dict[str, dict[str, Any]] = {i: {"behind": [], "escalated_to": [],
                                                "pattern": None} for i in ids}
        for link in session.exec(select(CaseLink).where(
                CaseLink.kind == LINK_KIND, col(CaseLink.case_id).in_(ids)
                | col(CaseLink.linked_case_id).in_(ids)).order_by(col(CaseLink.id))):
            if link.case_id in links:
                links[link.case_id]["behind"].append(link.linked_case_id)
                links[link.case_id]["pattern"] = links[link.case_id]["pattern"] or dict(
                    (link.detail or {}).get("pattern") or {})
            if link.linked_case_id in links:
                links[link.linked_case_id]["escalated_to"].append(link.case_id)
    on = today(now)
    briefs = tuple(case_brief(d, rounds.get(d.case.id, {}), reviews.get(d.case.id),
                              actions.get(d.case.id, []), links[d.case.id], on)
                   for d in load_dossiers(db, list(ids)))
    summary = summarise(briefs)
    draft = {"schema": SCHEMA, "ids": list(ids), "summary": summary, "cases": list(briefs)}
    return Special(tuple(ids), briefs, summary, content_hash(draft))
