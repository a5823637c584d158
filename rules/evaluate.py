"""Evaluating a whole case file (`riskgate rules eval CASE.json`): triage, risk, disposal.

The case file holds the triage facts and, optionally, an assessment (injury scenarios plus the
disposal-only context). The risk level comes from the matrix per scenario, highest wins, with the
sensitivity check; disposal runs only if triage sends the case on to assessment. An example is
docs/samples/case.json; the fields are listed by `riskgate rules fields`.
"""

from __future__ import annotations

from typing import Any

from cases.lifecycle import FAST_TRACK, routes_to_assessment
from rules.decisions import decide_disposal, decide_triage
from rules.risk_matrix import Scenario, assess, check_severity, parse_probability
from rules.rulebook import Rulebook
from rules.schema import FactError, fields

CASE_KEYS = {"triage", "assessment"}
ASSESSMENT_KEYS = {"scenarios", "consensus", "scope", "panel_measures", "with_consumers",
                   "cases_category_180d", "cases_enterprise_180d", "cases_province_180d",
                 "escalation"}
SCENARIO_KEYS = {"severity", "probability", "population", "description"}


def _scenarios(raw: Any) -> list[Scenario]:
    if not isinstance(raw, list) or not raw:
        raise FactError("assessment.scenarios: give at least one injury scenario")
    found = []
    for index, item in enumerate(raw):
        where = f"assessment.scenarios[{index}]"
        if not isinstance(item, dict):
            raise FactError(f"{where}: expected an object")
        unknown = set(item) - SCENARIO_KEYS
        if unknown:
            raise FactError(f"{where}.{sorted(unknown)[0]}: unknown key; allowed: "
                            + ", ".join(sorted(SCENARIO_KEYS)))
        try:
            severity = check_severity(item.get("severity"))  # type: ignore[arg-type]
            band, _ = parse_probability(str(item.get("probability", "")))
        except ValueError as exc:
            raise FactError(f"{where}: {exc}") from None
        population = item.get("population", "general")
        if population not in fields("triage")["target_users"].values:
            raise FactError(f"{where}.population: unknown value {population!r}")
        found.append(Scenario(severity, band, population, str(item.get("description", ""))))
    return found


def evaluate_case(data: Any, triage_book: Rulebook, disposal_book: Rulebook) -> dict:
    if not isinstance(data, dict):
        raise FactError("a case file is a JSON object with `triage` and optional `assessment`")
    unknown = set(data) - CASE_KEYS
    if unknown:
        raise FactError(f"{sorted(unknown)[0]}: unknown key; a case file has `triage` and "
                        "optional `assessment`")
    if "triage" not in data:
        raise FactError("triage: missing (the triage facts)")
    triage = decide_triage(triage_book, data["triage"])
    result: dict[str, Any] = {"triage": triage.to_dict()}
    raw = data.get("assessment")
    if raw is None or not routes_to_assessment(triage.next_gate):
        return result
    if not isinstance(raw, dict):
        raise FactError("assessment: expected an object")
    unknown = set(raw) - ASSESSMENT_KEYS
    if unknown:
        raise FactError(f"assessment.{sorted(unknown)[0]}: unknown key; allowed: "
                        + ", ".join(sorted(ASSESSMENT_KEYS)))
    assessment = assess(_scenarios(raw.get("scenarios")))
    shared = {name: triage.facts[name] for name in fields("disposal") if name in triage.facts}
    facts = {
        **shared,
        "risk_level": assessment.level,
        "severity": assessment.deciding.severity,
        "probability_band": assessment.deciding.band,
        "level_stable": assessment.sensitivity.stable,
        "consensus": raw.get("consensus", True),
        "scope": raw.get("scope", "enterprise"),
        "with_consumers": raw.get("with_consumers", True),
        "fast_tracked": triage.next_gate == FAST_TRACK,
        "panel_measures": raw.get("panel_measures", []),
        "cases_category_180d": raw.get("cases_category_180d", 1),
        "cases_enterprise_180d": raw.get("cases_enterprise_180d", 1),
        "cases_province_180d": raw.get("cases_province_180d", 1),
        "escalation": raw.get("escalation", "none"),
    }
    disposal = decide_disposal(disposal_book, facts)
    result["assessment"] = assessment.to_dict()
    result["disposal"] = disposal.to_dict()
    return result
