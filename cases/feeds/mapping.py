"""The mapping language: a small YAML file that says how one feed's records become signals.

Declarative on purpose: a risk centre takes in a feed nobody has seen before by writing a
file, not code, and the file is checked as a whole when it is loaded (unknown keys, codes not
in the vocabulary, regexes that do not compile, fields that do not exist), each error naming
the file, the line and the key path. docs/intake-mappings.md is the reference.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from cases.errors import InvalidInput
from cases.feeds.targets import TOP_LEVEL, Target, record_targets, signal_targets
from cases.inputs import read_text
from rules.domain import domain
from rules.yaml_lines import LineDict, LineLoader

CHANNELS_DIR = Path(__file__).with_name("channels")
MAX_MAPPING_BYTES = 1_000_000
DEFAULT_ZONE = "Asia/Shanghai"  # as the signal schema assumes for a time without a zone

Scalar = str | bool | int


def normalise(text: str) -> str:
    """The form value-map keys and `equals`/`in` compare in: case and spacing do not count."""
    return " ".join(text.split()).casefold()


def _listed(value: object) -> object:
    return [value] if isinstance(value, str | dict) else value


def _spec(value: object) -> object:
    """A plain string is short for `{column: ...}`."""
    return {"column": value} if isinstance(value, str) else value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Spec):
    """One test of a `cases` entry: a source column (or columns, joined by a space) or an
    already-mapped signal field, compared with `equals`, `in` or a regex (`matches`). On a
    list field (hazards) the test holds if it holds for any element."""

    column: Annotated[list[str], BeforeValidator(_listed)] = []
    field: str = ""
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    matches: str | None = None


class Case(_Spec):
    when: Annotated[list[Condition], BeforeValidator(_listed), Field(min_length=1)]
    value: Scalar


class ForEach(_Spec):
    column: str
    split: str = Field(min_length=1)


class RecordSpec(_Spec):
    """One `lab_results` record, or one per part of a split column (`for_each`)."""

    for_each: ForEach | None = None
    fields: dict[str, Annotated[FieldSpec, BeforeValidator(_spec)]]


class FieldSpec(_Spec):
    """How one signal field is filled: one source, then the steps that apply, in this order:
    extract → split → map → default → convert (date, int, yes/no) → truncate."""

    # sources (exactly one)
    column: str | None = None
    template: str | list[str] | None = None
    value: Scalar | None = None
    part: bool = False
    cases: list[Case] | None = None
    records: list[RecordSpec] | None = None
    # steps
    separator: str = " "
    extract: str | None = None
    split: str | None = None
    map: dict[str, Scalar] | None = None
    default: Scalar | None = None
    date_format: Annotated[list[str], BeforeValidator(_listed)] = []
    zone: str = DEFAULT_ZONE
    truncate: int | None = Field(None, gt=0)
    keep_lines: bool = False

    def sources(self) -> list[str]:
        return [k for k in ("column", "template", "value", "part", "cases", "records")
                if k in self.model_fields_set]

    def has_default(self) -> bool:
        return "default" in self.model_fields_set


_TEMPLATE_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def template_segments(template: str) -> list[tuple[str, bool]]:
    """A template as (text, is_column) pieces: `{column}` is a column's value, `{{` and `}}`
    are literal braces. ValueError for a lone brace or an empty `{}`."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for found in _TEMPLATE_PART.finditer(template):
        if found.start() > at:
            pieces.append((template[at:found.start()], False))
        token = found.group()
        if token in ("{{", "}}"):
            pieces.append((token[0], False))
        elif found.group(1) is None or not found.group(1).strip():
            raise ValueError(f"a lone or empty brace at position {found.start() + 1}; write "
                             "{column} for a column and {{ }} for literal braces")
        else:
            pieces.append((found.group(1).strip(), True))
        at = found.end()
    if at < len(template):
        pieces.append((template[at:], False))
    return pieces


def templates(spec: FieldSpec) -> list[str]:
    if spec.template is None:
        return []
    return [spec.template] if isinstance(spec.template, str) else spec.template


