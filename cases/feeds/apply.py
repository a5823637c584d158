"""One record → one signal, by a mapping: the field specs evaluated, then the signal schema.

A record never raises: what is wrong with it becomes its problems, one line each naming the
source column (or key) and the signal field, so the person fixing the export knows where to
look. Every problem of a row is listed (not only the first), because a refused row goes to a
quarantine file to be corrected in one pass.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import regex
from pydantic import ValidationError

from cases.errors import InvalidInput
from cases.feeds.mapping import (
    Condition,
    FieldSpec,
    Mapping,
    normalise,
    spec_columns,
    template_segments,
    templates,
)
from cases.feeds.readers import Record
from cases.feeds.targets import Target, record_targets, signal_targets
from cases.signals import SignalIn

NULL_WORDS = frozenset({"none", "null", "n/a", "unknown"})
# Whitespace, but not the information separators U+001C–U+001F and NEL that str.split() also
# counts as space: those are control characters the schema refuses, not to be hidden.
_SPACE = re.compile(r"[^\S\x1c-\x1f\x85]+")
_LINE_SPACE = re.compile(r"[^\S\n\x1c-\x1f\x85]+")
_NEWLINE = re.compile(r"\r\n|\r")
PATTERN_SECONDS = 0.25  # a mapping's pattern on one cell; more is a pattern that backtracks


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _search(pattern: str, text: str) -> regex.Match[str] | None:
    """A mapping's pattern on a cell, with a time limit: a pattern that backtracks without end
    (`(a+)+$`) stops the file with an error naming it instead of hanging the import."""
    try:
        return _compiled(pattern).search(text, timeout=PATTERN_SECONDS)
    except TimeoutError:
        raise InvalidInput(f"the mapping's pattern {pattern!r} took over {PATTERN_SECONDS} s on "
                           f"one value ({len(text)} characters): it backtracks; simplify it"
                           ) from None
MISSING: Any = object()  # a field with no value: left to the schema's default


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line in the file where the record starts
    raw: str  # the record's source text (bounded), for quarantine and rejects files
    signal: SignalIn | None  # None when the row was refused
    problems: tuple[str, ...]  # empty iff signal is not None
    reference: str  # the row's source reference if it could be read, else ""


@dataclass
class Mapped:
    """A row and what `check` wants to know besides: source words no value map covered."""

    row: Row
    unmapped: list[tuple[str, str, str]] = field(default_factory=list)  # field, source, value


class _Problem(Exception):
    pass


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None or value is MISSING else str(value)


class Plan:
    """A mapping made ready to apply: value maps keyed by their normalised words, and the
    wording of sources in messages (`column` for CSV, `key` for JSON)."""

    def __init__(self, mapping: Mapping, fmt: str) -> None:
        self.mapping, self.spec = mapping, mapping.spec
        self.noun = "column" if fmt == "csv" else "key"
        self.null_words = NULL_WORDS | {normalise(w) for w in self.spec.null_words}
        self._maps: dict[int, dict[str, object]] = {}

    def table(self, spec: FieldSpec) -> dict[str, object]:
        found = self._maps.get(id(spec))
        if found is None:
            found = {normalise(k): v for k, v in (spec.map or {}).items()}
            self._maps[id(spec)] = found
        return found

    def describe(self, spec: FieldSpec | None, part_column: str = "") -> str:
        if spec is None:
            return "(not mapped)"
        if "value" in spec.model_fields_set:
            return "constant"
        columns = [part_column] if spec.part else spec_columns(spec)
        if not columns:
            return "rule"
        return f"{self.noun}{'s' if len(columns) > 1 else ''} {', '.join(columns)}"

    def spec_at(self, path: str) -> FieldSpec | None:
        """The spec that fills a schema path (`lab_results.item` for any record's item)."""
        if path == "reference":
            return self.spec.reference
        found = self.spec.fields.get(path)
        if found is None and path.startswith("lab_results."):
            name = path.split(".", 1)[1]
            for record in (self.spec.fields.get("lab_results") or FieldSpec()).records or []:
                if name in record.fields:
                    return record.fields[name]
        return found

    def source_of(self, path: str) -> str:
        spec = self.spec_at(path)
        if spec is not None:
            return self.describe(spec)
        columns = [c for p, s in self.spec.fields.items() if p.startswith(path + ".")
                   for c in spec_columns(s)]
        if columns:
            return f"{self.noun}{'s' if len(columns) > 1 else ''} {', '.join(columns)}"
        return "(not mapped)"


class _Evaluation:
    """One record under one plan: field values computed on demand (a `cases` test may read
    another field), problems and unmapped words collected."""

    def __init__(self, plan: Plan, values: dict[str, Any]) -> None:
        self.plan, self.values = plan, values
        self.problems: list[str] = []
        self.failed: set[str] = set()
        self.unmapped: list[tuple[str, str, str]] = []
        self.done: dict[str, Any] = {}

    # -- reading the source

    def cell(self, column: str, *, keep_lines: bool = False) -> str:
        value = self.values.get(column)
        if value is None and "." in column and self.plan.noun == "key":
            value = self.values
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return ""
        if isinstance(value, dict | list):
            kind = "an object" if isinstance(value, dict) else "an array"
            raise _Problem(f"expected a value, got {kind}")
        text = _as_text(value)
        if keep_lines:
            lines = (_LINE_SPACE.sub(" ", line).strip()
                     for line in _NEWLINE.sub("\n", text).split("\n"))
            text = "\n".join(lines).strip("\n")
        else:
            text = _SPACE.sub(" ", text).strip()
        return "" if text.casefold() in self.plan.null_words else text

    def text(self, spec: FieldSpec, part: str | None) -> str:
        if spec.part:
            return part or ""
        if spec.column is not None:
            return self.cell(spec.column, keep_lines=spec.keep_lines)
        rendered = []
        for template in templates(spec):
            pieces = []
            for text, is_column in template_segments(template):
                value = self.cell(text, keep_lines=spec.keep_lines) if is_column else text
                if is_column and not value:
                    break  # a template needs every column it names
                pieces.append(value)
            else:
                rendered.append("".join(pieces))
        return spec.separator.join(rendered)

    # -- conditions

    def holds(self, condition: Condition) -> bool:
        if condition.field:
            value = self.field(condition.field)
            found = value if isinstance(value, list) else [value]
            texts = [_as_text(v) for v in found] or [""]
        else:
            texts = [" ".join(self.cell(c) for c in condition.column)]
        if condition.matches is not None:
            return any(_search(condition.matches, t) for t in texts)
        wanted = ({normalise(_as_text(v)) for v in condition.in_} if condition.in_ is not None
                  else {normalise(_as_text(condition.equals))})
        return any(normalise(t) in wanted for t in texts)

    # -- one value

    def _default(self, spec: FieldSpec) -> Any:
        if spec.has_default() and spec.default != "":
            return spec.default
        return MISSING

    def _word(self, spec: FieldSpec, text: str, path: str, source: str) -> Any:
        """A source word through the field's value map."""
        table = self.plan.table(spec)
        key = normalise(text)
        if key in table:
            code = table[key]
            return MISSING if code == "" else code
        self.unmapped.append((path, source, text))
        if spec.has_default():
            return self._default(spec)
        raise _Problem(f"value {_shown(text)} has no map entry and the map has no default")

    def _extracted(self, spec: FieldSpec, text: str) -> str:
        if spec.extract is None or not text:
            return text
        found = _search(spec.extract, text)
        if not found:
            return ""
        return (found.group(1) or "") if found.re.groups else found.group(0)

    def scalar(self, spec: FieldSpec, target: Target, path: str, *, part: str | None = None,
               part_column: str = "") -> Any:
        if "value" in spec.model_fields_set:
            return spec.value
        if spec.cases is not None:
            for case in spec.cases:
                if all(self.holds(c) for c in case.when):
                    return case.value
            return self._default(spec)
        text = self._extracted(spec, self.text(spec, part))
        if not text:
            return self._default(spec)
        if spec.map is not None:
            return self._word(spec, text, path, self.plan.describe(spec, part_column))
        return self._converted(spec, target, text)

    def _converted(self, spec: FieldSpec, target: Target, text: str) -> Any:
        if target.kind == "int":
            if not re.fullmatch(r"\d{1,9}", text):
                raise _Problem(f"value {_shown(text)} is not a whole number")
            return int(text)
        if target.kind == "bool":
            if text.casefold() in ("true", "false"):
                return text.casefold() == "true"
            raise _Problem(f"value {_shown(text)} is not true or false; give a map (e.g. "
                           "是: true, 否: false)")
        if target.kind == "datetime" and spec.date_format:
            for form in spec.date_format:
                try:
                    moment = datetime.strptime(text, form)
                except ValueError:
                    continue
                return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(spec.zone))
            raise _Problem(f"value {_shown(text)} matches none of the date formats "
                           + ", ".join(spec.date_format))
        if spec.truncate is not None:
            return text[:spec.truncate]
        return text

    def codes(self, spec: FieldSpec, path: str) -> Any:
        if "value" in spec.model_fields_set or spec.cases is not None:
            one = self.scalar(spec, signal_targets()[path], path)
            return MISSING if one is MISSING else [one]
        text = self._extracted(spec, self.text(spec, None))
        parts = [text]
        if spec.split:
            parts = re.split("[" + re.escape(spec.split) + "]", text)
        source = self.plan.describe(spec)
        found: list[Any] = []
        unknown: list[str] = []
        for piece in parts:
            word = _SPACE.sub(" ", piece).strip()
            if not word or word.casefold() in self.plan.null_words:
                continue
            if spec.map is None:
                found.append(word)
                continue
            try:
                code = self._word(spec, word, path, source)
            except _Problem:
                unknown.append(word)
                continue
            if code is not MISSING:
                found.append(code)
        if unknown:
            raise _Problem(f"value{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(_shown(w) for w in unknown)} "
                           f"{'have' if len(unknown) > 1 else 'has'} no map entry and the map "
                           "has no default")
        if not found and text == "" and spec.has_default() and spec.default != "":
            return [spec.default]
        return found or MISSING

    def records(self, spec: FieldSpec, path: str) -> Any:
        found: list[dict[str, Any]] = []
        for record in spec.records or []:
            parts: list[str | None] = [None]
            column = ""
            if record.for_each:
                column = record.for_each.column
                splitter = "[" + re.escape(record.for_each.split) + "]"
                parts = [p for p in (_SPACE.sub(" ", x).strip()
                                     for x in re.split(splitter, self.cell(column)))
                         if p and p.casefold() not in self.plan.null_words]
            for part in parts:
                item: dict[str, Any] = {}
                for name, sub in record.fields.items():
                    sub_path = f"{path}.{name}"
                    try:
                        value = self.scalar(sub, record_targets()[name], sub_path, part=part,
                                            part_column=column)
                    except _Problem as problem:
                        self._refuse(self.plan.describe(sub, column), sub_path, str(problem))
                        continue
                    if value is not MISSING:
                        item[name] = value
                found.append(item)
        return found or MISSING

    # -- fields

    def field(self, path: str) -> Any:
        if path in self.done:
            return self.done[path]
        spec = self.plan.spec.fields[path]
        target = signal_targets()[path]
        try:
            if target.kind == "codes":
                value = self.codes(spec, path)
            elif target.kind == "records":
                value = self.records(spec, path)
            else:
                value = self.scalar(spec, target, path)
        except _Problem as problem:
            self._refuse(self.plan.describe(spec), path, str(problem))
            value = MISSING
        self.done[path] = value
        return value

    def _refuse(self, source: str, path: str, message: str) -> None:
        self.problems.append(f"{source} → {path}: {message}")
        self.failed.add(path)

    def reference(self) -> str:
        spec = self.plan.spec.reference
        assert spec is not None
        try:
            text = _as_text(self.scalar(spec, Target("reference", "text"), "reference"))
        except _Problem as problem:
            self._refuse(self.plan.describe(spec), "reference", str(problem))
            return ""
        if not text:
            self._refuse(self.plan.describe(spec), "reference",
                         "empty; every record needs its source reference")
        return text


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[name] = value


