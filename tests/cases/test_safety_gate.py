"""The 182 real EU Safety Gate alerts become valid foreign-regulator signals, through the
channel's mapping (cases/feeds/channels/foreign_regulator.yaml), exactly as the hand-written
mapping it replaced made them (tests/fixtures/safety_gate_signals.json, frozen from it)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from cases.feeds import channel_mapping, read_rows
from flows.demo import SAFETY_GATE_FILE, demo_cases

FROZEN = Path(__file__).parents[1] / "fixtures" / "safety_gate_signals.json"
RECEIVED = datetime(2026, 11, 1, tzinfo=UTC)


@cache
def rows() -> tuple:
    return tuple(read_rows(SAFETY_GATE_FILE, channel_mapping("foreign_regulator"),
                           received_at=RECEIVED))


def alerts() -> dict:
    return {row.reference: row.signal for row in rows()}


def test_the_mapping_reproduces_the_signals_of_the_code_it_replaced():
    frozen = json.loads(FROZEN.read_text(encoding="utf-8"))
    assert [row.problems for row in rows()] == [()] * 182
    assert [row.signal.model_dump(mode="json") for row in rows()] == frozen


def test_every_alert_maps_to_a_valid_signal():
    signals = alerts()
    assert len(signals) == 182
    categories = Counter(s.product.category for s in signals.values())
    assert categories["motor_vehicles"] == 75
    assert categories["cosmetics"] == 31
    assert categories["toys"] == 25
    assert all(s.channel == "foreign_regulator" for s in signals.values())
    assert all(s.lab_results and s.lab_results[0].result == "fail" for s in signals.values())
    assert [row.line for row in rows()] == list(range(1, 183))


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


def test_the_demo_takes_its_foreign_alerts_through_the_mapping():
    cases = demo_cases(8, "t")
    dye = next(c for c in cases if c.key == "cosmetic_banned_substance")
    assert dye.signal.reference == "A12/00719/24/demo-t"
    assert dye.signal.substance_over_limit is True
    extra = [c for c in cases if c.key.startswith("safety_gate_")]
    assert len(cases) == 8 and extra
    assert all(c.signal.channel == "foreign_regulator" and c.truth for c in extra)