def spec_columns(spec: FieldSpec) -> list[str]:
    """The source columns a field spec reads (for a CSV header check and for messages)."""
    found: list[str] = []
    if spec.column:
        found.append(spec.column)
    for template in templates(spec):
        found += [text for text, is_column in template_segments(template) if is_column]
    for case in spec.cases or []:
        for condition in case.when:
            found += condition.column
    for record in spec.records or []:
        if record.for_each:
            found.append(record.for_each.column)
        for sub in record.fields.values():
            found += spec_columns(sub)
    return list(dict.fromkeys(found))


def mapping_columns(spec: MappingSpec) -> list[str]:
    found = spec_columns(spec.reference) if spec.reference else []
    for field_spec in spec.fields.values():
        found += spec_columns(field_spec)
    return list(dict.fromkeys(found))


class MappingSpec(_Spec):
    """The file as written."""

    name: str = ""
    description: str = ""
    channel: str = ""
    format: Literal["csv", "json", "jsonl"] | None = None
    encoding: Literal["utf-8", "utf-8-sig", "gb18030"] = "utf-8"
    delimiter: str = Field(",", min_length=1, max_length=1)
    near_duplicates: bool = True
    # Words that mean "no value" in this feed, on top of None, null, N/A, unknown.
    null_words: list[str] = []
    # The records are RiskGate signals already (the schema `riskgate case open` reads).
    signals: bool = False
    reference: Annotated[FieldSpec | None, BeforeValidator(_spec)] = None
    fields: dict[str, Annotated[FieldSpec, BeforeValidator(_spec)]] = {}


RecordSpec.model_rebuild()


@dataclass(frozen=True)
class Mapping:
    """A loaded, checked mapping. `channel` is "" for a signal-records mapping that takes each
    record's own channel; `sha256` identifies the file's text for idempotent re-imports."""

    name: str
    channel: str
    format: str | None
    sha256: str
    near_duplicates: bool
    spec: MappingSpec
    source: str  # the file it was loaded from (for messages)


# ---------------------------------------------------------------------------------------------
# YAML: line numbers for messages, no silent duplicate keys, and yes/no stay words


class _Loader(LineLoader):
    string_keys = True


# YAML 1.1 reads yes/no/on/off as booleans: a value map `{yes: true, no: false}` would have
# keys True and False. Only true/false are booleans here.
_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))




def _line_of(raw: object, loc: tuple) -> int | None:
    """The line of the deepest key of `loc` found in the parsed file."""
    line = None
    current = raw
    for part in loc:
        if isinstance(current, LineDict) and part in current:
            line = current.lines.get(part, line)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            break
    return line


def _key_path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class _Refusal(Exception):
    def __init__(self, loc: tuple, message: str) -> None:
        super().__init__(message)
        self.loc, self.message = loc, message


# ---------------------------------------------------------------------------------------------
# checks a schema cannot express: sources, codes, regexes, fields


def _regex(pattern: str, loc: tuple) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _Refusal(loc, f"not a regular expression ({exc})") from None


def _typed(value: object, target: Target, loc: tuple, *, empty_ok: bool = False) -> None:
    """A constant (value, map entry, default, case value) fits the field it fills."""
    if value == "" and empty_ok:
        return
    kind = target.kind
    if kind == "bool" and not isinstance(value, bool):
        raise _Refusal(loc, f"{value!r} is not true or false ({target.path} is yes/no)")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise _Refusal(loc, f"{value!r} is not a whole number ({target.path} is a count)")
    if kind in ("text", "code", "codes", "datetime") and not isinstance(value, str):
        raise _Refusal(loc, f"{value!r} is not text; quote it ({target.path} is text)")
    if target.vocabulary:
        vocabulary = domain().vocabulary(target.vocabulary)
        if value not in vocabulary:
            raise _Refusal(loc, f"{value!r} is not a code of {target.vocabulary}: "
                                + ", ".join(vocabulary.codes()))


