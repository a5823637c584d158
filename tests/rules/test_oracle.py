"""durable-rules and the reference interpreter must agree on every fired rule and outcome.

1. The shipped rulebooks on thousands of generated cases.
2. Generated rulebooks (random conditions over every field kind and operator, random priorities
   with ties) on generated cases: this checks the compiler to durable JSON, not only the rules
   we happen to have written.

A crash of the process (durable-rules' C code) fails the whole run, so "never crashes" is tested
by simply running all of it in-process.
"""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.decisions import decide_disposal, decide_triage
from rules.engine import RuleEngine
from rules.rulebook import RULEBOOK_DIR, current_rulebook, parse_rulebook
from rules.schema import fields
from tests.rules.generators import facts, strategy
from tests.rules.reference import ReferenceRulebook, comparable

TRIAGE = current_rulebook("triage")
DISPOSAL = current_rulebook("disposal")
REF_TRIAGE = ReferenceRulebook.from_path(RULEBOOK_DIR / "triage.yaml")
REF_DISPOSAL = ReferenceRulebook.from_path(RULEBOOK_DIR / "disposal.yaml")
ENGINE = RuleEngine()


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts("triage"))
def test_triage_agrees_with_the_oracle(case):
    assert comparable(decide_triage(TRIAGE, case, ENGINE)) == REF_TRIAGE.decide(case)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts("disposal"))
def test_disposal_agrees_with_the_oracle(case):
    assert comparable(decide_disposal(DISPOSAL, case, ENGINE)) == REF_DISPOSAL.decide(case)


def test_the_generated_cases_do_exercise_the_rules():
    """Guard against a vacuous oracle test: every rule fires on some generated case."""
    import random

    from tests.rules.generators import random_case

    rng = random.Random(7)
    seen = set()
    for _ in range(3000):
        triage, disposal = random_case(rng)
        seen.update(REF_TRIAGE.decide(triage)["fired"])
        seen.update(REF_DISPOSAL.decide(disposal)["fired"])
    every = {r.id for r in TRIAGE.rules} | {r.id for r in DISPOSAL.rules}
    assert every - seen == set()


# --- generated rulebooks ------------------------------------------------------------------

TRIAGE_FIELDS = fields("triage")


def _values(spec, size: int):
    return st.lists(strategy(spec) if spec.kind != "enum_list" else st.sampled_from(spec.values),
                    min_size=1, max_size=size, unique=True)


@st.composite
def field_test(draw) -> dict:
    spec = TRIAGE_FIELDS[draw(st.sampled_from(sorted(TRIAGE_FIELDS)))]
    if spec.kind == "bool":
        op = draw(st.sampled_from(["eq", "ne"]))
        return {spec.name: {op: draw(st.booleans())}}
    if spec.kind == "int":
        op = draw(st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in"]))
        if op in ("in", "not_in"):
            return {spec.name: {op: draw(_values(spec, 3))}}
        bound = draw(strategy(spec))
        if draw(st.booleans()) and op in ("gte", "lt"):
            return {spec.name: {op: bound, "lte" if op == "gte" else "gte": bound + 3}}
        return {spec.name: {op: bound}} if op != "eq" or draw(st.booleans()) \
            else {spec.name: bound}
    if spec.kind == "enum":
        op = draw(st.sampled_from(["eq", "ne", "in", "not_in"]))
        if op in ("in", "not_in"):
            return {spec.name: {op: draw(_values(spec, 3))}}
        value = draw(st.sampled_from(spec.values))
        return {spec.name: value} if op == "eq" else {spec.name: {op: value}}
    op = draw(st.sampled_from(["has", "has_any", "has_all"]))
    if op == "has":
        return {spec.name: {op: draw(st.sampled_from(spec.values))}}
    return {spec.name: {op: draw(_values(spec, 3))}}


conditions = st.recursive(
    field_test(),
    lambda inner: st.one_of(st.fixed_dictionaries({"all": st.lists(inner, min_size=1,
                                                                     max_size=3)}),
                            st.fixed_dictionaries({"any": st.lists(inner, min_size=1,
                                                                     max_size=3)})),
    max_leaves=5)


@st.composite
def rulebooks(draw) -> str:
    rules = []
    for index in range(draw(st.integers(1, 8))):
        when = "always" if draw(st.integers(0, 15)) == 0 else draw(conditions)
        rules.append({"id": f"G{index:02d}", "title": {"zh": "生成", "en": "generated"},
                      "priority": draw(st.sampled_from([0, 1, 5, 5, 10, 65533])),
                      "when": when,
                      "then": {"flags": [f"g{index:02d}"],
                               "priority": draw(st.sampled_from(["P1", "P2", "P3", "P4"])),
                               "next_gate": draw(st.sampled_from(
                                   ["close", "more_info", "lab_test", "fast_track",
                                    "expert_panel"]))},
                      "rationale": {"zh": "测试", "en": "test"}})
    document = {"rulebook": "generated", "version": "0.0.1", "input": "triage",
                "title": {"zh": "生成", "en": "generated"},
                "resolution": {"next_gate": ["close", "more_info", "lab_test", "fast_track",
                                             "expert_panel"],
                               "defaults": {"priority": "P4", "next_gate": "expert_panel"}},
                "rules": rules}
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rulebooks(), st.lists(facts("triage"), min_size=1, max_size=25))
def test_generated_rulebooks_agree_with_the_oracle(text, cases):
    rulebook = parse_rulebook(text, source="generated.yaml")
    reference = ReferenceRulebook(text)
    for case in cases:
        assert comparable(decide_triage(rulebook, case, ENGINE)) == reference.decide(case), \
            json.dumps(case, ensure_ascii=False)

