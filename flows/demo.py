"""`riskgate demo`: risk signals of different kinds through every gate, on the real parts.

The demo plays the people: it takes in the signals as its staff account would, launches each
case's flow run through the deployment, and when a case waits for its panel it has simulated
experts submit scores through flows.submissions — the same path as the expert portal — so the
quorum claim starts the continuation exactly as in production. A late expert's score is refused
like any other. Lab results (if a case waits for them) come from a simulated laboratory. Its
approver approves each proposed disposal and its staff complete the follow-up actions through
the same calls as the console's forms (flows/demo_staff.py); one case is left waiting for
approval, for a person to decide on the console.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cases import links, store
from cases.config import Settings
from cases.db import database
from cases.errors import RiskGateError, WrongState
from cases.feeds import channel_mapping, read_rows
from cases.intake import open_case
from cases.signals import parse_signal, read_signal_file
from experts.roster import DEMO_ROSTER, load_roster
from experts.simulation import Truth, simulated_score
from flows import demo_staff
from flows.deployments import REPO_ROOT
from flows.launcher import run_state
from flows.submissions import Submitted, launch_case, submit_lab_results, submit_score
from flows.sweep import sweep_once

SAMPLES = REPO_ROOT / "docs" / "samples"
SAFETY_GATE_FILE = SAMPLES / "safety_gate" / "safety_gate_alerts_2022.jsonl"
DEMO_ACTOR = demo_staff.person("demo-staff").actor  # who opens and launches the demo's cases
CASE_TIMEOUT_SECONDS = 600.0
STAFF_RETRY_SECONDS = 5.0
# Extra demo cases come from Safety Gate categories the demo roster can staff a panel for.
EXTRA_CATEGORIES = ("toys", "childcare", "cosmetics", "electrical_appliances", "lighting")
SEVERITY_BY_HAZARD = {"choking": 4, "strangulation": 4, "suffocation": 4, "electric_shock": 4,
                      "fire": 4, "drowning": 4, "chemical": 3, "burns": 3, "injuries": 3,
                      "entrapment": 3, "damage_to_sight": 3}
TRUTH_BY_MEASURE = {
    "recall": (2, ["recall", "consumer_warning"]),
    "withdrawal": (3, ["delisting", "consumer_warning"]),
    "ban": (3, ["delisting", "market_access"]),
    "removal": (3, ["delisting"]),
    "stop of sales": (3, ["delisting"]),
    "warning": (4, ["consumer_warning", "hazard_disclosure"]),
    "import rejected": (3, ["market_access"]),
}


@dataclass
class DemoCase:
    key: str
    signal: object
    truth: Truth | None
    case_id: str = ""
    opened_at: float = 0.0
    finished_at: float | None = None
    scored_rounds: set[int] = field(default_factory=set)
    late_scores: int = 0
    run_ids: list[str] = field(default_factory=list)
    leave_for_approval: bool = False  # a person approves this one on the console


@dataclass(frozen=True)
class DemoRow:
    case_id: str
    key: str
    channel: str
    state: str
    risk_level: str | None
    measures: list[str]
    gates: list[str]
    reports: int
    rounds: int
    late_scores: int
    seconds: float


def _alerts(received_at: datetime) -> Iterator[tuple[int, dict]]:
    """The Safety Gate alerts as signal data (line, data), through the channel's mapping."""
    for row in read_rows(SAFETY_GATE_FILE, channel_mapping("foreign_regulator"),
                         received_at=received_at):
        if row.signal is None:
            raise RiskGateError(f"{SAFETY_GATE_FILE}:{row.line}: {row.problems[0]}")
        yield row.line, row.signal.model_dump(mode="json")


def _alert(number: str, received_at: datetime) -> dict:
    for _, data in _alerts(received_at):
        if data["reference"] == number:
            return data
    raise RiskGateError(f"{SAFETY_GATE_FILE}: no alert {number}")


def _truth_from_alert(signal) -> Truth:
    severity = max((SEVERITY_BY_HAZARD.get(h, 2) for h in signal.hazards), default=2)
    measure = signal.source_measure.lower()
    band, measures = next((v for k, v in TRUTH_BY_MEASURE.items() if k in measure),
                          (4, ["consumer_warning"]))
    return Truth(severity=severity, band=band, measures=tuple(measures), spread="batch",
                 vulnerable_users=signal.product.target_users in ("infants", "children"))


def _tagged(data: dict, tag: str) -> dict:
    """Each demo run takes in its own signals on its own products (reference and model carry
    the run's tag): runs never group into each other's cases, and the demo can run again on the
    same store. Category-level history still accumulates, so escalation rules show up."""
    product = {**data["product"], "model": f"{data['product'].get('model', '')} demo-{tag}"[:200]}
    return {**data, "reference": f"{data['reference']}/demo-{tag}", "product": product}


