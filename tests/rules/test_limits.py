"""durable-rules' limits: a rulebook past them is refused with a clear error before any gate
loads it; one at them compiles quickly (durable hangs at 513 rules or list values)."""

from __future__ import annotations

import time

import pytest

from flows.cli import main
from rules.engine import RuleEngine
from rules.rulebook import RulebookError, parse_rulebook

HEAD = """rulebook: limits
version: "1.0.0"
input: disposal
title: {zh: 测试, en: test}
rules:
"""


def rule(i: int, when: str) -> str:
    return (f"  - id: R{i:04d}\n    title: {{zh: 规则{i}, en: rule {i}}}\n"
            f"    priority: {i % 60000}\n    when: {when}\n"
            "    then: {measures: [recall]}\n    rationale: {zh: 理由, en: why}\n")


def values(n: int, start: int = 0) -> str:
    return ", ".join(str(start + j) for j in range(n))


SHAPES = {
    "513 rules": ("".join(rule(i, f"{{severe_injuries: {{gte: {i}}}}}") for i in range(513)),
                  "513 rules; a rulebook may have at most 500"),
    "a list of 513 values": (rule(0, f"{{severe_injuries: {{in: [{values(513)}]}}}}"),
                             "rule R0000: a list or `any` of 513 alternatives; at most 128"),
    "257 identical conditions": ("".join(rule(i, "{severe_injuries: {gte: 3}}")
                                         for i in range(257)),
                                 "one test is shared by 257 rules"),
    "all nested 15 deep": (rule(0, "{all: [" * 15 + "{severe_injuries: {gte: 3}}"
                                + ", {fatalities: {gte: 0}}]}" * 15),
                           "rule R0000: `all`/`any` nested 15 deep; at most 12"),
    "600 alternatives": ("".join(rule(i, f"{{severe_injuries: {{in: [{values(2, 2 * i)}]}}}}")
                                 for i in range(300)),
                         "600 alternatives in all"),
    "durable's expression limit": (
        rule(0, "{any: [" + ", ".join(
            f"{{all: [{{severe_injuries: {{in: [{values(2, 4 * i)}]}}}}, "
            f"{{fatalities: {{in: [{values(2, 4 * i + 2)}]}}}}]}}" for i in range(8)) + "]}"),
        "nested alternatives (durable's expression limit): flatten `any` of `all` of lists "
        "into separate rules (durable-rules error 113)"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rules_check_refuses_what_durable_cannot_compile(shape, tmp_path, capsys):
    body, message = SHAPES[shape]
    path = tmp_path / "limits.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(SystemExit) as done:
        main(["rules", "check", str(path)])
    assert time.monotonic() - started < 60
    _, err = capsys.readouterr()
    assert done.value.code == 2
    assert err.startswith("error: 1 of 1 rulebook(s) invalid: ") and err.count("\n") == 1
    assert message in err, err
    if "durable-rules error" not in message:  # refused as it loads, before any engine
        with pytest.raises(RulebookError, match=r"at most|shared by"):
            parse_rulebook(HEAD + body)


def test_a_rulebook_at_the_limits_compiles_quickly():
    body = "".join(rule(i, f"{{severe_injuries: {{gte: {i}}}}}") for i in range(372))
    body += rule(400, f"{{fatalities: {{in: [{values(128)}]}}}}")
    rulebook = parse_rulebook(HEAD + body)
    started = time.monotonic()
    RuleEngine().load(rulebook)
    assert time.monotonic() - started < 10
