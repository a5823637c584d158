"""Rulebook validation: every problem is reported with the file, the line and the rule id."""

from __future__ import annotations

import textwrap

import pytest

from rules.engine import RuleEngine, RuleEngineError
from rules.rulebook import RulebookError, bundled_rulebooks, load_rulebook, parse_rulebook

HEADER = """\
rulebook: triage
version: "1.0.0"
input: triage
title: {zh: 分诊, en: Triage}
resolution:
  next_gate: [close, more_info, lab_test, fast_track, expert_panel]
  defaults: {priority: P4, next_gate: expert_panel}
rules:
"""
GOOD_RULE = """\
  - id: T001
    title: {zh: 儿童窒息, en: Choking}
    priority: 10
    when:
      all:
        - target_users: infants
        - hazards: {has: choking}
    then: {priority: P1, risk: serious}
    rationale: {zh: 推定严重, en: Presumed serious}
"""


def error_of(rules: str, header: str = HEADER) -> RulebookError:
    with pytest.raises(RulebookError) as caught:
        parse_rulebook(header + textwrap.dedent(rules), source="book.yaml")
    return caught.value


def test_the_good_rule_is_accepted_and_compiles():
    book = parse_rulebook(HEADER + GOOD_RULE, source="book.yaml")
    assert book.durable_name.startswith("triage@1.0.0#")
    rule = book.rules[0]
    assert (rule.id, rule.line, rule.fields) == ("T001", 9, ("target_users", "hazards"))
    assert RuleEngine().fire(book, {"target_users": "infants", "hazards": ["choking"]}) == (
        "T001",)


def test_the_engine_sends_only_tested_fields_and_names_a_missing_one():
    book = parse_rulebook(HEADER + GOOD_RULE, source="book.yaml")
    assert book.tested_fields == ("target_users", "hazards")
    engine = RuleEngine()
    # A field no condition reads is not sent (nor needed); a tested one that is absent would
    # silently fail every test in durable, so the engine refuses it by name.
    assert engine.fire(book, {"target_users": "infants", "hazards": ["choking"],
                              "injuries": 3}) == ("T001",)
    with pytest.raises(RuleEngineError, match="fact 'hazards' missing"):
        engine.fire(book, {"target_users": "infants"})


@pytest.mark.parametrize(("rules", "line", "rule_id", "message"), [
    # unknown keys
    (GOOD_RULE.replace("    rationale:", "    descripton: x\n    rationale:"), 17, "T001",
     "unknown key `descripton`"),
    # duplicate ids
    (GOOD_RULE + GOOD_RULE, 18, "T001", "duplicate id (first defined on line 9)"),
    # unknown fields and operators
    (GOOD_RULE.replace("target_users: infants", "target_user: infants"), 14, "T001",
     "unknown field `target_user`"),
    (GOOD_RULE.replace("{has: choking}", "{contains: choking}"), 15, "T001",
     "unknown operator `contains`"),
    (GOOD_RULE.replace("{has: choking}", "{gte: 2}"), 15, "T001",
     "`hazards` (enum_list) cannot use `gte`"),
    # wrong types and unknown values
    (GOOD_RULE.replace("target_users: infants", "injuries: {gte: \"2\"}"), 14, "T001",
     "`injuries` gte: expected a whole number, got '2'"),
    (GOOD_RULE.replace("target_users: infants", "on_market: \"yes\""), 14, "T001",
     "`on_market` eq: expected true or false, got 'yes'"),
    (GOOD_RULE.replace("target_users: infants", "target_users: babies"), 14, "T001",
     "`target_users` eq: unknown value 'babies'"),
    (GOOD_RULE.replace("target_users: infants", "injuries: {in: []}"), 14, "T001",
     "`injuries` in: expected a non-empty list"),
    (GOOD_RULE.replace("hazards: {has: choking}", "hazards: choking"), 15, "T001",
     "`hazards` is a list; test it with has, has_any or has_all"),
    # priorities out of range
    (GOOD_RULE.replace("priority: 10", "priority: -1"), 11, "T001",
     "priority must be a whole number 0..65533"),
    (GOOD_RULE.replace("priority: 10", "priority: 65534"), 11, "T001", "got 65534"),
    (GOOD_RULE.replace("priority: 10", "priority: high"), 11, "T001", "got 'high'"),
    # reserved names
    (GOOD_RULE.replace("target_users: infants", "sid: x"), 14, "T001",
     "`sid` is a reserved name"),
    (GOOD_RULE.replace("target_users: infants", "t: case"), 14, "T001",
     "`t` is a reserved name"),
    (GOOD_RULE.replace("id: T001", "id: $sink"), 9, "$sink", "id '$sink' must be"),
    # outcomes
    (GOOD_RULE.replace("{priority: P1, risk: serious}", "{priority: P0}"), 16, "T001",
     "then: `priority`: unknown value 'P0'"),
    (GOOD_RULE.replace("{priority: P1, risk: serious}", "{measures: [recall]}"), 16, "T001",
     "then: `then` has unknown key `measures`"),
    (GOOD_RULE.replace("{priority: P1, risk: serious}", "{interim_measures: [recal]}"), 16,
     "T001", "unknown code 'recal'"),
    # bilingual texts, and the YAML comma trap that truncates an English title
    (GOOD_RULE.replace("{zh: 儿童窒息, en: Choking}", "{zh: 儿童窒息, en: Choking, small parts}"),
     10, "T001", "title needs exactly `zh` and `en` texts"),
    (GOOD_RULE.replace("rationale: {zh: 推定严重, en: Presumed serious}",
                       "rationale: {zh: 推定严重}"),
     17, "T001", "rationale needs exactly `zh` and `en` texts"),
    # YAML itself
    (GOOD_RULE.replace("    priority: 10", "    priority: 10\n    priority: 20"), 12, None,
     "duplicate key 'priority' (first on line 11)"),
    (GOOD_RULE.replace("rationale: {zh: 推定严重, en: Presumed serious}",
                       "rationale: {zh: 推定严重, en: Note: serious}"), 17, None, "YAML:"),
])
def test_each_problem_names_file_line_and_rule(rules, line, rule_id, message):
    error = error_of(rules)
    assert error.source == "book.yaml"
    assert error.line == line, str(error)
    assert error.rule_id == rule_id
    assert message in str(error)
    where = f"book.yaml:{line}:" + (f" rule {rule_id}:" if rule_id else "")
    assert str(error).startswith(where)


