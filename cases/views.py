"""The case as other tools read it: `riskgate case show ID --json`.

The keys are a contract (tests, scripts and the portal read them): id, state, gate, risk_level,
measures, panel [{expert_id, role}], reports [{gate, path, sha256}]. Add keys; do not rename.
Scores of an open round stay blind: only counts are shown until the round closes.
Report paths are relative to `home` (the data directory) so that a data directory can be moved
or archived whole; `home` is absolute.
"""

from __future__ import annotations

from pathlib import Path

from cases.store import Dossier


def case_summary(dossier: Dossier, home: Path) -> dict:
    case = dossier.case
    current = dossier.round(case.scoring_round) if case.scoring_round else None
    return {
        "id": case.id,
        "title": case.title,
        "state": case.state,
        "gate": case.gate,
        "waiting_reason": case.waiting_reason or None,
        "lang": case.lang,
        "channel": dossier.signals[0].channel if dossier.signals else None,
        "category": case.category,
        "hazards": case.hazards,
        "priority": case.priority,
        "risk_level": case.risk_level,
        "measures": list(case.measures or []),
        "gates_completed": dossier.completed_gates(),
        "panel": [{"expert_id": s.expert_id, "role": s.role} for s in dossier.seats],
        "scoring": None if current is None else {
            "round": current.round_no,
            "status": current.status,
            "submitted": len(dossier.scores_of(current.round_no)),
            "quorum": current.quorum,
        },
        "signals": [{"id": r.id, "channel": r.channel, "reference": r.reference,
                     "grouping": r.grouping, "import_id": r.import_id, "line": r.line}
                    for r in dossier.signal_rows],
        "home": str(home),
        "reports": [{"gate": r.gate, "round": r.round, "path": r.path, "sha256": r.sha256,
                     "template_version": r.template_version, "pdf_path": r.pdf_path,
                     "pdf_sha256": r.pdf_sha256}
                    for r in dossier.reports],
        "opened_by": case.opened_by,
        "created_at": case.created_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }
