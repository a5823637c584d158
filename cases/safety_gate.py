"""EU Safety Gate alerts → RiskGate signals (the foreign-regulator channel's real feed).

The published text is messy (stray whitespace, "None" strings, inconsistent dates); the mapping
keeps to what the alert actually says and records the authority's own measure as evidence
(`source_measure`), never as the answer. Where the alert is silent (domestic sales, enterprise),
the signal says so and triage asks or assumes openly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cases.errors import InvalidInput
from cases.signals import SignalIn, parse_signal

CATEGORY_MAP = {
    "motor vehicles": "motor_vehicles",
    "cosmetics": "cosmetics",
    "toys": "toys",
    "childcare articles and children's equipment": "childcare",
    "electrical appliances and equipment": "electrical_appliances",
    "lighting chains": "lighting",
    "lighting equipment": "lighting",
    "laser pointers": "electrical_appliances",
    "clothing, textiles and fashion items": "textiles",
    "protective equipment": "protective_equipment",
    "other - personal protective equipment": "protective_equipment",
    "hobby/sports equipment": "sports_leisure",
    "kitchen/cooking accessories": "kitchenware",
    "food-imitating products": "other_consumer",
}
HAZARD_MAP = {
    "injuries": "injuries", "chemical": "chemical", "choking": "choking", "fire": "fire",
    "electric shock": "electric_shock", "strangulation": "strangulation",
    "environment": "environment", "damage to sight": "damage_to_sight", "drowning": "drowning",
    "burns": "burns", "suffocation": "suffocation", "entrapment": "entrapment",
    "microbiological": "microbiological", "damage to hearing": "damage_to_hearing",
    "health risk / other": "other", "cuts": "injuries",
}
CHINA = "people's republic of china"
_OVER_LIMIT = re.compile(r"prohibited|forbidden|banned|not (?:permitted|allowed)|exceed|higher than"
                         r"|above the (?:limit|maximum)|restricted", re.IGNORECASE)
_INFANTS = re.compile(r"36 months|under 3|babies|baby|infant|newborn", re.IGNORECASE)
_STANDARD = re.compile(r"\bEN(?: ISO)? \d[\d\-:]*")


def _clean(value: object) -> str:
    text = " ".join(str(value or "").split())
    return "" if text.lower() in ("none", "unknown", "null", "n/a") else text


def _target_users(category: str, kind: str, text: str) -> str:
    if kind.lower() == "professional":
        return "professional"
    if category in ("toys", "childcare"):
        return "infants" if (category == "childcare" or _INFANTS.search(text)) else "children"
    return "general"


def alert_to_signal_data(alert: dict, *, received_at: datetime) -> dict:
    """Map one alert to signal data (validated by the caller through parse_signal)."""
    category = CATEGORY_MAP.get(_clean(alert.get("product_category")).lower(), "other_consumer")
    hazards = []
    for part in _clean(alert.get("risk_type")).split(","):
        code = HAZARD_MAP.get(part.strip().lower())
        if code and code not in hazards:
            hazards.append(code)
    description = _clean(alert.get("risk_description"))
    origin = _clean(alert.get("country_of_origin"))
    standard_match = _STANDARD.search(description)
    notifier = _clean(alert.get("notifying_country"))
    product_name = _clean(alert.get("product_name"))
    brand = _clean(alert.get("brand"))
    return {
        "channel": "foreign_regulator",
        "reference": _clean(alert.get("alert_number")),
        "received_at": received_at.isoformat(),
        "title": " · ".join(p for p in (product_name, brand) if p)[:200],
        "description": description,
        "product": {
            "category": category,
            "name": product_name[:200],
            "brand": brand[:200],
            "model": _clean(alert.get("product_description"))[:200],
            "batch": _clean(alert.get("company_recall_code"))[:200],
            "target_users": _target_users(category, _clean(alert.get("type")),
                                          f"{product_name} {description}"),
            # Made in China and notified abroad: a domestic manufacturer, not an import.
            "imported": origin.lower() != CHINA,
            "origin_country": origin[:200],
            "sale_channel": "both",
            # Whether it is sold here is not in the alert: assumed until checked (triage T403).
            "on_market": True,
            "with_consumers": True,
            "standard": (standard_match.group(0) if standard_match
                         else "EU harmonised legislation (as notified)"),
        },
        "hazards": hazards,
        "substance_over_limit": "chemical" in hazards and bool(_OVER_LIMIT.search(description)),
        "lab_results": [{
            "item": _clean(alert.get("risk_type")) or "safety",
            "result": "fail",
            "standard": standard_match.group(0) if standard_match else "",
            "laboratory": f"{notifier} market surveillance authority" if notifier else "",
        }],
        "source_measure": _clean(alert.get("measure_category"))[:200],
    }


def read_alerts(path: Path, *, received_at: datetime) -> Iterator[SignalIn]:
    """Yield validated signals from a Safety Gate JSONL file; a bad line names its number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            alert = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        yield parse_signal(alert_to_signal_data(alert, received_at=received_at),
                           source=f"{path}:{number}")