def demo_cases(count: int, tag: str) -> list[DemoCase]:
    spec = json.loads((SAMPLES / "demo.json").read_text(encoding="utf-8"))["cases"]
    now = datetime.now(UTC)
    cases: list[DemoCase] = []
    for item in spec[:count]:
        if "signal_file" in item:
            data = read_signal_file(SAMPLES / item["signal_file"]).model_dump(mode="json")
        elif "safety_gate_alert" in item:
            data = _alert(item["safety_gate_alert"], now)
        else:
            data = item["signal"]
        truth = item["truth"]
        cases.append(DemoCase(
            key=item["key"], signal=parse_signal(_tagged(data, tag), source=item["key"]),
            truth=None if truth is None else Truth(**{**truth, "measures": tuple(
                truth["measures"])})))
    if count > len(cases):
        used = {c.signal.reference.split("/demo-")[0] for c in cases}
        for number, data in _alerts(now):
            if len(cases) >= count:
                break
            if data["product"]["category"] not in EXTRA_CATEGORIES \
                    or data["reference"] in used:
                continue
            signal = parse_signal(_tagged(data, tag), source=f"{SAFETY_GATE_FILE}:{number}")
            cases.append(DemoCase(key=f"safety_gate_{data['reference']}", signal=signal,
                                  truth=_truth_from_alert(signal)))
    return cases


def seed_roster(settings: Settings) -> store.RosterChange:
    return store.upsert_experts(database(settings.database_url), load_roster(DEMO_ROSTER),
                                actor=demo_staff.person("demo-admin").actor)


def _score_round(settings: Settings, item: DemoCase, dossier, round_no: int, seed: str) -> None:
    """Every voting member scores, in id order (reproducible); those after the quorum are late
    and refused. The simulation's dissenters are every second expert by id, so a split panel
    stays split within the quorum and the demo shows a second Delphi round."""
    current = dossier.round(round_no)
    feedback = current.feedback if current else None
    panel = sorted(s.expert_id for s in dossier.voting_seats())
    for expert_id in panel:
        form = simulated_score(item.truth, expert_id, round_no, feedback, seed=seed,
                               lang=dossier.case.lang, panel=panel)
        try:
            submitted = submit_score(settings, item.case_id, expert_id, round_no, form,
                                     actor=f"expert:{expert_id} (simulated)")
        except WrongState:
            item.late_scores += 1  # the round closed at the quorum: refused, like a real one
            continue
        if submitted.flow_run_id:
            item.run_ids.append(submitted.flow_run_id)


def _simulated_lab(item: DemoCase) -> list[dict]:
    return [{"item": f"{hazard} test", "result": "fail", "laboratory": "simulated laboratory"}
            for hazard in (item.signal.hazards or ["other"])]


def run_demo(settings: Settings, count: int, *, seed: str = "riskgate",
             progress: Callable[[str], None] = lambda _: None) -> list[DemoRow]:
    db = database(settings.database_url)
    seed_roster(settings)
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    items = demo_cases(count, tag)
    assessed = [item for item in items if item.truth is not None]
    if len(assessed) > 1:  # the last case a panel assesses waits for a person's approval
        assessed[-1].leave_for_approval = True
    for item in items:
        item.opened_at = time.monotonic()
        opened = open_case(db, item.signal, actor=DEMO_ACTOR, lang=settings.lang)
        item.case_id = opened.case_id
        launched = launch_case(settings, item.case_id, actor=DEMO_ACTOR)
        if launched.flow_run_id is None:
            raise RiskGateError(f"{item.case_id}: Prefect could not be reached to start its run")
        item.run_ids.append(launched.flow_run_id)
        progress(f"{item.case_id} {item.key}: opened, flow run started")
    deadline = time.monotonic() + CASE_TIMEOUT_SECONDS
    pending = list(items)
    last_sweep = 0.0
    while pending and time.monotonic() < deadline:
        for item in list(pending):
            dossier = store.load_dossier(db, item.case_id)
            case = dossier.case
            if case.state == "closed" or (case.state == "awaiting_approval"
                                          and item.leave_for_approval):
                item.finished_at = time.monotonic()
                pending.remove(item)
                progress(f"{item.case_id} {item.key}: {case.state.replace('_', ' ')} "
                         f"({item.finished_at - item.opened_at:.1f} s)")
            elif case.state == "awaiting_scores" and case.scoring_round not in item.scored_rounds:
                item.scored_rounds.add(case.scoring_round)
                progress(f"{item.case_id} {item.key}: panel scoring round {case.scoring_round}")
                _score_round(settings, item, dossier, case.scoring_round, seed)
            elif case.state == "awaiting_approval":
                progress(f"{item.case_id} {item.key}: the approver approves the disposal")
                _continued(item, demo_staff.approve(settings, item.case_id))
            elif case.state == "awaiting_actions":
                progress(f"{item.case_id} {item.key}: staff complete the follow-up actions")
                _continued(item, demo_staff.complete_follow_up(settings, item.case_id))
            elif case.state == "awaiting_lab":
                progress(f"{item.case_id} {item.key}: lab results arrive")
                run = submit_lab_results(settings, item.case_id, _simulated_lab(item),
                                         actor="lab:simulated")
                if run.flow_run_id:
                    item.run_ids.append(run.flow_run_id)
            elif case.state == "awaiting_staff":
                # More cases wait for panels than the roster can seat at once: as staff would,
                # take them up again as soon as experts free up (the sweeper does it too, on
                # its schedule).
                if time.monotonic() - last_sweep > STAFF_RETRY_SECONDS:
                    progress(f"{item.case_id} {item.key}: waits for staff "
                             f"({case.waiting_reason})")
                    sweep_once(settings)
                    last_sweep = time.monotonic()
            elif case.state == "active":
                failed = _failed_run(item)
                if failed:
                    raise RiskGateError(f"{item.case_id} ({item.key}): flow run {failed}")
        time.sleep(0.3)
    if pending:
        raise RiskGateError("demo cases still open after "
                            f"{CASE_TIMEOUT_SECONDS:.0f} s: "
                            + ", ".join(f"{i.case_id} ({i.key})" for i in pending))
    return [_row(db, item) for item in items]


