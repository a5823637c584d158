"""The Jinja2 environment gate templates render in: safe escaping, report filters, translation.

Values reach reports from users (product names, rationales, complaint texts), so every `{{ … }}`
output is escaped by the `finalize` hook — a template author cannot forget it. Trusted markup
built inside a template passes through only when explicitly marked with the `raw` filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from reports.i18n import Catalog
from rules.domain import Lang, domain
from rules.risk_matrix import BAND_LABELS, LEVEL_NAMES

NONE_TEXT = "—"
REPORT_TIMEZONE = ZoneInfo("Asia/Shanghai")
VOCABULARY_KINDS = ("channels", "categories", "hazards", "target_users", "sale_channels",
                    "scopes", "credit_classes", "measures", "authorities", "progress",
                    "action_statuses", "industries")

# Characters that XML 1.0 forbids (python-docx/lxml refuse them; \r and \n are handled as line
# breaks before this applies). Surrogates cannot even be encoded to UTF-8.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MARKUP_CHARS = frozenset("\\|#->*")


class Raw(str):
    """Trusted markup that the finalizer leaves alone (mark with the `raw` filter)."""

    __slots__ = ()


def clean_text(text: str) -> str:
    """Drop XML-invalid characters and normalise line endings to "\\n"."""
    return _XML_INVALID.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def escape(value: Any) -> str:
    """Markup for a value that shows it literally and cannot change the document's structure.

    None → "—". Markup characters are backslash-escaped, line breaks become `\\n`, and
    surrounding whitespace is escaped too so that line stripping in the parser keeps it.
    """
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return NONE_TEXT
    text = clean_text(str(value))
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "\n":
            out.append("\\n")
        elif char in _MARKUP_CHARS or (char.isspace() and not start <= index < end):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


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


def make_environment(templates_dir: Path, lang: Lang) -> jinja2.Environment:
    """The environment for one language: escaping finalizer, StrictUndefined, report filters."""
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

    def plain(value: Any) -> str | None:
        """A fact value as the rulebooks write it: codes, numbers, true/false, lists by comma."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return ", ".join(plain(v) or NONE_TEXT for v in value) or NONE_TEXT
        return str(value)

    def kv(mapping: dict[str, Any] | None) -> str:
        """`field=value; …` — the values a rule tested, or the outcome it gave."""
        if not mapping:
            return NONE_TEXT
        return "; ".join(f"{key}={plain(value)}" for key, value in mapping.items())

    def measure_attr(code: str, attr: str) -> str:
        """A measure's meaning or lead party from rules/domain.yaml, in the report language."""
        return domain().measures.attr(code, f"{attr}_{lang}")

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        finalize=escape,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(t=catalog.t, lang=lang)
    env.filters.update(
        name=name, names=names, level=level, band=band, dt=format_datetime, yesno=yesno,
        pct=format_percent, num=format_number, raw=Raw, plain=plain, kv=kv,
        measure_attr=measure_attr,
    )
    return env
