"""Risk signals as they arrive: the schema of a signal file, and reading one safely.

A signal is what one channel reported (a 12365 complaint, a sampling failure, a foreign alert).
Intake normalises it, de-duplicates it by (channel, reference) and groups it into a case. The
schema is strict (unknown keys are errors) because a misspelt field silently ignored would
change triage.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cases import names
from cases.errors import InvalidInput, describe_validation_error
from cases.inputs import read_json
from cases.text import CONTROL, CONTROL_BUT_LINES
from rules.domain import Domain, Lang, domain

# Signals without a zone are local time at the centre.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
MAX_SIGNAL_BYTES = 1_000_000


def refusal(code: str, text: str, **params: object) -> PydanticCustomError:
    """A validation error with a code (for the web form's message in the page's language,
    `error.<code>`) and its English text (what the CLI prints)."""
    return PydanticCustomError(code, "{text}", {"text": text, **params})


def _in_vocabulary(kind: str) -> AfterValidator:
    """A code of one vocabulary: the current one, or the one in the validation context
    (`{"domain": Domain}`) when stored data is read back under the vocabulary it was written
    under (see `stored_signal`)."""

    def check(value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        vocabulary = (context.get("domain") or domain()).vocabulary(kind)
        if value not in vocabulary:
            raise refusal("code_unknown",
                          f"unknown {kind.rstrip('s').replace('_', ' ')} {value!r}; "
                          "expected one of " + ", ".join(vocabulary.codes()),
                          kind=kind, value=value[:40])
        return value
    return AfterValidator(check)


Channel = Annotated[str, _in_vocabulary("channels")]
Category = Annotated[str, _in_vocabulary("categories")]
Hazard = Annotated[str, _in_vocabulary("hazards")]
TargetUsers = Annotated[str, _in_vocabulary("target_users")]
SaleChannel = Annotated[str, _in_vocabulary("sale_channels")]
CreditClass = Annotated[str, _in_vocabulary("credit_classes")]


def _no_control(pattern: re.Pattern[str], allowed: str) -> AfterValidator:
    """Control characters have no place in a signal's text (a NUL is even stored differently
    by SQLite and refused by PostgreSQL): refused the same way on every store."""
    def check(value: str) -> str:
        found = pattern.search(value)
        if found:
            raise refusal("control_character",
                          f"contains the control character U+{ord(found.group()):04X} at "
                          f"position {found.start() + 1}; {allowed}",
                          position=found.start() + 1)
        return value
    return AfterValidator(check)


Count = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
ShortText = Annotated[str, Field(max_length=200),
                      _no_control(CONTROL, "give plain text on one line")]
LongText = Annotated[str, Field(max_length=10_000),
                     _no_control(CONTROL_BUT_LINES, "only line breaks and tabs are allowed")]
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _received(value: Any) -> Any:
    """An ISO 8601 date and time, never a number (an epoch integer is not taken as a date)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        raise refusal("date_format", "expected an ISO 8601 date and time such as "
                                     "2026-11-18T10:42:00+08:00")
    return value.strip()


class _Strict(BaseModel):
    # strict: true/false only for booleans ("no", "off", 0 and 1 are refused), whole numbers
    # only for counts, text only for text.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True,
                              strict=True)


class ProductIn(_Strict):
    category: Category
    name: ShortText = ""
    brand: ShortText = ""
    model: ShortText = ""
    batch: ShortText = ""
    target_users: TargetUsers = "general"
    imported: bool = False
    origin_country: ShortText = ""
    sale_channel: SaleChannel = "offline"
    on_market: bool = True
    with_consumers: bool = True
    # The applicable mandatory or national standard; null means none is known to apply.
    standard: ShortText | None = None


class EnterpriseIn(_Strict):
    name: ShortText = ""
    credit_code: ShortText = ""  # unified social credit code
    group: ShortText = ""  # the group or parent company it belongs to, if known
    province: ShortText = ""
    locality: ShortText = ""  # the city or county within the province (escalation watch)
    credit_class: CreditClass = "unknown"
    violations_3y: Count = 0

    @field_validator("credit_code")
    @classmethod
    def _a_credit_code(cls, value: str, info: ValidationInfo) -> str:
        """A mistyped code would open a credit file of its own, and the enterprise's history
        would not follow the case. (Data stored before this check is read as it was.)"""
        if value and not (info.context or {}).get("stored") \
                and not names.CREDIT_CODE.match(names.code_key(value)):
            raise refusal("credit_code", "not a unified social credit code (18 characters: "
                                         "digits and capital letters but I, O, S, V, Z)")
        return value


