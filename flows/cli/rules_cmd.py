"""`riskgate rules …` and `riskgate risk level`: the rulebooks for the people who own them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cases.errors import InvalidInput, RiskGateError
from cases.inputs import read_json
from flows.cli.common import LiteralTable, console, print_json
from rules.domain import domain
from rules.evaluate import evaluate_case
from rules.language import render
from rules.risk_matrix import (
    BAND_LABELS,
    LEVEL_NAMES,
    ProbabilityError,
    level,
    parse_probability,
    sensitivity,
)
from rules.rulebook import RulebookError, bundled_rulebooks, current_rulebook, load_rulebook
from rules.schema import INPUT_KINDS, FactError, fields

app = typer.Typer(no_args_is_help=True)
risk_app = typer.Typer(no_args_is_help=True)

Lang = Annotated[str, typer.Option(help="zh or en.")]


MAX_CASE_FILE_BYTES = 1_000_000


class RulebookInvalid(RiskGateError):
    exit_code = 2


def _lang(value: str) -> str:
    if value not in ("zh", "en"):
        raise InvalidInput(f"--lang {value!r}: expected zh or en")
    return value


COMPILE_TIMEOUT = 30.0
_COMPILE = r"""
import sys
from rules.engine import RuleEngine
from rules.rulebook import RulebookError, parse_rulebook
try:
    RuleEngine().load(parse_rulebook(sys.stdin.read(), source=sys.argv[1]))
except RulebookError as exc:
    sys.stderr.write(exc.detail + "\n")
    sys.exit(3)
"""


def compile_in_child(rulebook) -> None:
    """Compile the rulebook into durable-rules in a child process: durable's C compiler can
    hang on shapes the limits did not foresee, and a hang here must end in an error."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", _COMPILE, rulebook.source],
                              input=rulebook.text, capture_output=True, text=True,
                              timeout=COMPILE_TIMEOUT, cwd=Path(__file__).resolve().parents[2])
    except subprocess.TimeoutExpired:
        raise RulebookError(rulebook.source, f"durable-rules did not finish compiling it in "
                            f"{COMPILE_TIMEOUT:.0f} s: it would hang every gate that loads it; "
                            "make its lists shorter or split it") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RulebookError(rulebook.source, last[:300])


@app.command("check")
def check(files: Annotated[list[Path] | None, typer.Argument(
        help="Rulebook files (default: every rulebook in rules/rulebooks).")] = None) -> None:
    """Validate rulebooks and compile them into durable-rules; one line per file."""
    paths = files or bundled_rulebooks()
    failures = []
    for path in paths:
        try:
            rulebook = load_rulebook(path)
            compile_in_child(rulebook)  # durable's own parser sees every condition too
        except RulebookError as exc:
            failures.append(str(exc))
            console.print(f"✗ {exc}", style="red", soft_wrap=True, markup=False,
                          highlight=False)
            continue
        console.print(f"✓ {path}: {rulebook.name} {rulebook.version}, {len(rulebook.rules)} "
                      f"rules, sha256 {rulebook.sha256[:16]}…", soft_wrap=True, markup=False,
                      highlight=False)
    if failures:
        raise RulebookInvalid(f"{len(failures)} of {len(paths)} rulebook(s) invalid: "
                              f"{failures[0]}")


@app.command("eval")
def evaluate(case_file: Annotated[Path, typer.Argument(help="Case facts (JSON); see "
                                                            "docs/samples/case.json.")],
             as_json: Annotated[bool, typer.Option("--json")] = False,
             lang: Lang = "zh") -> None:
    """Evaluate a case file through triage (and disposal): decision and trail."""
    lang = _lang(lang)
    data = read_json(case_file, MAX_CASE_FILE_BYTES, what="case file")
    try:
        result = evaluate_case(data, current_rulebook("triage"), current_rulebook("disposal"))
    except FactError as exc:
        raise InvalidInput(f"{case_file}: {exc}") from None
    if as_json:
        print_json(result)
        return
    _print_decision("triage", result["triage"], lang)
    if "assessment" in result:
        a = result["assessment"]
        stable = "stable" if a["sensitivity"]["stable"] else "NOT stable"
        console.print(f"\nrisk: {LEVEL_NAMES[a['level']][lang]} (severity "
                      f"{a['severity']}, probability {a['band']}; {stable} under one-step "
                      "shifts)")
    if "disposal" in result:
        _print_decision("disposal", result["disposal"], lang)


