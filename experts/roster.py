"""Reading an expert roster from YAML (a list under `experts:`) or CSV (one expert per row).

Every row is checked before anything is stored, and every bad row is reported with its line, so
a roster of 300 people is fixed in one pass and never half-imported. Codes are checked against
the shared vocabulary because an expert listed under a misspelt category would silently never
be matched to a case.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cases.errors import InvalidInput, describe_validation_error
from cases.inputs import read_text
from experts.panel import ExpertProfile
from rules.domain import domain

DEMO_ROSTER = Path(__file__).with_name("roster_demo.yaml")
MAX_ID_LENGTH = 20  # the case store's expert id column
MAX_ROSTER_BYTES = 5_000_000
MAX_PROBLEMS_SHOWN = 20
LIST_SEPARATOR = ";"  # between items of a list in a CSV cell
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
Text = Annotated[str, Field(min_length=1, max_length=200)]
Year = Annotated[int, Field(ge=1950, le=2100)]


class RosterError(ValueError):
    """A roster with bad rows; `problems` holds one `file:line: expert: what` per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        self.lines = [*shown, *([f"… and {more} more"] if more else []),
                      f"{path}: {len(problems)} problem(s); nothing was imported"]
        super().__init__("\n".join(self.lines))
        self.problems = problems


def _codes(kind: str, values: list[str]) -> list[str]:
    vocabulary = domain().vocabulary(kind)
    for code in values:
        if code not in vocabulary:
            raise ValueError(f"unknown {kind} code {code!r}; valid: "
                             + ", ".join(vocabulary.codes()))
    if len(set(values)) != len(values):
        raise ValueError(f"{kind} lists a code twice")
    return values


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True,
                              populate_by_name=True)


class Period(_Entry):
    """A stretch of days the expert cannot sit (leave, travel), both days included."""

    start: date = Field(alias="from", strict=False)
    end: date = Field(alias="to", strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self

    def to_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


class Employment(_Entry):
    """Work for an enterprise, by year; `to` empty while it lasts."""

    enterprise: Text
    start: Year = Field(alias="from")
    end: Year | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Employment:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"enterprise": self.enterprise, "from": self.start, "to": self.end}


