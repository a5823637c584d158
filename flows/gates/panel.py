"""Panel (专家组): the expert panel chosen from the roster, with every seat and exclusion
explained; the first scoring round opens. With too few eligible experts the case waits for
staff with the reason, and the sweeper takes it up again when experts free up."""

from __future__ import annotations

from datetime import timedelta

from cases import scenarios
from cases.commits import GateCommit, RoundOpening, SeatsTaken, WorkloadCheck
from cases.lifecycle import Event
from cases.models import utcnow
from cases.panels import plan, profiles, request_for
from cases.scenarios import default_scenario
from cases.store import Dossier
from experts.conflicts import cap_of
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

SEATING_ATTEMPTS = 5


def step(ctx: StepContext, d: Dossier) -> StepResult:
    protocol = Protocol()
    request = request_for(ctx.db, d)
    for attempt in range(1, SEATING_ATTEMPTS + 1):
        roster = profiles(ctx.db)
        batch = plan(ctx.db, request, roster, protocol)
        selection = batch.selections.get(d.case.id)
        if selection is None:
            unavailable = batch.unavailable[d.case.id]
            return commit(ctx, d, GateCommit(
                case_id=d.case.id, event=Event.PANEL_UNAVAILABLE, owner=ctx.owner,
                actor=SYSTEM_ACTOR, case_fields={"waiting_reason": str(unavailable)},
                audit_detail={"reason": str(unavailable), "eligible": unavailable.eligible,
                              "needed": unavailable.needed}),
                summary={"waiting_for_staff": str(unavailable)})
        experts = {e.id: {"name": e.name, "affiliation": e.affiliation,
                          "seniority": e.seniority} for e in roster}
        report = write_report(ctx, d, "panel", 1, SYSTEM_ACTOR, protocol=protocol.to_dict(),
                              selection=selection.to_dict(), experts=experts, request={
                                  "category": request.category,
                                  "hazards": list(request.hazards),
                                  "enterprise_name": "; ".join(request.enterprises)})
        outcome = {"panel": [{"expert_id": s.expert_id, "role": s.role}
                             for s in selection.seats],
                   "excluded": len(selection.excluded)}
        deadline = utcnow() + timedelta(days=protocol.round_days)
        names = {e.id: e.name for e in roster}
        notices = [notice("seated", lang=lang_of(d), expert_id=s.expert_id,
                          expert_name=names[s.expert_id], case_id=d.case.id,
                          title=d.case.title, round_no=1, deadline=deadline, role=s.role,
                          link_days=ctx.settings.link_days) for s in selection.voting]
        try:
            return commit(ctx, d, GateCommit(
                case_id=d.case.id, event=Event.PANEL_SEATED, owner=ctx.owner,
                actor=SYSTEM_ACTOR, outcome=outcome, report=report,
                case_fields={"waiting_reason": ""},
                seats=[{"expert_id": s.expert_id, "role": s.role, "match": s.match,
                        "reasons": list(s.reasons)} for s in selection.seats],
                workload=WorkloadCheck(
                    tuple(s.expert_id for s in selection.voting),
                    {e.id: cap_of(e, protocol.max_open_seats) for e in roster}),
                open_round=RoundOpening(1, protocol.quorum, protocol.to_dict(), None,
                                        deadline),
                scenarios=[] if scenarios.of_case(ctx.db, d.case.id)
                else [default_scenario(d)],
                notices=notices))
        except SeatsTaken:
            if attempt == SEATING_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
