"""Loading and validating rulebooks (YAML data files under rules/rulebooks/).

A rulebook is reviewed by risk staff like a regulation: it has a name, a version, and rules with an
id, a Chinese and English title, a priority, a condition, an outcome and a rationale. Everything
is checked when it loads, and every problem is reported as `file:line: rule ID: what is wrong`.

The content hash is the SHA-256 of the file's bytes: decisions record it, so an auditor can match
a stored decision to the exact text of the rulebook that made it (`sha256sum` gives the same).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from cases.errors import InvalidInput
from cases.inputs import read_text
from cases.lifecycle import TRIAGE_ROUTES
from rules.domain import domain
from rules.language import Condition, ConditionError, fields_of, parse_condition, to_durable
from rules.limits import LimitError, check_limits
from rules.risk_matrix import LEVELS
from rules.schema import INPUT_KINDS, FieldSpec, InputKind, fields
from rules.yaml_lines import LineLoader

RULEBOOK_DIR = Path(__file__).with_name("rulebooks")
SINK_RULE = "$sink"
MAX_RULEBOOK_BYTES = 2_000_000
# durable stores `pri` as an unsigned short and wraps negatives (field notes §1.2); the top value
# is kept for the hidden sink rule that guarantees every fact is handled (§3.2).
MAX_PRIORITY = 65533
SINK_PRIORITY = 65534

RULEBOOK_KEYS = {"rulebook", "version", "input", "title", "description", "resolution", "rules"}
RULE_KEYS = {"id", "title", "priority", "when", "then", "rationale"}
REQUIRED_RULE_KEYS = RULE_KEYS
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
RULE_ID_RE = re.compile(r"^[A-Z][A-Z0-9_-]{1,31}$")
FLAG_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

PRIORITIES = ("P1", "P2", "P3", "P4")
# The routes a triage rule may ask for are the lifecycle's triage transitions (cases/lifecycle.py).
NEXT_GATES = tuple(TRIAGE_ROUTES)


class RulebookError(ValueError):
    """One problem in one rulebook file, located as precisely as known."""

    def __init__(self, source: str, message: str, *, line: int | None = None,
                 rule_id: str | None = None):
        self.source, self.line, self.rule_id, self.detail = source, line, rule_id, message
        where = f"{source}:{line}" if line else source
        who = f" rule {rule_id}:" if rule_id else ""
        super().__init__(f"{where}:{who} {message}")


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise RulebookError(source, f"YAML: {exc.problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise RulebookError(source, f"YAML: {exc}") from None


# ---------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class Rule:
    id: str
    title: dict[str, str]
    priority: int
    condition: Condition
    then: dict[str, Any]
    rationale: dict[str, str]
    line: int
    index: int  # definition order: durable breaks priority ties by it
    fields: tuple[str, ...] = field(default=())
    # The list-valued outcomes (flags, measures, …) as (key, items): combining decisions reads
    # them for every firing, so they are laid out once here.
    list_outcomes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


@dataclass(frozen=True)
class Rulebook:
    name: str
    version: str
    input: InputKind
    title: dict[str, str]
    description: dict[str, str]
    resolution: dict[str, Any]
    rules: tuple[Rule, ...]
    sha256: str
    source: str
    text: str

    @property
    def durable_name(self) -> str:
        """One durable ruleset per content version: durable cannot replace a registered one."""
        return f"{self.name}@{self.version}#{self.sha256[:12]}"

    @cached_property
    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    @cached_property
    def tested_fields(self) -> tuple[str, ...]:
        """The fields any condition reads: all the engine needs to send durable (callgrind: a
        fact of only these costs 1.7 % fewer instructions per case than the full fact)."""
        return tuple(dict.fromkeys(name for rule in self.rules for name in rule.fields))

    def ref(self) -> dict[str, str]:
        """What a decision records to name the rulebook it was made under."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def durable_definition(self) -> dict[str, dict]:
        """The ruleset as durable-rules JSON: only the condition and priority of each rule."""
        definition: dict[str, dict] = {}
        for rule in self.rules:
            definition[rule.id] = {
                "pri": rule.priority,
                "all": [{"m": {"$and": [{"t": "case"}, to_durable(rule.condition)]}}],
            }
        definition[SINK_RULE] = {"pri": SINK_PRIORITY, "all": [{"m": {"$ex": {"t": 1}}}]}
        return definition


# ---------------------------------------------------------------------------------------------
# validation


def _bilingual(value: Any, what: str, source: str, line: int | None, rule_id: str | None) -> dict:
    if not isinstance(value, dict) or set(value) != {"zh", "en"}:
        raise RulebookError(source, f"{what} needs exactly `zh` and `en` texts",
                            line=line, rule_id=rule_id)
    for lang in ("zh", "en"):
        if not isinstance(value[lang], str) or not value[lang].strip():
            raise RulebookError(source, f"{what}.{lang} must be non-empty text",
                                line=line, rule_id=rule_id)
    return {"zh": value["zh"].strip(), "en": value["en"].strip()}