def _check_field(spec: FieldSpec, target: Target, loc: tuple, *, in_for_each: bool,
                 mapped: set[str]) -> None:
    sources = spec.sources()
    if len(sources) != 1:
        raise _Refusal(loc, "give exactly one source: column, template, value, part, cases or "
                            f"records (got {', '.join(sources) or 'none'})")
    source = sources[0]
    kind = target.kind
    if source == "part" and not in_for_each:
        raise _Refusal((*loc, "part"), "part: only inside a record with for_each")
    if source == "records" and kind != "records":
        raise _Refusal((*loc, "records"), f"records: only for lab_results, not {target.path}")
    if kind == "records" and source != "records":
        raise _Refusal(loc, "lab_results is filled with records: [{fields: {...}}, ...]")
    if source == "value":
        _typed(spec.value, target, (*loc, "value"))
    if spec.split is not None and kind != "codes":
        raise _Refusal((*loc, "split"), f"split: only for a list field (hazards), not "
                                         f"{target.path}")
    if spec.date_format and kind != "datetime":
        raise _Refusal((*loc, "date_format"), f"date_format: only for received_at, not "
                                               f"{target.path}")
    if "zone" in spec.model_fields_set:
        try:
            ZoneInfo(spec.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Refusal((*loc, "zone"), f"unknown time zone {spec.zone!r}") from None
    if spec.truncate is not None and kind != "text":
        raise _Refusal((*loc, "truncate"), f"truncate: only for text, not {target.path}")
    if spec.extract is not None:
        _regex(spec.extract, (*loc, "extract"))
    for index, template in enumerate(templates(spec)):
        try:
            template_segments(template)
        except ValueError as exc:
            where = (*loc, "template") + ((index,) if isinstance(spec.template, list) else ())
            raise _Refusal(where, str(exc)) from None
    if spec.has_default():
        _typed(spec.default, target, (*loc, "default"), empty_ok=True)
    if spec.map is not None:
        seen: dict[str, str] = {}
        for word, code in spec.map.items():
            key = normalise(word)
            if key in seen:
                raise _Refusal((*loc, "map", word), f"{word!r} is the same word as "
                                                     f"{seen[key]!r} (case and spaces ignored)")
            seen[key] = word
            _typed(code, target, (*loc, "map", word), empty_ok=kind == "codes")
    for index, case in enumerate(spec.cases or []):
        _typed(case.value, target, (*loc, "cases", index, "value"))
        for number, condition in enumerate(case.when):
            where = (*loc, "cases", index, "when", number)
            if bool(condition.column) == bool(condition.field):
                raise _Refusal(where, "give either column or field")
            tests = [k for k in ("equals", "in_", "matches") if k in condition.model_fields_set]
            if len(tests) != 1:
                raise _Refusal(where, "give exactly one test: equals, in or matches")
            if condition.matches is not None:
                _regex(condition.matches, (*where, "matches"))
            if condition.field and (condition.field not in mapped
                                    or condition.field == "lab_results"):
                raise _Refusal((*where, "field"), f"{condition.field!r} is not a field this "
                                                   "mapping fills (lab_results cannot be tested)")
    for index, record in enumerate(spec.records or []):
        for name, sub in record.fields.items():
            sub_target = record_targets().get(name)
            if sub_target is None:
                raise _Refusal((*loc, "records", index, "fields", name),
                               "not a field of a lab result; known: "
                               + ", ".join(record_targets()))
            _check_field(sub, sub_target, (*loc, "records", index, "fields", name),
                         in_for_each=record.for_each is not None, mapped=mapped)


def _field_refs(spec: FieldSpec) -> set[str]:
    return {c.field for case in spec.cases or [] for c in case.when if c.field}


def _check_cycles(fields: dict[str, FieldSpec]) -> None:
    state: dict[str, int] = {}

    def visit(path: str, trail: tuple[str, ...]) -> None:
        if state.get(path) == 2:
            return
        if state.get(path) == 1:
            raise _Refusal(("fields", path), "its cases depend on themselves: "
                                             + " → ".join((*trail, path)))
        state[path] = 1
        for ref in _field_refs(fields[path]):
            visit(ref, (*trail, path))
        state[path] = 2

    for path in fields:
        visit(path, ())


def _check(spec: MappingSpec) -> None:
    if spec.channel and spec.channel not in domain().channels:
        raise _Refusal(("channel",), f"unknown channel {spec.channel!r}; known: "
                                     + ", ".join(domain().channels.codes()))
    if spec.signals:
        for key in ("reference", "fields"):
            if key in spec.model_fields_set:
                raise _Refusal((key,), f"{key}: not with `signals: true` (the records are "
                                       "signals already)")
        if spec.format == "csv":
            raise _Refusal(("format",), "signal records are JSON or JSONL, not CSV")
        return
    if not spec.channel:
        raise _Refusal(("channel",), "missing: the channel these records come from")
    if spec.reference is None:
        raise _Refusal(("reference",), "missing: the column that holds each record's source "
                                       "reference")
    targets = signal_targets()
    mapped = set(spec.fields)
    for path in spec.fields:
        if path in TOP_LEVEL:
            raise _Refusal(("fields", path), f"{path} is set by the top-level `{path}:` key")
        if path not in targets:
            raise _Refusal(("fields", path), "not a signal field; known: " + ", ".join(targets))
    if "product.category" not in spec.fields:
        raise _Refusal(("fields",), "product.category is missing: every signal needs its "
                                    "product category (a column with a map, or a value)")
    _check_field(spec.reference, Target("reference", "text"), ("reference",),
                 in_for_each=False, mapped=mapped)
    for path, field_spec in spec.fields.items():
        _check_field(field_spec, targets[path], ("fields", path), in_for_each=False,
                     mapped=mapped)
    _check_cycles(spec.fields)


def parse_mapping(text: str, *, source: str, name: str = "") -> Mapping:
    """A mapping from its YAML text; InvalidInput `source:line: key.path: what is wrong`."""
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise InvalidInput(f"{where}: not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source}: a mapping file is a YAML mapping of keys (channel, "
                           "reference, fields, …)")
    try:
        spec = MappingSpec.model_validate(raw)
        _check(spec)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        # pydantic reports which member of a union failed; the reader needs the key path.
        loc = tuple(p for p in loc if not (isinstance(p, str) and (
            p.startswith(("function-", "str", "bool", "int", "list[", "dict[")))))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        more = len(exc.errors()) - 1
        raise InvalidInput(_located(source, raw, loc, message + (f" [+{more} more]" if more
                                                                  else ""))) from None
    except _Refusal as refusal:
        raise InvalidInput(_located(source, raw, refusal.loc, refusal.message)) from None
    return Mapping(name=spec.name or name or Path(source).stem, channel=spec.channel,
                   format=spec.format, sha256=hashlib.sha256(text.encode()).hexdigest(),
                   near_duplicates=spec.near_duplicates, spec=spec, source=source)


def _located(source: str, raw: object, loc: tuple, message: str) -> str:
    line = _line_of(raw, loc)
    where = f"{source}:{line}" if line else source
    return f"{where}: {_key_path(loc)}: {message}"


def load_mapping(path: Path) -> Mapping:
    """Load and check a mapping file."""
    return parse_mapping(read_text(path, MAX_MAPPING_BYTES, what="mapping file"),
                         source=str(path), name=path.stem)


def channel_names() -> list[str]:
    """The shipped mappings: one per channel with a known export, and `signal`."""
    return sorted(p.stem for p in CHANNELS_DIR.glob("*.yaml"))


def channel_mapping(channel: str) -> Mapping:
    """The shipped mapping of a channel (cases/feeds/channels/<channel>.yaml)."""
    if channel not in channel_names():
        raise InvalidInput(f"no shipped mapping for {channel!r}; known: "
                           + ", ".join(channel_names())
                           + " (or give a mapping file of your own)")
    return load_mapping(CHANNELS_DIR / f"{channel}.yaml")


def signal_mapping(channel: str = "") -> Mapping:
    """Records already in the signal schema; with `channel`, every record must be of that
    channel (a record that names none takes it)."""
    base = channel_mapping("signal")
    if not channel:
        return base
    if channel not in domain().channels:
        raise InvalidInput(f"unknown channel {channel!r}; known: "
                           + ", ".join(domain().channels.codes()))
    pinned = hashlib.sha256(f"{base.sha256}\nchannel: {channel}".encode()).hexdigest()
    return Mapping(name=f"signal:{channel}", channel=channel, format=base.format,
                   sha256=pinned, near_duplicates=base.near_duplicates,
                   spec=base.spec.model_copy(update={"channel": channel}), source=base.source)
