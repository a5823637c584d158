"""Loading the expert roster from YAML (a list under `experts:`).

Codes are checked against the shared vocabulary at load time, because an expert listed under a
misspelt category would silently never be matched to a case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cases.errors import InvalidInput, describe_validation_error
from cases.inputs import read_text
from experts.panel import ExpertProfile
from rules.domain import domain

DEMO_ROSTER = Path(__file__).with_name("roster_demo.yaml")
MAX_ID_LENGTH = 20  # the case store's expert id column
MAX_ROSTER_BYTES = 5_000_000


def _codes(kind: str, values: list[str]) -> list[str]:
    vocabulary = domain().vocabulary(kind)
    for code in values:
        if code not in vocabulary:
            raise ValueError(f"unknown {kind} code {code!r}; valid: "
                             + ", ".join(vocabulary.codes()))
    if len(set(values)) != len(values):
        raise ValueError(f"{kind} lists a code twice")
    return values


class ExpertEntry(BaseModel):
    """One roster entry as written in the file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    name: str = Field(min_length=1)
    affiliation: str = Field(min_length=1)
    seniority: int = Field(ge=0, le=70)
    categories: list[str] = []
    hazards: list[str] = []
    conflicts: list[str] = []
    active: bool = True
    email: str = ""

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        return _codes("categories", value)

    @field_validator("hazards")
    @classmethod
    def _hazards(cls, value: list[str]) -> list[str]:
        return _codes("hazards", value)

    def profile(self) -> ExpertProfile:
        if not self.categories and not self.hazards:
            raise ValueError("lists neither categories nor hazards, so no case could match")
        return ExpertProfile(id=self.id, name=self.name, affiliation=self.affiliation,
                             seniority=self.seniority, categories=tuple(self.categories),
                             hazards=tuple(self.hazards), conflicts=tuple(self.conflicts),
                             active=self.active, email=self.email)


def load_roster(path: str | Path) -> list[ExpertProfile]:
    """Read and validate a roster file; a problem names the file and the expert."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(read_text(path, MAX_ROSTER_BYTES, what="roster"))
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: cannot read roster: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != {"experts"} or not isinstance(
            raw["experts"], list):
        raise ValueError(f"{path}: a roster is a mapping with one key, `experts:`, holding a "
                         "list of experts")
    profiles: list[ExpertProfile] = []
    seen: set[str] = set()
    for position, item in enumerate(raw["experts"], start=1):
        label = (f"expert {item['id']}" if isinstance(item, dict) and "id" in item
                 else f"expert #{position}")
        try:
            if not isinstance(item, dict):
                raise ValueError("each expert is a mapping of fields")
            profile = ExpertEntry.model_validate(item).profile()
        except ValidationError as exc:
            raise ValueError(f"{path}: {label}: {describe_validation_error(exc)}") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {label}: {exc}") from None
        if profile.id in seen:
            raise ValueError(f"{path}: expert {profile.id}: id is used twice")
        seen.add(profile.id)
        profiles.append(profile)
    if not profiles:
        raise ValueError(f"{path}: the roster lists no experts")
    return profiles