def _continued(item: DemoCase, done: Submitted | None) -> None:
    if done is not None and done.flow_run_id:
        item.run_ids.append(done.flow_run_id)


def _failed_run(item: DemoCase) -> str | None:
    """The last run of an active case, if it ended badly (an active case whose run completed
    is about to be picked up again, or is being claimed by a submission)."""
    if not item.run_ids:
        return None
    outcome = run_state(item.run_ids[-1])
    if outcome is None or outcome.state == "Completed":
        return None
    return f"{outcome.flow_run_id} ended {outcome.state}: {outcome.message[:300]}"


def _row(db, item: DemoCase) -> DemoRow:
    dossier = store.load_dossier(db, item.case_id)
    return DemoRow(case_id=item.case_id, key=item.key, channel=item.signal.channel,
                   state=dossier.case.state, risk_level=dossier.case.risk_level,
                   measures=list(dossier.case.measures or []),
                   gates=dossier.completed_gates(), reports=len(dossier.reports),
                   rounds=dossier.case.scoring_round, late_scores=item.late_scores,
                   seconds=(item.finished_at or time.monotonic()) - item.opened_at)


PORTAL_CASE_TIMEOUT = 120.0


@dataclass(frozen=True)
class PortalInvite:
    """A case left for a person: its panel scored but for one expert, who has a link."""

    case_id: str
    expert_id: str
    url: str


def portal_case(settings: Settings, *, seed: str = "riskgate") -> PortalInvite:
    """One more demo case, run through its flow to the panel; simulated experts score all but
    the quorum's last vote, which is left to a person in the portal."""
    db = database(settings.database_url)
    tag = datetime.now(UTC).strftime("portal%Y%m%d%H%M%S%f")
    item = next(c for c in demo_cases(5, tag) if c.truth is not None)
    item.case_id = open_case(db, item.signal, actor=DEMO_ACTOR, lang=settings.lang).case_id
    if launch_case(settings, item.case_id, actor=DEMO_ACTOR).flow_run_id is None:
        raise RiskGateError(f"{item.case_id}: Prefect could not be reached to start its run")
    deadline = time.monotonic() + PORTAL_CASE_TIMEOUT
    while (state := store.get_case(db, item.case_id).state) != "awaiting_scores":
        if state == "awaiting_lab":
            submit_lab_results(settings, item.case_id, _simulated_lab(item),
                               actor="lab:simulated")
        if time.monotonic() > deadline:
            raise RiskGateError(f"{item.case_id}: its panel was not seated within "
                                f"{PORTAL_CASE_TIMEOUT:.0f} s")
        time.sleep(0.3)
    dossier = store.load_dossier(db, item.case_id)
    current = dossier.round(dossier.case.scoring_round)
    quorum = current.quorum if current else len(dossier.voting_seats())
    panel = sorted(s.expert_id for s in dossier.voting_seats())
    for expert_id in panel[:quorum - 1]:
        form = simulated_score(item.truth, expert_id, 1, None, seed=seed,
                               lang=dossier.case.lang, panel=panel)
        submit_score(settings, item.case_id, expert_id, 1, form,
                     actor=f"expert:{expert_id} (simulated)")
    person = panel[quorum - 1]
    link = links.create_link(db, settings, expert_id=person, case_id=item.case_id,
                             by=DEMO_ACTOR)
    return PortalInvite(item.case_id, person, link.url)
