"""What a mapping can fill: the signal's field paths and the kind of value each takes.

Derived from the signal schema (cases/signals.py), so a field added there (as
`enterprise.locality` was) is mappable at once; only which vocabulary a code field draws on is
written here, because the schema keeps that in a validator.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Literal, Union, get_args, get_origin

from pydantic import BaseModel

from cases.signals import LabResultIn, SignalIn

Kind = Literal["text", "code", "codes", "bool", "int", "datetime", "records"]

# Code fields and the vocabulary (rules/domain.yaml) they draw on.
VOCABULARY = {
    "channel": "channels",
    "product.category": "categories",
    "product.target_users": "target_users",
    "product.sale_channel": "sale_channels",
    "enterprise.credit_class": "credit_classes",
    "hazards": "hazards",
}
# Set by the mapping's top level, not under `fields`.
TOP_LEVEL = ("channel", "reference")


@dataclass(frozen=True)
class Target:
    path: str
    kind: Kind
    vocabulary: str = ""  # for code and codes


def _kind(annotation: object) -> Kind:
    if get_origin(annotation) in (Union, types.UnionType):  # `str | None`
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is datetime:
        return "datetime"
    return "text"


def _walk(model: type[BaseModel], prefix: str) -> dict[str, Target]:
    found: dict[str, Target] = {}
    for name, info in model.model_fields.items():
        path = prefix + name
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(_walk(annotation, path + "."))
        elif get_origin(annotation) is list:
            item = get_args(annotation)[0]
            kind: Kind = ("records" if isinstance(item, type) and issubclass(item, BaseModel)
                          else "codes")
            found[path] = Target(path, kind, VOCABULARY.get(path, ""))
        elif path in VOCABULARY:
            found[path] = Target(path, "code", VOCABULARY[path])
        else:
            found[path] = Target(path, _kind(annotation))
    return found


@cache
def signal_targets() -> dict[str, Target]:
    """Every field a mapping may fill under `fields` (dotted paths), in schema order."""
    return {p: t for p, t in _walk(SignalIn, "").items() if p not in TOP_LEVEL}


@cache
def record_targets() -> dict[str, Target]:
    """The fields of one `lab_results` record."""
    return _walk(LabResultIn, "")