def _print_decision(kind: str, decision: dict, lang: str) -> None:
    vocab = domain()
    book = decision["rulebook"]
    console.print(f"\n{kind} — {book['name']} {book['version']} "
                  f"(sha256 {book['sha256'][:12]}…)")
    if kind == "triage":
        console.print(f"priority {decision['priority']}, preliminary risk "
                      f"{decision['risk'] or '—'}, next gate {decision['next_gate']}, flags "
                      f"{', '.join(decision['flags']) or '—'}")
    else:
        console.print("measures: " + ", ".join(
            f"{vocab.measures.name(m['code'], lang)} ({'+'.join(m['reasons'])})"
            for m in decision["measures"]) + "; notify: "
            + (", ".join(vocab.authorities.name(a, lang) for a in decision["notify"]) or "—"))
    table = LiteralTable("#", "rule", "title", "pri", "matched", "then", box=None)
    for step in decision["trail"]:
        table.add_row(str(step["order"]), step["rule"], step["title"][lang],
                      str(step["priority"]),
                      ", ".join(f"{k}={v}" for k, v in step["matched"].items()) or "—",
                      json.dumps(step["then"], ensure_ascii=False))
    console.print(table)


@app.command("table")
def table(name: Annotated[str, typer.Argument(help="triage or disposal")] = "triage",
          lang: Lang = "zh",
          file: Annotated[Path | None, typer.Option(help="A rulebook file instead.")] = None
          ) -> None:
    """Print a rulebook as a readable table."""
    lang = _lang(lang)
    if file is None and name not in INPUT_KINDS:
        raise InvalidInput(f"unknown rulebook {name!r}; expected triage or disposal")
    try:
        rulebook = load_rulebook(file) if file else current_rulebook(name)  # type: ignore[arg-type]
    except RulebookError as exc:
        raise RulebookInvalid(str(exc)) from None
    out = LiteralTable("id", "pri", "title", "when", "then", "rationale",
                title=f"{rulebook.title[lang]} — {rulebook.name} {rulebook.version}",
                show_lines=True)
    for rule in rulebook.rules:
        out.add_row(rule.id, str(rule.priority), rule.title[lang], render(rule.condition, lang),
                    json.dumps(rule.then, ensure_ascii=False), rule.rationale[lang])
    console.print(out)


@app.command("fields")
def list_fields(kind: Annotated[str, typer.Argument(help="triage or disposal")] = "triage"
                ) -> None:
    """The facts a rulebook may test, with their types."""
    if kind not in INPUT_KINDS:
        raise InvalidInput(f"unknown input {kind!r}; expected triage or disposal")
    out = LiteralTable("field", "type", "meaning", title=f"{kind} facts")
    for spec in fields(kind).values():  # type: ignore[arg-type]
        out.add_row(spec.name, spec.describe_type(), spec.doc)
    console.print(out)


@risk_app.command("level")
def risk_level(
    severity: Annotated[int, typer.Option(help="1 first aid … 4 fatal or permanent.")],
    probability: Annotated[str, typer.Option(help="0.002, 1/500 or a band label '> 1/1 000'.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    lang: Lang = "zh",
) -> None:
    """Risk level of one injury scenario, with the sensitivity check."""
    lang = _lang(lang)
    try:
        band, exact = parse_probability(probability)
        result = level(severity, band)
    except ProbabilityError as exc:
        raise InvalidInput(f"--probability: {exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"--severity: {exc}") from None
    check = sensitivity(severity, band)
    data = {"level": result, "severity": severity, "band": BAND_LABELS[band],
            "band_index": band, "probability": str(exact) if exact is not None else None,
            "sensitivity": check.to_dict()}
    if as_json:
        print_json(data)
        return
    console.print(f"{LEVEL_NAMES[result][lang]} ({result}): severity {severity}, probability "
                  f"band {BAND_LABELS[band]}")
    for shift in check.shifts:
        mark = "changes" if shift.changes else "same"
        console.print(f"  {shift.moved:<17} → {shift.level:<8} ({mark})")
