"""What durable-rules 2.0.28 can compile, checked before it is asked to.

durable builds its Rete network in fixed-size C tables and, past some of their sizes, either
fails with an error code or never returns (measured on 2026-12-01; docs/engineering-notes.md):

* 513 rules with distinct conditions, or one `in` list of 513 values: `create_ruleset` hangs
  for good (512 compile in well under a second);
* one test shared by 257 rules: error 108 (a node's beta list holds 256); shared by 129 rules
  inside alternatives: error 107 (a node's next list holds 128);
* `all`/`any` nested 15 deep: error 113 (the expression limit), which also comes from a few
  `any` of `all` of lists.

A rulebook must never hang a gate, so `check_limits` refuses, when the rulebook loads and with
the rule and the number, every shape that comes near the measured hang and error thresholds;
the limits below keep a margin under them. durable's remaining error codes are translated by
`durable_error` into what the rulebook's author can change.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator

MAX_RULES = 500  # durable hangs at 513 (with the hidden sink rule)
MAX_ALTERNATIVES = 500  # the rulebook's alternatives in all (see `alternatives`)
MAX_LIST_VALUES = 128  # values of one `in`/`has_any`/`not_in`/`has_all`
MAX_ANY_ITEMS = 64
MAX_DEPTH = 12  # nested all/any; durable's expression limit is reached at 15
MAX_RULES_PER_TEST = 128  # rules sharing one identical test (errors 107 / 108 beyond)

DURABLE_ERRORS = {
    106: "too many rules",
    107: "too many rules share one test (more than 128 alternatives reach the same test)",
    108: "too many rules share one test (more than 256 rules)",
    113: "a condition is too deeply nested or has too many nested alternatives (durable's "
         "expression limit): flatten `any` of `all` of lists into separate rules",
}


class LimitError(ValueError):
    """A rulebook over one of the limits; `rule_id` names the rule when one rule is at fault."""

    def __init__(self, message: str, rule_id: str | None = None):
        super().__init__(message)
        self.rule_id = rule_id


def _children(expr: dict) -> list[dict] | None:
    for key in ("$and", "$or"):
        if key in expr:
            return list(expr[key])
    return None


def alternatives(expr: dict) -> int:
    """How many ways a compiled condition can be met, as durable fans them out: a `$or` adds
    its branches' counts, a `$and` takes its widest part."""
    if "$or" in expr:
        return sum(alternatives(child) for child in expr["$or"])
    if "$and" in expr:
        return max(alternatives(child) for child in expr["$and"])
    return 1


def depth(expr: dict) -> int:
    """Nesting of `$and`/`$or` in a compiled condition."""
    children = _children(expr)
    return 0 if children is None else 1 + max((depth(c) for c in children), default=0)


def _tests(expr: dict) -> Iterator[str]:
    children = _children(expr)
    if children is None:
        yield json.dumps(expr, sort_keys=True, ensure_ascii=False)
        return
    for child in children:
        yield from _tests(child)


def _widest_list(expr: dict) -> tuple[str, int]:
    children = _children(expr)
    if children is None:
        return "", 0
    own = ("$or" if "$or" in expr else "$and", len(children))
    return max([own, *(_widest_list(c) for c in children)], key=lambda item: item[1])


def check_limits(rules: Iterable[tuple[str, dict]]) -> None:
    """Refuse a rulebook durable could hang on or reject. `rules` are (rule id, compiled
    condition) pairs, the condition without the engine's `t == case` guard."""
    listed = list(rules)
    if len(listed) > MAX_RULES:
        raise LimitError(f"{len(listed)} rules; a rulebook may have at most {MAX_RULES} "
                         "(durable-rules hangs compiling 513): split it into two rulebooks")
    total = 0
    shared: Counter[str] = Counter()
    for rule_id, expr in listed:
        nesting = depth(expr)
        if nesting > MAX_DEPTH:
            raise LimitError(f"`all`/`any` nested {nesting} deep; at most {MAX_DEPTH} "
                             "(durable-rules fails at 15)", rule_id)
        kind, widest = _widest_list(expr)
        limit = MAX_ANY_ITEMS if kind == "$or" else MAX_LIST_VALUES
        if kind == "$or" and widest > MAX_LIST_VALUES:
            raise LimitError(f"a list or `any` of {widest} alternatives; at most "
                             f"{MAX_LIST_VALUES} values in a list (durable-rules hangs at "
                             "513)", rule_id)
        if kind == "$and" and widest > limit:
            raise LimitError(f"an `all` (or `not_in`/`has_all` list) of {widest} parts; at "
                             f"most {limit}", rule_id)
        total += alternatives(expr)
        shared.update(set(_tests(expr)))
    if total > MAX_ALTERNATIVES:
        raise LimitError(f"the rules' conditions have {total} alternatives in all (each value "
                         "of an `in`/`has_any` list and each `any` branch counts); at most "
                         f"{MAX_ALTERNATIVES} (durable-rules hangs past 512): shorten the "
                         "lists or split the rulebook")
    test, count = shared.most_common(1)[0] if shared else ("", 0)
    if count > MAX_RULES_PER_TEST:
        raise LimitError(f"one test is shared by {count} rules ({test[:80]}); at most "
                         f"{MAX_RULES_PER_TEST} rules may repeat the same test (durable-rules "
                         "fails past 128): fold them into fewer rules")


def durable_error(message: str) -> str | None:
    """What durable's 'Could not create ruleset, error code: N' means for the author."""
    marker = "error code:"
    if marker not in message:
        return None
    try:
        code = int(message.rsplit(marker, 1)[1].strip().split()[0])
    except (ValueError, IndexError):
        return None
    meaning = DURABLE_ERRORS.get(code, "durable-rules refused the rulebook")
    return f"{meaning} (durable-rules error {code})"