@pytest.mark.parametrize(("header", "line", "message"), [
    (HEADER.replace("input: triage", "input: intake"), 3, "input 'intake' must be one of"),
    (HEADER.replace('version: "1.0.0"', "version: 1.0"), 2, "version 1.0 must be MAJOR.MINOR"),
    (HEADER.replace("rulebook: triage", "Rulebook: triage"), 1, "unknown top-level key"),
    (HEADER.replace("[close, more_info, lab_test, fast_track, expert_panel]",
                    "[close, lab_test, fast_track, expert_panel]"), 5,
     "`resolution.next_gate` must list each of"),
])
def test_header_problems(header, line, message):
    error = error_of(GOOD_RULE, header)
    assert error.line == line and message in str(error)


def test_disposal_rulebooks_refuse_triage_outcomes_and_resolution():
    header = HEADER.replace("rulebook: triage", "rulebook: disposal").replace(
        "input: triage", "input: disposal")
    assert "`resolution` is only used by triage rulebooks" in str(error_of(GOOD_RULE, header))
    no_resolution = "\n".join(line for line in header.splitlines()
                              if not line.startswith(("resolution", "  next_gate",
                                                      "  defaults"))) + "\n"
    rule = GOOD_RULE.replace("target_users: infants", "risk_level: serious")
    assert "`then` has unknown key `priority`" in str(error_of(rule, no_resolution))


def test_unreadable_files(tmp_path):
    with pytest.raises(RulebookError, match="no such file"):
        load_rulebook(tmp_path / "missing.yaml")
    with pytest.raises(RulebookError, match="is a directory, not a rulebook"):
        load_rulebook(tmp_path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("rulebook: caf\xe9".encode("latin-1"))
    with pytest.raises(RulebookError, match="not UTF-8 text"):
        load_rulebook(latin)


@pytest.mark.parametrize("path", bundled_rulebooks(), ids=lambda p: p.name)
def test_every_rulebook_in_the_repo_loads_and_compiles(path):
    book = load_rulebook(path)
    RuleEngine().load(book)  # durable's own C parser sees every condition
    assert len(book.rules) >= 10
    assert len({r.id for r in book.rules}) == len(book.rules)
    for rule in book.rules:
        assert rule.rationale["zh"] and rule.rationale["en"]
