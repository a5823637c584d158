"""The Jinja2 environment report templates render in: escaping, report filters, translation.

Values reach reports from users (product names, rationales, complaint texts), so every `{{ … }}`
output is XML-escaped (autoescape) after the `finalize` hook has dropped characters XML cannot
hold; a line break in a value becomes a line break in Word (docxtpl). Codes are shown in words
through the filters (`name`, `names`, `level`, `fact`, `yesno`); a raw code in a report is a
defect that tests/reports/test_words.py looks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reports.i18n import Catalog
from rules.domain import Lang, domain
from rules.risk_matrix import BAND_LABELS, LEVEL_NAMES
from rules.schema import fact_field

NONE_TEXT = "—"
REPORT_TIMEZONE = ZoneInfo("Asia/Shanghai")
VOCABULARY_KINDS = ("channels", "categories", "hazards", "target_users", "sale_channels",
                    "scopes", "credit_classes", "measures", "authorities", "progress",
                    "action_statuses", "industries", "flags")

# Characters that XML 1.0 forbids (lxml refuses them; \r and \n are handled as line breaks
# before this applies). Surrogates cannot even be encoded to UTF-8. \a and \f are among them,
# which docxtpl would otherwise turn into paragraph and page breaks.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")


def clean_text(text: str) -> str:
    """Drop XML-invalid characters and normalise line endings to "\\n"."""
    return _XML_INVALID.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def finalize(value: Any) -> Any:
    """What a `{{ … }}` shows: None as "—", text cleaned; markup objects (images) untouched."""
    if value is None:
        return NONE_TEXT
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return clean_text(value)
    return value


def as_datetime(value: datetime | str) -> datetime:
    """An aware datetime from a datetime or ISO 8601 string; naive values are taken as UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime or ISO 8601 string, got {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_datetime(value: datetime | str | None) -> str | None:
    """`2026-11-22 14:03:05 UTC+08:00` in the report timezone, the same in every language."""
    if value is None:
        return None
    local = as_datetime(value).astimezone(REPORT_TIMEZONE)
    offset = int(local.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset), 60)
    return f"{local:%Y-%m-%d %H:%M:%S} UTC{sign}{hours:02d}:{minutes:02d}"


def format_date(value: datetime | str, lang: Lang) -> str:
    """The date a report is issued on, as offices write it: 2026年12月6日 / 6 December 2026."""
    local = as_datetime(value).astimezone(REPORT_TIMEZONE)
    if lang == "zh":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {MONTHS_EN[local.month - 1]} {local.year}"


def _decimal(value: float | int | Decimal | Fraction) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal | Fraction):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    # str() first: Decimal(0.1) would carry the binary float's noise into the rounding.
    return Decimal(str(value))


def format_number(value: float | int | Decimal | Fraction | None, digits: int = 2) -> str | None:
    """Exactly `digits` decimals, rounded half up on the decimal value, so that columns line up
    and binary noise never shows: 0.1 + 0.2 → "0.30", 2.675 → "2.68", -0.001 → "0.00"."""
    if value is None:
        return None
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = abs(rounded)
    return f"{rounded:f}"


def format_percent(value: float | int | Decimal | Fraction | None, digits: int = 0) -> str | None:
    """A ratio as a percentage: 0.75 → "75%", pct(0.1234, 1) → "12.3%"."""
    if value is None:
        return None
    return f"{format_number(_decimal(value) * 100, digits)}%"


def _vocabulary(kind: str):
    if kind not in VOCABULARY_KINDS:
        raise ValueError(f"unknown vocabulary {kind!r}; expected one of {VOCABULARY_KINDS}")
    return domain().vocabulary(kind)


def _codes_of(value: Any) -> str:
    """The codes behind a shown value (text and lists of text), for the rule trail."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return ""


def _joined(words: list[str], catalog: Catalog) -> str:
    return catalog.t("format.list_separator").join(words) if words else NONE_TEXT


def _enum_words(code: str, field: str, vocabulary: str, lang: Lang, catalog: Catalog) -> str:
    if vocabulary:
        return _vocabulary(vocabulary).name(code, lang)
    if field == "risk_level":
        return LEVEL_NAMES.get(code, {}).get(lang, code)
    return catalog.t(f"fact_value.{field}.{code}")


def fact_words(value: Any, field: str, lang: Lang, catalog: Catalog) -> str | None:
    """A rulebook fact's value as a reader says it (rules/schema.py knows each field's kind)."""
    if value is None:
        return None
    spec = fact_field(field)
    if isinstance(value, bool):
        return catalog.t("value.yes" if value else "value.no")
    if field == "probability_band" and isinstance(value, int):
        return BAND_LABELS[value]
    if spec is not None and spec.kind in ("enum", "enum_list"):
        codes = [value] if isinstance(value, str) else list(value)
        return _joined([_enum_words(c, field, spec.vocabulary, lang, catalog) for c in codes],
                       catalog)
    return str(value)


# The outcome keys rulebooks give, and how their values are said.
_OUTCOME_VOCABULARY = {"interim_measures": "measures", "measures": "measures",
                       "flags": "flags", "referral": "authorities", "notify": "authorities"}


def outcome_words(value: Any, key: str, lang: Lang, catalog: Catalog) -> str | None:
    if value is None:
        return None
    codes = [value] if isinstance(value, str) else value
    if key == "next_gate":
        return catalog.t(f"next_gate.{value}")
    if key == "risk":
        return LEVEL_NAMES.get(value, {}).get(lang, value)
    if key == "request_info":
        return _joined([catalog.t(f"fact_value.missing_info.{c}") for c in codes], catalog)
    if key in _OUTCOME_VOCABULARY and isinstance(codes, list | tuple):
        vocabulary = _vocabulary(_OUTCOME_VOCABULARY[key])
        return _joined([vocabulary.name(c, lang) for c in codes], catalog)
    return str(value)


_ACTOR_RULEBOOK = re.compile(r"^riskgate \(rulebook (?P<name>\S+) (?P<version>\S+)\)$")
_ACTOR_DECISION = re.compile(r"^riskgate \(decision of (?P<who>.+)\)$")
_ACTOR_PANEL = re.compile(r"^expert panel: (?P<ids>.+)$")
MAX_REPEATED = 100_000  # characters or items a template may make by `*`
MAX_EXPONENT = 64


class ReportSandbox(ImmutableSandboxedEnvironment):
    """Templates come from a centre's folder (RISKGATE_TEMPLATES): they may read the report's
    data and call the filters, not reach Python's internals (the sandbox refuses `__…__`
    attributes and changing objects) nor make huge values (`x * 10**8`; `range` is capped by
    the sandbox itself)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is over {MAX_EXPONENT}")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) \
                        and len(seq) * times > MAX_REPEATED:
                    raise SecurityError(f"repetition makes over {MAX_REPEATED} items")
        return super().call_binop(context, operator, left, right)