def _codes_list(value: Any, vocabulary: tuple[str, ...], what: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"`{what}` must be a non-empty list")
    for item in value:
        if item not in vocabulary:
            raise ValueError(f"`{what}`: unknown code {item!r}; expected any of "
                             + ", ".join(vocabulary))
    if len(set(value)) != len(value):
        raise ValueError(f"`{what}`: repeated code")
    return list(value)


def _flags(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("`flags` must be a non-empty list")
    for flag in value:
        if not isinstance(flag, str) or not FLAG_RE.match(flag):
            raise ValueError(f"`flags`: {flag!r} is not a snake_case flag name")
    return list(value)


def _one_of(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"`{what}`: unknown value {value!r}; expected one of "
                         + ", ".join(allowed))
    return value


def _check_then(kind: InputKind, raw: Any) -> dict[str, Any]:
    """Validate a rule's outcome for its rulebook input kind; raise ValueError on a problem."""
    if not isinstance(raw, dict) or not raw:
        raise ValueError("`then` must be a non-empty mapping")
    vocab = domain()
    risk_levels = tuple(reversed(LEVELS))
    checkers: dict[str, Any]
    if kind == "triage":
        checkers = {
            "priority": lambda v: _one_of(v, PRIORITIES, "priority"),
            "risk": lambda v: _one_of(v, risk_levels, "risk"),
            "next_gate": lambda v: _one_of(v, NEXT_GATES, "next_gate"),
            "flags": _flags,
            "interim_measures": lambda v: _codes_list(v, vocab.measures.codes(),
                                                      "interim_measures"),
            "referral": lambda v: _one_of(v, vocab.authorities.codes(), "referral"),
            "request_info": lambda v: _codes_list(
                v, fields("triage")["missing_info"].values, "request_info"),
        }
    else:
        checkers = {
            "measures": lambda v: _codes_list(v, vocab.measures.codes(), "measures"),
            "notify": lambda v: _codes_list(v, vocab.authorities.codes(), "notify"),
            "flags": _flags,
        }
    unknown = [key for key in raw if key not in checkers]
    if unknown:
        raise ValueError(f"`then` has unknown key `{unknown[0]}`; allowed: "
                         + ", ".join(checkers))
    return {key: checkers[key](value) for key, value in raw.items()}


def _check_resolution(kind: InputKind, raw: Any, source: str, line: int | None) -> dict:
    if kind == "disposal":
        if raw not in (None, {}):
            raise RulebookError(source, "`resolution` is only used by triage rulebooks "
                                "(disposal measures are combined and ranked by protectiveness)",
                                line=line)
        return {}
    if not isinstance(raw, dict):
        raise RulebookError(source, "`resolution` must map next_gate (precedence list) and "
                            "defaults", line=line)
    unknown = set(raw) - {"next_gate", "defaults"}
    if unknown:
        raise RulebookError(source, f"`resolution` has unknown key `{sorted(unknown)[0]}`",
                            line=line)
    order = raw.get("next_gate")
    if not isinstance(order, list) or sorted(order) != sorted(NEXT_GATES):
        raise RulebookError(source, "`resolution.next_gate` must list each of "
                            + ", ".join(NEXT_GATES) + " once, first one wins", line=line)
    defaults = raw.get("defaults")
    if not isinstance(defaults, dict) or set(defaults) != {"priority", "next_gate"}:
        raise RulebookError(source, "`resolution.defaults` needs exactly priority and next_gate",
                            line=line)
    try:
        _one_of(defaults["priority"], PRIORITIES, "defaults.priority")
        _one_of(defaults["next_gate"], NEXT_GATES, "defaults.next_gate")
    except ValueError as exc:
        raise RulebookError(source, str(exc), line=line) from None
    return {"next_gate": list(order), "defaults": dict(defaults)}


def _check_rule(raw: Any, index: int, kind: InputKind, table: dict[str, FieldSpec],
                source: str, seen: dict[str, int]) -> Rule:
    line = getattr(raw, "line", None)
    if not isinstance(raw, dict):
        raise RulebookError(source, f"rule #{index + 1} must be a mapping", line=line)
    rule_id = raw.get("id")
    shown_id = rule_id if isinstance(rule_id, str) else None
    lines = getattr(raw, "lines", {})

    def fail(message: str, key: str | None = None) -> RulebookError:
        return RulebookError(source, message, line=lines.get(key, line), rule_id=shown_id)

    unknown = [key for key in raw if key not in RULE_KEYS]
    if unknown:
        raise fail(f"unknown key `{unknown[0]}`; a rule has " + ", ".join(sorted(RULE_KEYS)),
                   unknown[0])
    missing = [key for key in sorted(REQUIRED_RULE_KEYS) if key not in raw]
    if missing:
        raise fail(f"missing `{missing[0]}`")
    if not isinstance(rule_id, str) or not RULE_ID_RE.match(rule_id):
        raise fail(f"id {rule_id!r} must be 2-32 capitals, digits, - or _ starting with a "
                   "letter", "id")
    if rule_id in seen:
        raise fail(f"duplicate id (first defined on line {seen[rule_id]})", "id")
    seen[rule_id] = line or 0
    priority = raw["priority"]
    if isinstance(priority, bool) or not isinstance(priority, int) \
            or not 0 <= priority <= MAX_PRIORITY:
        raise fail(f"priority must be a whole number 0..{MAX_PRIORITY} (lower fires first), "
                   f"got {priority!r}", "priority")
    title = _bilingual(raw["title"], "title", source, lines.get("title", line), shown_id)
    rationale = _bilingual(raw["rationale"], "rationale", source, lines.get("rationale", line),
                           shown_id)
    try:
        condition = parse_condition(raw["when"], table, lines.get("when", line))
    except ConditionError as exc:
        raise RulebookError(source, f"when: {exc}", line=exc.line or lines.get("when", line),
                            rule_id=shown_id) from None
    try:
        then = _check_then(kind, raw["then"])
    except ValueError as exc:
        raise fail(f"then: {exc}", "then") from None
    return Rule(id=rule_id, title=title, priority=priority, condition=condition, then=then,
                rationale=rationale, line=line or 0, index=index,
                fields=fields_of(condition),
                list_outcomes=tuple((key, tuple(value)) for key, value in then.items()
                                    if isinstance(value, list)))


def parse_rulebook(text: str, source: str = "<rulebook>") -> Rulebook:
    """Validate a rulebook's text; raise RulebookError naming the file, line and rule."""
    raw = _parse_yaml(text, source)
    if not isinstance(raw, dict):
        raise RulebookError(source, "a rulebook is a mapping with rulebook, version, input, "
                            "title, resolution and rules")
    lines = getattr(raw, "lines", {})
    unknown = [key for key in raw if key not in RULEBOOK_KEYS]
    if unknown:
        raise RulebookError(source, f"unknown top-level key `{unknown[0]}`; allowed: "
                            + ", ".join(sorted(RULEBOOK_KEYS)), line=lines.get(unknown[0]))
    for key in ("rulebook", "version", "input", "title", "rules"):
        if key not in raw:
            raise RulebookError(source, f"missing top-level `{key}`")
    name, version, kind = raw["rulebook"], raw["version"], raw["input"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RulebookError(source, f"rulebook name {name!r} must be lower-case letters, digits,"
                            " - or _", line=lines.get("rulebook"))
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise RulebookError(source, f"version {version!r} must be MAJOR.MINOR.PATCH in quotes",
                            line=lines.get("version"))
    if kind not in INPUT_KINDS:
        raise RulebookError(source, f"input {kind!r} must be one of " + ", ".join(INPUT_KINDS),
                            line=lines.get("input"))
    title = _bilingual(raw["title"], "title", source, lines.get("title"), None)
    description = (_bilingual(raw["description"], "description", source,
                              lines.get("description"), None)
                   if "description" in raw else {"zh": "", "en": ""})
    resolution = _check_resolution(kind, raw.get("resolution"), source, lines.get("resolution"))
    rules_raw = raw["rules"]
    if not isinstance(rules_raw, list) or not rules_raw:
        raise RulebookError(source, "`rules` must be a non-empty list", line=lines.get("rules"))
    table = fields(kind)
    seen: dict[str, int] = {}
    rules = tuple(_check_rule(item, index, kind, table, source, seen)
                  for index, item in enumerate(rules_raw))
    try:
        check_limits((rule.id, to_durable(rule.condition)) for rule in rules)
    except LimitError as exc:
        at = next((r.line for r in rules if r.id == exc.rule_id), None)
        raise RulebookError(source, str(exc), line=at or lines.get("rules"),
                            rule_id=exc.rule_id) from None
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Rulebook(name=name, version=version, input=kind, title=title,
                    description=description, resolution=resolution, rules=rules,
                    sha256=sha, source=source, text=text)


def load_rulebook(path: Path | str) -> Rulebook:
    path = Path(path)
    try:
        text = read_text(path, MAX_RULEBOOK_BYTES, what="rulebook")
    except InvalidInput as exc:
        raise RulebookError(str(path), str(exc).removeprefix(f"{path}: ")) from None
    return parse_rulebook(text, source=_display_path(path))


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def bundled_rulebooks() -> list[Path]:
    """The rulebooks shipped in the repo, in name order."""
    return sorted(RULEBOOK_DIR.glob("*.yaml"))


def current_rulebook(kind: InputKind) -> Rulebook:
    """The rulebook in force for an input kind: rules/rulebooks/<kind>.yaml."""
    return load_rulebook(RULEBOOK_DIR / f"{kind}.yaml")
