"""The 182 real EU Safety Gate alerts become valid foreign-regulator signals."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from cases.safety_gate import read_alerts
from flows.demo import SAFETY_GATE_FILE


def alerts() -> dict:
    signals = list(read_alerts(SAFETY_GATE_FILE, received_at=datetime(2026, 11, 1, tzinfo=UTC)))
    return {s.reference: s for s in signals}


def test_every_alert_maps_to_a_valid_signal():
    signals = alerts()
    assert len(signals) == 182
    categories = Counter(s.product.category for s in signals.values())
    assert categories["motor_vehicles"] == 75
    assert categories["cosmetics"] == 31
    assert categories["toys"] == 25
    assert all(s.channel == "foreign_regulator" for s in signals.values())
    assert all(s.lab_results and s.lab_results[0].result == "fail" for s in signals.values())


def test_banned_cosmetic_substance():
    dye = alerts()["A12/00719/24"]
    assert dye.product.category == "cosmetics"
    assert dye.hazards == ["chemical"]
    assert dye.substance_over_limit is True
    assert dye.product.imported is True
    assert dye.source_measure


def test_made_in_china_is_not_an_import_and_professional_products_are_marked():
    signals = alerts().values()
    chinese = [s for s in signals if s.product.origin_country == "People's Republic of China"]
    assert len(chinese) == 56
    assert not any(s.product.imported for s in chinese)
    assert sum(s.product.target_users == "professional" for s in signals) == 7