def _schema_path(loc: tuple) -> tuple[str, str]:
    """(shown path with indices, path for finding the spec without them)."""
    shown = ""
    plain = []
    for part in loc:
        if isinstance(part, int):
            shown += f"[{part}]"
        else:
            shown += f".{part}" if shown else str(part)
            plain.append(str(part))
    return shown or "(signal)", ".".join(plain)


def _validated(plan: Plan, data: dict[str, Any], failed: set[str]) -> tuple[SignalIn | None,
                                                                            list[str]]:
    try:
        return SignalIn.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            shown, plain = _schema_path(tuple(error.get("loc", ())))
            if any(plain == f or plain.startswith(f + ".") or f.startswith(plain + ".")
                   for f in failed):
                continue  # already said, at its source
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
            got = error.get("input")
            if error.get("type") != "missing" and not isinstance(got, dict | list):
                message += f" (got {_shown(got)})"
            source = (plan.source_of(plain) if not plan.spec.signals
                      else f"key {plain or '(record)'}")
            problems.append(f"{source} → {shown}: {message}")
        return None, problems


def map_record(plan: Plan, record: Record, received_at: datetime) -> Mapped:
    """The row for one record read from the file."""
    if record.values is None:
        return Mapped(Row(record.line, record.raw, None, (f"record: {record.problem}",), ""))
    if plan.spec.signals:
        return _signal_record(plan, record)
    evaluation = _Evaluation(plan, record.values)
    reference = evaluation.reference()
    data: dict[str, Any] = {"channel": plan.mapping.channel, "reference": reference,
                            "received_at": received_at}
    for path in plan.spec.fields:
        value = evaluation.field(path)
        if value is not MISSING:
            _put(data, path, value)
    signal, schema_problems = _validated(plan, data, evaluation.failed)
    problems = tuple(evaluation.problems + schema_problems)
    shown_reference = reference if len(reference) <= 100 else ""
    return Mapped(Row(record.line, record.raw, None if problems else signal, problems,
                      shown_reference), evaluation.unmapped)


def _signal_record(plan: Plan, record: Record) -> Mapped:
    """A record that is a signal already: checked by the schema, its channel pinned if the
    import is for one channel."""
    data = dict(record.values or {})
    reference = data.get("reference")
    shown_reference = reference.strip() if isinstance(reference, str) \
        and len(reference.strip()) <= 100 else ""
    pinned = plan.mapping.channel
    if pinned:
        given = data.setdefault("channel", pinned)
        if given != pinned:
            return Mapped(Row(record.line, record.raw, None, (
                f"key channel → channel: {_shown(given)} in an import for channel "
                f"{pinned!r}",), shown_reference))
    signal, problems = _validated(plan, data, set())
    return Mapped(Row(record.line, record.raw, None if problems else signal, tuple(problems),
                      shown_reference))
