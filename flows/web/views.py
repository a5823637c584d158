"""What the portal's pages show, as plain values for the templates: the dossier, the form's
choices and prefilled values, the anonymised feedback and its chart. No storage here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cases.portal import ExpertView
from experts.notices import LOCALES as EXPERT_LOCALES
from experts.notices import when
from experts.scoring import ScoreForm
from reports.i18n import Catalog
from rules.domain import Lang, domain
from rules.risk_matrix import BAND_LABELS, LEVEL_NAMES, LEVELS, level

WEB_LOCALES = Path(__file__).with_name("locales")
STAFF_LOCALES = Path(__file__).with_name("staff_locales")  # console, audit, admin, sign-in


def locale(lang: str) -> Catalog:
    chosen: Lang = "en" if lang == "en" else "zh"
    return Catalog.merged(chosen, WEB_LOCALES, EXPERT_LOCALES, STAFF_LOCALES)


def _text(value: Any, lang: str) -> str:
    """A rulebook's text: one string, or one per language."""
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("zh") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def level_name(level: str | None, lang: str) -> str:
    if level not in LEVEL_NAMES:
        return "—"
    return LEVEL_NAMES[level]["en" if lang == "en" else "zh"]


def chart(distribution: dict[str, int]) -> list[dict[str, Any]]:
    """Bars of the risk-level distribution for an inline SVG (no script)."""
    most = max(distribution.values(), default=0) or 1
    return [{"level": lv, "count": distribution.get(lv, 0), "x": 10 + i * 70,
             "height": round(80 * distribution.get(lv, 0) / most)}
            for i, lv in enumerate(LEVELS)]


def dossier_context(view: ExpertView, lang: str) -> dict[str, Any]:
    vocab = domain()
    shown: Lang = "en" if lang == "en" else "zh"
    signals = []
    for payload in view.signals:
        product = payload.get("product", {})
        enterprise = payload.get("enterprise", {})
        signals.append({
            "channel": vocab.channels.name(payload.get("channel", ""), shown)
            if payload.get("channel") in vocab.channels else payload.get("channel", ""),
            "reference": payload.get("reference", ""),
            "received": str(payload.get("received_at", ""))[:16].replace("T", " "),
            "title": payload.get("title", ""), "description": payload.get("description", ""),
            "product": " ".join(str(product.get(k, "")) for k in ("name", "brand", "model")
                                if product.get(k)),
            "enterprise": enterprise.get("name", ""),
            "hazards": [vocab.hazards.name(h, shown) for h in payload.get("hazards", [])
                        if h in vocab.hazards],
            "injuries": payload.get("injuries", {})})
    triage = None
    if view.triage is not None:
        triage = {"outcome": view.triage.outcome, "rules": [
            {"rule": f.get("rule", ""), "title": _text(f.get("title"), lang),
             "why": _text(f.get("rationale"), lang)} for f in view.triage.trail]}
    feedback = []
    for item in view.feedback:
        distribution = (item.get("distributions") or {}).get("level", {})
        feedback.append({**item, "level_name": level_name(item.get("median_level"), lang),
                         "bars": chart(distribution),
                         "within_one_pct": round(100 * float(item.get("share_within_one", 0)))})
    previous = None
    if view.my_previous is not None:
        p = view.my_previous
        previous = {"level": level_name(level(p.severity, p.band), lang),
                    "severity": p.severity, "band": BAND_LABELS[p.band]}
    versions = [{"version": s.version, "at": when(s.submitted_at),
                 "level": level_name(_level_of(s.severity, s.band), lang)}
                for s in view.my_versions]
    scenarios = [{"number": s.number, "description": s.description,
                  "population": vocab.target_users.name(s.population, shown)
                  if s.population in vocab.target_users else s.population}
                 for s in view.scenarios] or [{"number": 1, "description": view.case.title,
                                               "population": ""}]
    return {
        "view": view, "case": view.case, "seat": view.seat, "signals": signals,
        "lab": view.lab_results, "triage": triage, "scenarios": scenarios,
        "new_number": max(s["number"] for s in scenarios) + 1,
        "feedback": feedback, "previous": previous, "versions": versions,
        "round_no": view.open_round.round_no if view.open_round else view.case.scoring_round,
        "round_open": view.open_round is not None,
        "deadline": when(view.seat.deadline_at) if view.open_round else "—",
        "severities": [1, 2, 3, 4], "bands": BAND_LABELS,
        "measures": [(c, vocab.measures.name(c, shown)) for c in vocab.measures.codes()],
        "spreads": [(c, vocab.scopes.name(c, shown)) for c in vocab.scopes.codes()],
        "populations": [(c, vocab.target_users.name(c, shown))
                        for c in vocab.target_users.codes()],
        "errors": {}, "preview": None, "level_name": lambda lv: level_name(lv, lang),
        "saved": "", "conflict_error": "", "conflict_reason": "",
    }


def _level_of(severity: int, band: int) -> str:
    return level(severity, band)


def form_values(view: ExpertView) -> dict[str, str]:
    """The form prefilled with the expert's latest version in the open round (to revise)."""
    latest = view.latest
    if latest is None:
        return {}
    values: dict[str, str] = {"rationale": latest.rationale, "spread": latest.spread or "",
                              "confidence": str(latest.confidence), "dissent": latest.dissent,
                              "vulnerable_users": "on" if latest.vulnerable_users else ""}
    for rank, code in enumerate(latest.measures, start=1):
        values[f"rank_{code}"] = str(rank)
    for scenario in latest.scenarios or []:
        n = scenario.get("number", 1)
        values[f"s{n}_severity"] = str(scenario.get("severity", ""))
        if scenario.get("steps"):
            values[f"s{n}_steps"] = "\n".join(scenario["steps"])
        elif str(scenario.get("probability", "")) in BAND_LABELS:
            values[f"s{n}_band"] = str(scenario["probability"])
        else:
            values[f"s{n}_probability"] = str(scenario.get("probability", ""))
        if scenario.get("description"):
            values[f"s{n}_description"] = scenario["description"]
            values[f"s{n}_population"] = scenario.get("population", "general")
    return values


def preview_lines(form: ScoreForm, lang: str) -> list[tuple[int, str]]:
    return [(s.number, level_name(s.level, lang)) for s in form.scenarios]
