"""Assessment (风险评估): a closed scoring round aggregated; consensus (or the last round)
completes the gate, otherwise the next Delphi round opens with anonymised feedback."""

from __future__ import annotations

from datetime import timedelta

from cases.commits import GateCommit, RoundOpening
from cases.errors import WrongState
from cases.lifecycle import Event
from cases.models import VOTING_ROLES, utcnow
from cases.panel_history import panel_history
from cases.store import Dossier
from experts.aggregation import next_step
from experts.assessment import AssessmentSummary, round_results
from experts.notices import notice
from experts.protocol import Protocol
from flows.gates.common import (
    SYSTEM_ACTOR,
    StepContext,
    StepResult,
    commit,
    lang_of,
    write_report,
)
from rules.risk_matrix import BAND_LABELS


def _scores_for_report(d: Dossier, upto: int) -> dict[str, list[dict]]:
    """Scores by round number as text (a report's data is JSON, whose keys are text)."""
    return {str(r): [{"expert_id": s.expert_id, "severity": s.severity,
                 "band": BAND_LABELS[s.band], "probability": s.probability,
                 "measures": s.measures, "rationale": s.rationale,
                 "confidence": s.confidence, "vulnerable_users": s.vulnerable_users,
                 "spread": s.spread} for s in d.scores_of(r)]
            for r in range(1, upto + 1)}


def step(ctx: StepContext, d: Dossier) -> StepResult:
    round_no = d.case.scoring_round
    current = d.round(round_no)
    if current is None or current.is_open:
        raise WrongState(f"case {d.case.id}: scoring round {round_no} is not closed")
    protocol = Protocol.from_dict(current.protocol)
    results = round_results({r: d.scores_of(r) for r in range(1, round_no + 1)}, protocol)
    latest = results[-1]
    decided = next_step(results, protocol)
    if decided == "next_round":
        deadline = utcnow() + timedelta(days=protocol.round_days)
        voting = [s for s in d.seats if s.active and s.role in VOTING_ROLES]
        notices = [notice("round_opened", lang=lang_of(d), expert_id=s.expert_id,
                          case_id=d.case.id, title=d.case.title,
                          round_no=round_no + 1, deadline=deadline, role=s.role,
                          link_days=ctx.settings.link_days) for s in voting]
        return commit(ctx, d, GateCommit(
            case_id=d.case.id, event=Event.ASSESSMENT_NEXT_ROUND, round=round_no,
            owner=ctx.owner, actor=SYSTEM_ACTOR, close_round=(round_no, latest.to_dict()),
            open_round=RoundOpening(round_no + 1, protocol.quorum, protocol.to_dict(),
                                    latest.feedback(), deadline),
            notices=notices,
            audit_detail={"closed_round": round_no, "consensus": False}),
            summary={"round": round_no, "consensus": False, "next_round": round_no + 1})
    actor = "expert panel: " + ", ".join(s.expert_id for s in d.scores_of(round_no))
    report = write_report(ctx, d, "assessment", 1, actor, protocol=protocol.to_dict(),
                          rounds=[r.to_dict() for r in results],
                          scores=_scores_for_report(d, round_no), outcome_step=decided,
                          history=panel_history(ctx.db, d))
    summary = AssessmentSummary.from_rounds(results)
    return commit(ctx, d, GateCommit(
        case_id=d.case.id, event=Event.ASSESSMENT_DONE, owner=ctx.owner, actor=actor,
        outcome=summary.to_outcome(), report=report,
        close_round=(round_no, latest.to_dict()), case_fields={"risk_level": summary.risk_level}))