class InjuriesIn(_Strict):
    """People harmed, as reported. `count` includes the severe, fatal and child cases."""

    count: Count = 0
    severe: Count = 0
    fatalities: Count = 0
    children: Count = 0

    @model_validator(mode="after")
    def _parts_within_total(self) -> InjuriesIn:
        for part in ("severe", "fatalities", "children"):
            if getattr(self, part) > self.count:
                raise refusal("count_parts", f"{part} ({getattr(self, part)}) cannot exceed "
                                             f"count ({self.count}), which includes them",
                              part=part)
        return self


class LabResultIn(_Strict):
    item: Annotated[str, Field(min_length=1, max_length=200),
                    _no_control(CONTROL, "give plain text on one line")]
    result: Literal["pass", "fail"]
    standard: ShortText = ""
    value: ShortText = ""
    laboratory: ShortText = ""


class SignalIn(_Strict):
    channel: Channel
    reference: Annotated[str, Field(min_length=1, max_length=100),
                         _no_control(CONTROL, "give plain text on one line")]
    received_at: Annotated[datetime, Field(strict=False), BeforeValidator(_received)]
    product: ProductIn
    title: ShortText = ""
    description: LongText = ""
    enterprise: EnterpriseIn = EnterpriseIn()
    hazards: list[Hazard] = []
    substance_over_limit: bool = False
    injuries: InjuriesIn = InjuriesIn()
    lab_results: list[LabResultIn] = []
    # What the source itself did or asked for (e.g. the foreign authority's measure): evidence.
    source_measure: ShortText = ""
    # Who reported it, as the source names them (a testing institute, a network member, a
    # person): an expert who signalled a case does not sit on its panel.
    reporter: ShortText = ""

    @field_validator("received_at")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        zoned = value if value.tzinfo else value.replace(tzinfo=LOCAL_ZONE)
        try:
            in_utc = zoned.astimezone(UTC)
        except (OverflowError, ValueError):
            in_utc = None
        if in_utc is None or not EARLIEST <= in_utc < LATEST:
            raise refusal("date_range", f"must be between {EARLIEST:%Y} and {LATEST:%Y}",
                          earliest=f"{EARLIEST:%Y}", latest=f"{LATEST:%Y}")
        return zoned

    @field_validator("hazards")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def missing_info(self) -> list[str]:
        """Essential information the signal lacks (a triage input)."""
        missing = []
        if not self.product.name:
            missing.append("product")
        if not (self.enterprise.name or self.enterprise.credit_code):
            missing.append("enterprise")
        if not self.hazards:
            missing.append("hazard")
        if not self.description:
            missing.append("description")
        return missing

    def default_title(self, lang: Lang) -> str:
        if self.title:
            return self.title
        vocab = domain()
        product = self.product.name or vocab.categories.name(self.product.category, lang)
        hazards = ("、" if lang == "zh" else ", ").join(
            vocab.hazards.name(h, lang) for h in self.hazards)
        if not hazards:
            return product
        return f"{product}（{hazards}）" if lang == "zh" else f"{product} ({hazards})"


def enterprise_key(signal: SignalIn, known_code: str = "") -> str:
    """Identity of the responsible enterprise (cases.names.enterprise_identity)."""
    return names.enterprise_identity(signal.enterprise.credit_code, signal.enterprise.name,
                                     known_code)


def product_key(signal: SignalIn, known_code: str = "") -> str:
    """Identity of 'the same product' for grouping and repeat counts."""
    return names.product_identity(enterprise_key(signal, known_code), signal.product.brand,
                                  signal.product.name, signal.product.model)


def parse_signal(data: object, *, source: str = "signal") -> SignalIn:
    """Validate signal data; raise InvalidInput with a one-line message naming the field."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: a signal is a JSON object, got {type(data).__name__}")
    try:
        return SignalIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc, source=source)) from None


def stored_signal(payload: dict, vocabulary: Domain) -> SignalIn:
    """A stored signal, read back under the vocabulary it was validated under at intake."""
    return SignalIn.model_validate(payload, context={"domain": vocabulary, "stored": True})


def read_signal_file(path: Path) -> SignalIn:
    """Read and validate a signal file (JSON; cases/inputs.py bounds and checks the read)."""
    return parse_signal(read_json(path, MAX_SIGNAL_BYTES, what="signal"), source=str(path))
