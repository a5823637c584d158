"""The console's forms as a browser posts them, turned into the same inputs the CLI gives the
same calls — a signal validated by cases/signals.py, lab results by LabResultIn, an override's
ranked measures, an action's progress — and their refusals turned into messages beside the
fields, in the page's language. Nothing here stores anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from starlette.datastructures import FormData, UploadFile

from cases.errors import FieldErrors, InvalidInput, RiskGateError
from cases.inputs import parse_json
from cases.signals import MAX_SIGNAL_BYTES, SignalIn
from cases.signals import refusal as refusal_error
from reports.i18n import Catalog
from rules.domain import domain

# The signal form's fields: "product.category" is the signal's product.category.
SIGNAL_TEXT = ("channel", "reference", "received_at", "title", "description", "reporter",
               "source_measure", "product.category", "product.name", "product.brand",
               "product.model", "product.batch", "product.target_users",
               "product.sale_channel", "product.standard", "enterprise.name",
               "enterprise.credit_code", "enterprise.province", "enterprise.credit_class")
SIGNAL_COUNTS = ("enterprise.violations_3y", "injuries.count", "injuries.severe",
                 "injuries.fatalities", "injuries.children")
SIGNAL_FLAGS = ("product.imported", "product.on_market", "product.with_consumers",
                "substance_over_limit")
FLAGS_ON_BY_DEFAULT = ("product.on_market", "product.with_consumers")


def _whole(text: str) -> int | str:
    """A whole number as int; anything else stays text so validation refuses it by name."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        data.setdefault(head, {})[rest] = value
    else:
        data[head] = value


def signal_data(form: FormData | Mapping[str, Any]) -> dict[str, Any]:
    """The signal the form describes, as the JSON a signal file would hold. Blank fields are
    left out (their defaults apply); the standard left blank means none is known."""
    data: dict[str, Any] = {}
    for name in SIGNAL_TEXT:
        value = str(form.get(name) or "").strip()
        if value:
            _put(data, name, value)
    for name in SIGNAL_COUNTS:
        value = str(form.get(name) or "").strip()
        if value:
            _put(data, name, _whole(value))
    for name in SIGNAL_FLAGS:
        _put(data, name, form.get(name) in ("on", "1", "true"))
    hazards = form.getlist("hazards") if isinstance(form, FormData) else form.get("hazards", [])
    data["hazards"] = [str(h) for h in hazards if str(h).strip()]
    return data


def validate_signal(data: dict[str, Any]) -> SignalIn:
    """The signal, or FieldErrors by form field (`product.category`, `injuries.count`, …)."""
    try:
        return SignalIn.model_validate(data)
    except ValidationError as exc:
        raise FieldErrors.from_validation(exc, source="signal") from None


async def uploaded_signal(upload: UploadFile) -> SignalIn:
    """A signal file uploaded from the browser, read as the CLI reads one: at most 1 MB,
    UTF-8, strict JSON, the same validation."""
    raw = await upload.read(MAX_SIGNAL_BYTES + 1)
    name = (upload.filename or "upload")[:80]

    def refused(detail: str) -> InvalidInput:
        return InvalidInput(f"{name}: {detail}", code="file_refused", name=name, detail=detail)

    if len(raw) > MAX_SIGNAL_BYTES:
        raise refused(f"too large for a signal (max {MAX_SIGNAL_BYTES} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refused(f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = parse_json(text, source=name)
    except InvalidInput as bad:
        raise refused(str(bad).removeprefix(f"{name}: ")) from None
    if not isinstance(data, dict):
        raise refused("a signal is a JSON object")
    try:
        return SignalIn.model_validate(data)
    except ValidationError as exc:
        raise FieldErrors.from_validation(exc, source=name) from None


def ranked_measures(form: Mapping[str, Any]) -> list[str]:
    """An approver's measures from `rank_<code>` selects (1 first; blank: not chosen)."""
    ranks: dict[str, int] = {}
    for code in domain().measures.codes():
        text = str(form.get(f"rank_{code}") or "").strip()
        if not text:
            continue
        rank = _whole(text)
        most = len(domain().measures.codes())
        if not isinstance(rank, int) or not 1 <= rank <= most:
            raise FieldErrors({"measures": ("override_rank", {"most": most},
                                            f"a rank is a whole number from 1 to {most}")},
                              source="override")
        ranks[code] = rank
    if len(set(ranks.values())) != len(ranks):
        raise FieldErrors({"measures": ("measure_rank_twice", {}, "two measures have the same "
                                        "rank")}, source="override")
    return sorted(ranks, key=lambda c: ranks[c])


def action_data(form: Mapping[str, Any], measure: str) -> dict[str, Any]:
    """An action's update from its form: status, `progress.<name>` fields, note, outcome."""
    names = domain().progress_fields(measure)
    return {"status": str(form.get("status") or ""),
            "progress": {n: str(form.get(f"progress.{n}") or "") for n in names},
            "note": str(form.get("note") or ""), "outcome": str(form.get("outcome") or "")}


def refusal(error: RiskGateError, t: Catalog) -> str:
    """A refusal in the page's language when the catalog has its code (`refusal.<code>`),
    else its English text."""
    key = f"refusal.{error.code}"
    if error.code and key in t.messages:
        params = {k: t.t(f"state.{v}") if k == "state" else t.t(f"gate.{v}") if k == "gate"
                  else v for k, v in error.params.items()}
        try:
            return t.t(key, **params)
        except KeyError:
            pass
    return str(error)


def localised(errors: FieldErrors, t: Catalog) -> dict[str, str]:
    """Each refused field's message in the page's language (`error.<code>` of the catalog), or
    the English text where no translation exists."""
    shown: dict[str, str] = {}
    for where, (code, params, text) in errors.errors.items():
        name = where.split("[")[0]  # hazards[0] is shown beside hazards
        if name in shown:
            continue
        key = f"error.{code}"
        try:
            shown[name] = t.t(key, **params) if key in t.messages else text
        except KeyError:
            shown[name] = text
    return shown


# -- moving signals and splitting a case (cases/regroup.py checks the rest) ----------------------

FormModel = TypeVar("FormModel", bound=BaseModel)


class MoveForm(BaseModel):
    """Move one signal: to a case named by id, or to a new case."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    signal: int = Field(ge=1)
    destination: Literal["case", "new"]
    to: str = Field("", max_length=40)
    reason: str = ""

    @field_validator("to")
    @classmethod
    def _named(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("destination") == "case" and not value:
            raise refusal_error("case_needed", "give the id of the case to move it to")
        return value

    @property
    def target(self) -> str | None:
        return self.to if self.destination == "case" else None


class SplitForm(BaseModel):
    """Split the ticked signals (`split.<id>` check boxes) off into one new case."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    signals: list[int]
    reason: str = ""


def _validated(model: type[FormModel], data: dict[str, Any]) -> FormModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FieldErrors.from_validation(exc) from None


def move_form(form: Mapping[str, Any]) -> MoveForm:
    return _validated(MoveForm, {k: form.get(k) for k in ("signal", "destination", "to",
                                                            "reason") if k in form})


def split_form(form: Mapping[str, Any]) -> SplitForm:
    ticked = [k.removeprefix("split.") for k, v in form.items()
              if k.startswith("split.") and v == "on"]
    return _validated(SplitForm, {"signals": ticked, "reason": form.get("reason", "")})
