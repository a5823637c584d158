"""Risk signals as they arrive: the schema of a signal file, and reading one safely.

A signal is what one channel reported (a 12365 complaint, a sampling failure, a foreign alert).
Intake normalises it, de-duplicates it by (channel, reference) and groups it into a case. The
schema is strict (unknown keys are errors) because a misspelt field silently ignored would
change triage.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cases import names
from cases.errors import InvalidInput, describe_validation_error
from rules.domain import Domain, Lang, domain

# Signals without a zone are local time at the centre.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
MAX_SIGNAL_BYTES = 1_000_000


def _in_vocabulary(kind: str) -> AfterValidator:
    """A code of one vocabulary: the current one, or the one in the validation context
    (`{"domain": Domain}`) when stored data is read back under the vocabulary it was written
    under (see `stored_signal`)."""

    def check(value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        vocabulary = (context.get("domain") or domain()).vocabulary(kind)
        if value not in vocabulary:
            raise ValueError(f"unknown {kind.rstrip('s').replace('_', ' ')} {value!r}; "
                             "expected one of " + ", ".join(vocabulary.codes()))
        return value
    return AfterValidator(check)


Channel = Annotated[str, _in_vocabulary("channels")]
Category = Annotated[str, _in_vocabulary("categories")]
Hazard = Annotated[str, _in_vocabulary("hazards")]
TargetUsers = Annotated[str, _in_vocabulary("target_users")]
SaleChannel = Annotated[str, _in_vocabulary("sale_channels")]
CreditClass = Annotated[str, _in_vocabulary("credit_classes")]
Count = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
ShortText = Annotated[str, Field(max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


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
    credit_class: CreditClass = "unknown"
    violations_3y: Count = 0


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
                raise ValueError(f"{part} ({getattr(self, part)}) cannot exceed count "
                                 f"({self.count}), which includes them")
        return self


class LabResultIn(_Strict):
    item: Annotated[str, Field(min_length=1, max_length=200)]
    result: Literal["pass", "fail"]
    standard: ShortText = ""
    value: ShortText = ""
    laboratory: ShortText = ""


class SignalIn(_Strict):
    channel: Channel
    reference: Annotated[str, Field(min_length=1, max_length=100)]
    received_at: datetime
    product: ProductIn
    title: ShortText = ""
    description: Annotated[str, Field(max_length=10_000)] = ""
    enterprise: EnterpriseIn = EnterpriseIn()
    hazards: list[Hazard] = []
    substance_over_limit: bool = False
    injuries: InjuriesIn = InjuriesIn()
    lab_results: list[LabResultIn] = []
    # What the source itself did or asked for (e.g. the foreign authority's measure): evidence.
    source_measure: ShortText = ""

    @field_validator("received_at")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=LOCAL_ZONE)

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
    return SignalIn.model_validate(payload, context={"domain": vocabulary})


def read_signal_file(path: Path) -> SignalIn:
    """Read and validate a signal file (JSON)."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{shown}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{shown}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_SIGNAL_BYTES:
        raise InvalidInput(f"{shown}: {len(raw)} bytes is too large for a signal "
                           f"(max {MAX_SIGNAL_BYTES})")
    if not raw.strip():
        raise InvalidInput(f"{shown}: the file is empty")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{shown}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{shown}: not valid JSON at line {exc.lineno} column {exc.colno}: "
                           f"{exc.msg}") from None
    return parse_signal(data, source=shown)