def make_environment(lang: Lang) -> jinja2.Environment:
    """The environment for one language: escaping, StrictUndefined, report filters."""
    catalog = Catalog.load(lang)

    def name(code: str | None, kind: str) -> str | None:
        return None if code is None else _vocabulary(kind).name(code, lang)

    def names(codes: Iterable[str] | None, kind: str) -> str:
        if isinstance(codes, str):  # would otherwise be shown letter by letter
            raise TypeError(f"names expects a list of {kind} codes, got the string {codes!r}")
        vocabulary = _vocabulary(kind)
        shown = [vocabulary.name(code, lang) for code in codes or ()]
        return catalog.t("format.list_separator").join(shown) if shown else NONE_TEXT

    def level(code: str | None) -> str | None:
        return None if code is None else LEVEL_NAMES.get(code, {}).get(lang, code)

    def band(index: int | None) -> str | None:
        return None if index is None else BAND_LABELS[index]

    def yesno(value: bool | None) -> str | None:
        return None if value is None else catalog.t("value.yes" if value else "value.no")

    def fact(value: Any, field: str) -> str | None:
        """A fact's value in words: codes by their vocabulary, yes/no, bands by label."""
        return fact_words(value, field, lang, catalog)

    def outcome(value: Any, key: str) -> str | None:
        """What a rule gave (next gate, measures, flags, …) in words."""
        return outcome_words(value, key, lang, catalog)

    def kv(mapping: dict[str, Any] | None, what: str = "fact") -> str:
        """The values a rule tested (`what="fact"`) or the outcome it gave (`"outcome"`):
        `label [code] = words [value code]; …`. The codes stay beside the words here, in the
        rule trail, because an auditor matches them against the rulebook."""
        if not mapping:
            return NONE_TEXT
        words = fact if what == "fact" else outcome
        shown = []
        for key, value in mapping.items():
            label = catalog.t(f"{what}.{key}")
            codes = _codes_of(value)
            text = words(value, key) or NONE_TEXT
            shown.append(f"{label} [{key}] = {text}" + (f" [{codes}]" if codes else ""))
        return "; ".join(shown)

    def exclusion_detail(detail: str, reason: str) -> str | None:
        """Why an expert was kept off the panel, in words (experts/conflicts.py writes the
        codes it matched as `wanted:<category>,<hazard>…` and `open_seats:<n>/<cap>`)."""
        kind, _, value = detail.partition(":")
        if reason == "no_expertise" and kind == "wanted":
            category, *hazards = value.split(",")
            wanted = [_vocabulary("categories").name(category, lang),
                      *(_vocabulary("hazards").name(h, lang) for h in hazards)]
            return catalog.t("panel.wanted", wanted=_joined(wanted, catalog))
        if reason == "workload_cap" and kind == "open_seats":
            seats, _, cap = value.partition("/")
            return catalog.t("panel.open_seats", seats=seats, cap=cap)
        return detail or None

    def actor(text: str | None) -> str | None:
        """Who acted, in words: the gates write the system's actors in one form
        (flows/gates/common.py: `riskgate`, `riskgate (rulebook NAME VERSION)`, `riskgate
        (decision of WHO)`, `expert panel: E001, …`); people's accounts stay as they are."""
        if text is None:
            return None
        if text == "riskgate":
            return catalog.t("actor.system")
        if found := _ACTOR_RULEBOOK.match(text):
            name = found["name"]
            rulebook = catalog.t(f"gate.{name}") if f"gate.{name}" in catalog.messages \
                else name
            return catalog.t("actor.rulebook", rulebook=rulebook, version=found["version"])
        if found := _ACTOR_DECISION.match(text):
            return catalog.t("actor.decision", who=found["who"])
        if found := _ACTOR_PANEL.match(text):
            ids = [i.strip() for i in found["ids"].split(",")]
            return catalog.t("actor.panel", experts=_joined(ids, catalog))
        return text

    def measure_attr(code: str, attr: str) -> str:
        """A measure's meaning or lead party from rules/domain.yaml, in the report language."""
        return domain().measures.attr(code, f"{attr}_{lang}")

    env = ReportSandbox(undefined=jinja2.StrictUndefined, finalize=finalize, autoescape=True)
    del env.filters["safe"]  # a value marked safe would be written into the XML unescaped
    env.globals.update(t=catalog.t, lang=lang)
    env.filters.update(
        name=name, names=names, level=level, band=band, dt=format_datetime, yesno=yesno,
        pct=format_percent, num=format_number, fact=fact, outcome=outcome, kv=kv,
        measure_attr=measure_attr, exclusion_detail=exclusion_detail, actor=actor,
    )
    return env