class ExpertEntry(_Entry):
    """One roster entry as written in the file."""

    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[A-Za-z0-9._-]+$")
    name: Text
    affiliation: Text
    group: str = Field(default="", max_length=200)  # the affiliation's organisation group
    email: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=100)
    seniority: int = Field(ge=0, le=70)  # years of relevant experience
    categories: list[str] = []
    hazards: list[str] = []
    lab_methods: list[Text] = []
    max_open_seats: int | None = Field(default=None, ge=1, le=50)
    unavailable: list[Period] = []
    employment: list[Employment] = []
    conflicts: list[Text] = []  # declared relations: enterprises, groups, credit codes
    active: bool = True

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        return _codes("categories", value)

    @field_validator("hazards")
    @classmethod
    def _hazards(cls, value: list[str]) -> list[str]:
        return _codes("hazards", value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not _EMAIL.match(value):
            raise ValueError("is not an e-mail address (name@domain)")
        return value

    def profile(self) -> ExpertProfile:
        if not self.categories and not self.hazards:
            raise ValueError("lists neither categories nor hazards, so no case could match")
        return ExpertProfile(
            id=self.id, name=self.name, affiliation=self.affiliation, seniority=self.seniority,
            categories=tuple(self.categories), hazards=tuple(self.hazards),
            conflicts=tuple(self.conflicts), active=self.active, email=self.email,
            group=self.group, region=self.region, lab_methods=tuple(self.lab_methods),
            max_open_seats=self.max_open_seats,
            unavailable=tuple(p.to_dict() for p in self.unavailable),
            employment=tuple(e.to_dict() for e in self.employment))


FIELDS = tuple(ExpertEntry.model_fields)  # also the CSV header, in this order
LIST_FIELDS = ("categories", "hazards", "lab_methods", "conflicts")
REQUIRED = tuple(name for name, f in ExpertEntry.model_fields.items() if f.is_required())


# ── reading the two formats into (line, raw entry) rows ─────────────────────────────────────

def _yaml_rows(path: Path, text: str) -> list[tuple[int, Any]]:
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RosterError(path, [f"{path}: cannot read roster: {exc}"]) from None
    except (ValueError, TypeError) as exc:  # a scalar YAML cannot build, e.g. 2026-13-01
        raise RosterError(path, [f"{path}: cannot read roster: {exc}"]) from None
    if not isinstance(data, dict) or set(data) != {"experts"} or not isinstance(
            data["experts"], list) or not isinstance(tree, yaml.MappingNode) \
            or len(tree.value) != 1:
        raise RosterError(path, [f"{path}: a YAML roster is a mapping with one key, `experts:`, "
                                 "given once, holding a list of experts"])
    items = tree.value[0][1].value
    rows = []
    for node, item in zip(items, data["experts"], strict=True):
        keys = [k.value for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        rows.append((node.start_mark.line + 1, ValueError(
            f"{_label(item)}field {repeated[0]!r} is given twice") if repeated else item))
    return rows


def _split(cell: str) -> list[str]:
    """A cell's list items; a full-width ；, as Chinese input methods type it, separates too."""
    return [part.strip() for part in cell.replace("；", LIST_SEPARATOR).split(LIST_SEPARATOR)
            if part.strip()]


def _csv_period(text: str) -> dict[str, str]:
    start, slash, end = text.partition("/")
    if not slash:
        raise ValueError(f"unavailable: {text!r} is not a period; write FROM/TO, "
                         "e.g. 2026-12-01/2026-12-20")
    return {"from": start.strip(), "to": end.strip()}


def _csv_year(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"employment: {what} year {text!r} is not a year")
    return int(text)


def _csv_employment(text: str) -> dict[str, Any]:
    enterprise, colon, years = text.rpartition(":")
    start, dash, end = years.partition("-")
    if not colon or not dash:
        raise ValueError(f"employment: {text!r}; write ENTERPRISE:FROM-TO (TO empty while it "
                         "lasts), e.g. 宁波乐童玩具有限公司:2019-2023")
    return {"enterprise": enterprise.strip(), "from": _csv_year(start, "start"),
            "to": _csv_year(end, "end")}


def _csv_int(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number") from None


def _csv_entry(cells: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the entry YAML would give; an empty cell is an absent field."""
    entry: dict[str, Any] = {}
    for name, value in cells.items():
        value = value.strip()
        if name in LIST_FIELDS:
            entry[name] = _split(value)
        elif not value:
            continue
        elif name in ("seniority", "max_open_seats"):
            entry[name] = _csv_int(value, name)
        elif name == "active":
            if value.lower() not in ("true", "false"):
                raise ValueError(f"active: {value!r}; write true or false")
            entry[name] = value.lower() == "true"
        elif name == "unavailable":
            entry[name] = [_csv_period(p) for p in _split(value)]
        elif name == "employment":
            entry[name] = [_csv_employment(p) for p in _split(value)]
        else:
            entry[name] = value
    return entry


def _csv_rows(path: Path, text: str) -> list[tuple[int, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RosterError(path, [f"{path}: the CSV roster is empty"]) from None
    except csv.Error as exc:
        raise RosterError(path, [f"{path}:1: cannot read the header: {exc}"]) from None
    unknown = [h for h in header if h not in FIELDS]
    missing = [f for f in REQUIRED if f not in header]
    repeated = sorted({h for h in header if header.count(h) > 1})
    problems = ([f"{path}:1: unknown column {h!r}; columns: {', '.join(FIELDS)}" for h in unknown]
                + [f"{path}:1: required column {f!r} is missing" for f in missing]
                + [f"{path}:1: column {h!r} is given twice" for h in repeated])
    if problems:
        raise RosterError(path, problems)
    rows: list[tuple[int, Any]] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise RosterError(path, [f"{path}:{line}: cannot read the row: {exc}"]) from None
        if not any(c.strip() for c in cells):
            continue  # blank line
        label = _label(dict(zip(header, cells, strict=False)))
        if len(cells) != len(header):
            rows.append((line, ValueError(f"{label}has {len(cells)} cells, the header "
                                          f"{len(header)}")))
            continue
        try:
            rows.append((line, _csv_entry(dict(zip(header, cells, strict=True)))))
        except ValueError as exc:
            rows.append((line, ValueError(f"{label}{exc}")))


# ── validating every row, then all or nothing ───────────────────────────────────────────────

def _label(item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"].strip():
        return f"expert {item['id'].strip()}: "
    return ""


def load_roster(path: str | Path) -> list[ExpertProfile]:
    """Read and validate a roster (.yaml/.yml or .csv). RosterError lists every bad row with
    its line; nothing is returned unless every row is good."""
    path = Path(path)
    try:
        text = read_text(path, MAX_ROSTER_BYTES, what="roster")
    except InvalidInput as exc:
        raise RosterError(path, [str(exc)]) from None
    text = text.removeprefix("\ufeff")  # a spreadsheet's UTF-8 mark
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path, text)
    elif suffix in (".yaml", ".yml"):
        rows = _yaml_rows(path, text)
    else:
        raise RosterError(path, [f"{path}: a roster is a .yaml, .yml or .csv file"])
    profiles: list[ExpertProfile] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, item in rows:
        if isinstance(item, ValueError):  # found while reading the row; it names the expert
            problems.append(f"{path}:{line}: {item}")
            continue
        where = f"{path}:{line}: {_label(item)}"
        if not isinstance(item, dict):
            problems.append(f"{where}each expert is a mapping of fields")
            continue
        try:
            profile = ExpertEntry.model_validate(item).profile()
        except ValidationError as exc:
            problems.append(f"{where}{describe_validation_error(exc)}")
            continue
        except ValueError as exc:
            problems.append(f"{where}{exc}")
            continue
        if profile.id in first_line:
            problems.append(f"{where}id is used twice (first on line {first_line[profile.id]})")
            continue
        first_line[profile.id] = line
        profiles.append(profile)
    if not rows:
        problems.append(f"{path}: the roster lists no experts")
    if problems:
        raise RosterError(path, problems)
    return profiles
