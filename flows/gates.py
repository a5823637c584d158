"""The gate steps and the loop that advances a case: plain Python, no Prefect.

Each step reads the case's dossier, asks `rules`/`experts` for a decision, has `reports` write
the gate's report, and commits everything through `cases.commits` in one transaction. `advance`
runs steps until the case waits for people or closes. The Prefect flow (flows/case_flow.py) runs
exactly this loop with each step as a task, so everything here is testable without Prefect.

Crash safety: a step writes its report (atomically, at a fixed path) *before* its commit; a
crash in between leaves the gate incomplete and the next run rewrites the same file. Failpoints
`<gate>.before_commit` / `<gate>.after_commit` let tests kill the process at exactly those points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cases import failpoints, lease, store
from cases.commits import (
    DecisionRecord,
    GateCommit,
    ReportFile,
    RoundOpening,
    check_rulebook_version,
    commit_gate,
)
from cases.config import Settings
from cases.db import Database, database
from cases.errors import CaseBusy, WrongState
from cases.facts import AssessmentSummary, disposal_facts, merge_signals, triage_facts
from cases.follow_up import plan as follow_up_plan
from cases.lifecycle import CLOSED, after_triage, gate_number, successor
from cases.models import utcnow
from cases.store import Dossier
from experts.aggregation import ExpertScore, aggregate_round, next_step
from experts.panel import ExpertProfile, PanelRequest, select_panel
from experts.protocol import Protocol
from reports.render import render_report
from rules.decisions import decide_disposal, decide_triage
from rules.domain import domain
from rules.risk_matrix import BAND_LABELS
from rules.rulebook import Rulebook, current_rulebook
from rules.schema import InputKind

SYSTEM_ACTOR = "riskgate"


@dataclass
class StepContext:
    settings: Settings
    db: Database
    case_id: str
    owner: str  # the lease
    flow_run_id: str | None = None


@dataclass(frozen=True)
class StepResult:
    gate: str
    completed: bool  # False: the gate is waiting for people (another round, lab results)
    state: str
    next_gate: str
    summary: dict = field(default_factory=dict)  # short, for the Prefect artifact
    report: str | None = None


# --------------------------------------------------------------------------------------------
# shared helpers


def _header(d: Dossier) -> dict:
    case = d.case
    return {"id": case.id, "title": case.title, "lang": case.lang,
            "channel": d.signals[0].channel, "category": case.category,
            "hazards": list(case.hazards), "opened_by": case.opened_by,
            "created_at": case.created_at, "priority": case.priority,
            "risk_level": case.risk_level}


def _report(ctx: StepContext, d: Dossier, gate: str, round_no: int, actor: str,
            **context: Any) -> ReportFile:
    name = f"{gate_number(gate):02d}-{gate}" + (f"-r{round_no}" if round_no > 1 else "")
    relative = f"reports/{d.case.id}/{name}.docx"
    rendered = render_report(
        gate,
        {"case": _header(d), "case_id": d.case.id, "gate": gate, "round": round_no,
         "generated_at": utcnow(), "actor": actor, "launched_by": d.case.opened_by, **context},
        lang=d.case.lang, out_path=ctx.settings.home / relative)
    return ReportFile(path=relative, sha256=rendered.sha256, size=rendered.size,
                      template_version=rendered.template_version, lang=d.case.lang)


def _commit(ctx: StepContext, commit: GateCommit) -> None:
    commit.flow_run_id = ctx.flow_run_id
    failpoints.hit(f"{commit.gate}.before_commit")
    commit_gate(ctx.db, commit)
    failpoints.hit(f"{commit.gate}.after_commit")


def _decision_record(rulebook: Rulebook, recorded: dict, outcome: dict) -> DecisionRecord:
    """`recorded` is Decision.to_dict(), serialised once for both the report and the store."""
    return DecisionRecord(rulebook_name=rulebook.name, rulebook_version=rulebook.version,
                          rulebook_sha256=rulebook.sha256, rulebook_text=rulebook.text,
                          facts=recorded["facts"], fired=recorded["fired"],
                          trail=recorded["trail"], outcome=outcome,
                          engine=recorded["engine"])


def _rulebook_info(rulebook: Rulebook) -> dict:
    return {**rulebook.ref(), "title": rulebook.title, "rules": len(rulebook.rules)}


def _lab_results(d: Dossier) -> list[dict]:
    from_signals = [{**r.model_dump(), "source": "signal"}
                    for s in d.signals for r in s.lab_results]
    submitted = [{"item": r.item, "result": r.result, "standard": r.standard, "value": r.value,
                  "laboratory": r.laboratory, "source": r.source} for r in d.lab_results]
    return from_signals + submitted


# --------------------------------------------------------------------------------------------
# the steps


def intake_step(ctx: StepContext, d: Dossier) -> StepResult:
    profile = merge_signals(d.signals)
    report = _report(ctx, d, "intake", 1, d.case.opened_by,
                     signals=[s.model_dump(mode="json") for s in d.signals],
                     profile=dataclasses.asdict(profile))
    gate, state = successor("intake")
    outcome = {"signals": len(d.signals), "channel": profile.channel,
               "missing_info": profile.missing_info}
    _commit(ctx, GateCommit(case_id=d.case.id, gate="intake", owner=ctx.owner,
                            actor=d.case.opened_by, next_gate=gate, next_state=state,
                            outcome=outcome, report=report))
    return StepResult("intake", True, state, gate, outcome, report.path)


def _rulebook(ctx: StepContext, kind: InputKind) -> Rulebook:
    rulebook = current_rulebook(kind)
    check_rulebook_version(ctx.db, rulebook.name, rulebook.version, rulebook.sha256)
    return rulebook


def triage_step(ctx: StepContext, d: Dossier) -> StepResult:
    rulebook = _rulebook(ctx, "triage")
    history = store.history(ctx.db, d.case)
    facts = triage_facts(merge_signals(d.signals), history, [r["result"] for r in _lab_results(d)])
    decision = decide_triage(rulebook, facts)
    round_no = d.case.triage_round + 1
    gate, state = after_triage(decision.next_gate)
    actor = f"{SYSTEM_ACTOR} (rulebook {rulebook.name} {rulebook.version})"
    recorded = decision.to_dict()
    report = _report(ctx, d, "triage", round_no, actor, decision=recorded,
                     rulebook=_rulebook_info(rulebook), resolution=rulebook.resolution)
    outcome = decision.outcome()
    _commit(ctx, GateCommit(
        case_id=d.case.id, gate="triage", round=round_no, owner=ctx.owner, actor=actor,
        next_gate=gate, next_state=state, outcome=outcome, report=report,
        decision=_decision_record(rulebook, recorded, outcome),
        case_fields={"priority": decision.priority, "triage_round": round_no},
        audit_detail={"fired": decision.fired}))
    return StepResult("triage", True, state, gate,
                      {**outcome, "fired": decision.fired}, report.path)


def lab_test_step(ctx: StepContext, d: Dossier) -> StepResult:
    vocab = domain().hazards
    commissioned = [{"hazard": h, "zh": vocab.attr(h, "test_zh"), "en": vocab.attr(h, "test_en")}
                    for h in d.case.hazards] or [
        {"hazard": "other", "zh": vocab.attr("other", "test_zh"),
         "en": vocab.attr("other", "test_en")}]
    results = _lab_results(d)
    if not results:
        # Commissioned; the case waits for results (riskgate lab submit). No report until then.
        _commit(ctx, GateCommit(
            case_id=d.case.id, gate="lab_test", owner=ctx.owner, actor=SYSTEM_ACTOR,
            next_gate="lab_test", next_state="awaiting_lab", complete=False,
            audit_action="gate.lab_test.commissioned",
            audit_detail={"items": [c["hazard"] for c in commissioned]}))
        return StepResult("lab_test", False, "awaiting_lab", "lab_test",
                          {"commissioned": [c["hazard"] for c in commissioned]})
    evidence = "fail" if any(r["result"] == "fail" for r in results) else "pass"
    report = _report(ctx, d, "lab_test", 1, SYSTEM_ACTOR, commissioned=commissioned,
                     results=results, evidence=evidence)
    gate, state = successor("lab_test")
    outcome = {"evidence": evidence, "results": len(results)}
    _commit(ctx, GateCommit(case_id=d.case.id, gate="lab_test", owner=ctx.owner,
                            actor=SYSTEM_ACTOR, next_gate=gate, next_state=state,
                            outcome=outcome, report=report))
    return StepResult("lab_test", True, state, gate, outcome, report.path)


def _profiles(ctx: StepContext) -> list[ExpertProfile]:
    return [ExpertProfile(id=e.id, name=e.name, affiliation=e.affiliation,
                          seniority=e.seniority, categories=tuple(e.categories),
                          hazards=tuple(e.hazards), conflicts=tuple(e.conflicts),
                          active=e.active, email=e.email)
            for e in store.roster(ctx.db)]


def panel_step(ctx: StepContext, d: Dossier) -> StepResult:
    protocol = Protocol()
    first = d.signals[0]
    request = PanelRequest(case_id=d.case.id, category=d.case.category,
                           hazards=tuple(d.case.hazards),
                           enterprise_name=first.enterprise.name,
                           enterprise_code=first.enterprise.credit_code)
    roster = _profiles(ctx)
    selection = select_panel(request, roster, store.open_seats(ctx.db), protocol)
    experts = {e.id: {"name": e.name, "affiliation": e.affiliation, "seniority": e.seniority}
               for e in roster}
    report = _report(ctx, d, "panel", 1, SYSTEM_ACTOR, protocol=protocol.to_dict(),
                     selection=selection.to_dict(), experts=experts, request={
                         "category": request.category, "hazards": list(request.hazards),
                         "enterprise_name": request.enterprise_name})
    outcome = {"panel": [{"expert_id": s.expert_id, "role": s.role} for s in selection.seats],
               "excluded": len(selection.excluded)}
    _commit(ctx, GateCommit(
        case_id=d.case.id, gate="panel", owner=ctx.owner, actor=SYSTEM_ACTOR,
        next_gate="assessment", next_state="awaiting_scores", outcome=outcome, report=report,
        seats=[{"expert_id": s.expert_id, "role": s.role, "match": s.match,
                "reasons": list(s.reasons)} for s in selection.seats],
        open_round=RoundOpening(1, protocol.quorum, protocol.to_dict(), None)))
    return StepResult("panel", True, "awaiting_scores", "assessment", outcome, report.path)


def _round_results(d: Dossier, protocol: Protocol, upto: int) -> list:
    results = []
    for round_no in range(1, upto + 1):
        scores = [ExpertScore(expert_id=s.expert_id, severity=s.severity, band=s.band,
                              measures=tuple(s.measures), rationale=s.rationale,
                              vulnerable_users=s.vulnerable_users, spread=s.spread,
                              confidence=s.confidence)
                  for s in d.scores_of(round_no)]
        results.append(aggregate_round(round_no, scores, protocol))
    return results


def assessment_step(ctx: StepContext, d: Dossier) -> StepResult:
    round_no = d.case.scoring_round
    current = d.round(round_no)
    if current is None or current.status != "closed":
        raise WrongState(f"case {d.case.id}: scoring round {round_no} is not closed")
    protocol = Protocol.from_dict(current.protocol)
    results = _round_results(d, protocol, round_no)
    latest = results[-1]
    step = next_step(results, protocol)
    if step == "next_round":
        _commit(ctx, GateCommit(
            case_id=d.case.id, gate="assessment", round=round_no, owner=ctx.owner,
            actor=SYSTEM_ACTOR, next_gate="assessment", next_state="awaiting_scores",
            complete=False, close_round=(round_no, latest.to_dict()),
            open_round=RoundOpening(round_no + 1, protocol.quorum, protocol.to_dict(),
                                    latest.feedback()),
            audit_action="gate.assessment.round_opened",
            audit_detail={"closed_round": round_no, "consensus": False}))
        return StepResult("assessment", False, "awaiting_scores", "assessment",
                          {"round": round_no, "consensus": False,
                           "next_round": round_no + 1})
    actor = "expert panel: " + ", ".join(s.expert_id for s in d.scores_of(round_no))
    scores = {r: [{"expert_id": s.expert_id, "severity": s.severity,
                   "band": BAND_LABELS[s.band], "probability": s.probability,
                   "measures": s.measures, "rationale": s.rationale,
                   "confidence": s.confidence, "vulnerable_users": s.vulnerable_users,
                   "spread": s.spread} for s in d.scores_of(r)]
              for r in range(1, round_no + 1)}
    report = _report(ctx, d, "assessment", 1, actor, protocol=protocol.to_dict(),
                     rounds=[r.to_dict() for r in results], scores=scores, outcome_step=step)
    outcome = {"risk_level": latest.level, "severity": latest.severity, "band": latest.band,
               "band_label": BAND_LABELS[latest.band], "consensus": latest.consensus,
               "rounds": round_no, "level_stable": latest.sensitivity.stable,
               "scope": latest.spread, "vulnerable_users": latest.vulnerable_users,
               "panel_measures": list(latest.measures.majority),
               "kendall_w": latest.measures.kendall_w}
    gate, state = successor("assessment")
    _commit(ctx, GateCommit(
        case_id=d.case.id, gate="assessment", owner=ctx.owner, actor=actor, next_gate=gate,
        next_state=state, outcome=outcome, report=report,
        close_round=(round_no, latest.to_dict()),
        case_fields={"risk_level": latest.level}))
    return StepResult("assessment", True, state, gate, outcome, report.path)


def disposal_step(ctx: StepContext, d: Dossier) -> StepResult:
    rulebook = _rulebook(ctx, "disposal")
    assessed = d.gate_record("assessment").outcome
    triage = d.gate_record("triage").outcome
    summary = AssessmentSummary(
        risk_level=assessed["risk_level"], severity=assessed["severity"],
        band=assessed["band"], level_stable=assessed["level_stable"],
        consensus=assessed["consensus"], scope=assessed["scope"],
        vulnerable_users=assessed["vulnerable_users"],
        panel_measures=assessed["panel_measures"])
    facts = disposal_facts(merge_signals(d.signals), store.history(ctx.db, d.case), summary,
                           fast_tracked=triage.get("next_gate") == "fast_track")
    decision = decide_disposal(rulebook, facts)
    actor = f"{SYSTEM_ACTOR} (rulebook {rulebook.name} {rulebook.version})"
    recorded = decision.to_dict()
    report = _report(ctx, d, "disposal", 1, actor, decision=recorded,
                     rulebook=_rulebook_info(rulebook), assessment=assessed)
    outcome = decision.outcome()
    gate, state = successor("disposal")
    _commit(ctx, GateCommit(
        case_id=d.case.id, gate="disposal", owner=ctx.owner, actor=actor, next_gate=gate,
        next_state=state, outcome=outcome, report=report,
        decision=_decision_record(rulebook, recorded, outcome),
        case_fields={"measures": decision.measure_codes},
        audit_detail={"fired": decision.fired, "measures": decision.measure_codes}))
    return StepResult("disposal", True, state, gate,
                      {"measures": decision.measure_codes, "fired": decision.fired},
                      report.path)


def follow_up_step(ctx: StepContext, d: Dossier) -> StepResult:
    disposal = d.gate_record("disposal").outcome
    measures = [m["code"] for m in disposal["measures"]]
    plan = follow_up_plan(measures, disposal["notify"], d.case.priority, utcnow())
    report = _report(ctx, d, "follow_up", 1, SYSTEM_ACTOR, plan=plan)
    gate, state = successor("follow_up")
    _commit(ctx, GateCommit(case_id=d.case.id, gate="follow_up", owner=ctx.owner,
                            actor=SYSTEM_ACTOR, next_gate=gate, next_state=state,
                            outcome=plan, report=report))
    return StepResult("follow_up", True, state, gate,
                      {"actions": len(plan["actions"]),
                       "notifications": len(plan["notifications"])}, report.path)


def closure_step(ctx: StepContext, d: Dossier) -> StepResult:
    triage = d.gate_record("triage")
    gates = [{"gate": g.gate, "round": g.round, "completed_at": g.completed_at,
              "actor": g.actor} for g in d.gates]
    reports = [{"gate": r.gate, "round": r.round, "path": r.path, "sha256": r.sha256,
                "template_version": r.template_version} for r in d.reports]
    final = {"priority": d.case.priority, "risk_level": d.case.risk_level,
             "measures": list(d.case.measures or []),
             "referrals": (triage.outcome.get("referrals", []) if triage else []),
             "closed_at_triage": d.gate_record("assessment") is None}
    report = _report(ctx, d, "closure", 1, SYSTEM_ACTOR, gates=gates, reports=reports,
                     final=final, signals=[s.model_dump(mode="json") for s in d.signals])
    _commit(ctx, GateCommit(case_id=d.case.id, gate="closure", owner=ctx.owner,
                            actor=SYSTEM_ACTOR, next_gate=CLOSED, next_state="closed",
                            outcome=final, report=report))
    return StepResult("closure", True, "closed", CLOSED, final, report.path)


GATE_STEPS: dict[str, Callable[[StepContext, Dossier], StepResult]] = {
    "intake": intake_step,
    "triage": triage_step,
    "lab_test": lab_test_step,
    "panel": panel_step,
    "assessment": assessment_step,
    "disposal": disposal_step,
    "follow_up": follow_up_step,
    "closure": closure_step,
}


# --------------------------------------------------------------------------------------------
# the loop

StepRunner = Callable[[str, Callable[[StepContext, Dossier], StepResult], StepContext, Dossier],
                      StepResult]


def run_directly(gate: str, step, ctx: StepContext, dossier: Dossier) -> StepResult:
    return step(ctx, dossier)


@dataclass(frozen=True)
class Advanced:
    case_id: str
    state: str
    gate: str
    steps: list[StepResult]
    started_at: datetime
    finished_at: datetime
    busy: bool = False  # another run held the case; it will advance it


def advance(settings: Settings, case_id: str, *, run_step: StepRunner = run_directly,
            flow_run_id: str | None = None) -> Advanced:
    """Run the case's gates from the first incomplete one until it waits or closes.

    A person's submission can make the case active again at any moment, including between this
    run's last look at the state and the release of its lease — when a continuation started by
    that submission finds the lease taken and ends. So the state is checked again after each
    release, and this run goes on if the case became active meanwhile.
    """
    db = database(settings.database_url)
    started = utcnow()
    steps: list[StepResult] = []
    while True:
        try:
            with lease.leased(db, case_id) as owner:
                ctx = StepContext(settings=settings, db=db, case_id=case_id, owner=owner,
                                  flow_run_id=flow_run_id)
                while True:
                    dossier = store.load_dossier(db, case_id)
                    case = dossier.case
                    if case.state != "active" or case.gate == CLOSED:
                        break
                    steps.append(run_step(case.gate, GATE_STEPS[case.gate], ctx, dossier))
                    lease.renew(db, case_id, owner)
        except CaseBusy:
            case = store.get_case(db, case_id)
            return Advanced(case_id, case.state, case.gate, steps, started, utcnow(),
                            busy=True)
        case = store.get_case(db, case_id)
        if case.state != "active" or case.gate == CLOSED:
            return Advanced(case_id, case.state, case.gate, steps, started, utcnow())
