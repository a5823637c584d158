"""The shared domain vocabulary (rules/domain.yaml), loaded once and typed.

Every package validates codes against this one file, so a channel, hazard or measure means the
same thing in a signal, a rulebook, an expert's form and a report. The vocabulary is versioned
like the rulebooks: stored signals and decisions record the SHA-256 of the text they were
validated under and the store keeps that text, so data written under an older vocabulary reads
back under it (`parse_domain`), whatever domain.yaml says today.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

import yaml

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DOMAIN_FILE = Path(__file__).with_name("domain.yaml")


@dataclass(frozen=True)
class Term:
    """One code of a vocabulary with its names and any extra attributes."""

    code: str
    zh: str
    en: str
    attrs: dict[str, str]

    def name(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Vocabulary:
    """An ordered vocabulary: iteration order is the file's order (measures: protectiveness)."""

    kind: str
    terms: dict[str, Term]

    def __contains__(self, code: object) -> bool:
        return code in self.terms

    def __iter__(self) -> Iterator[str]:
        return iter(self.terms)

    def codes(self) -> tuple[str, ...]:
        return tuple(self.terms)

    def name(self, code: str, lang: Lang) -> str:
        """Display name of a code; an unknown code is shown as itself rather than hidden."""
        term = self.terms.get(code)
        return term.name(lang) if term else code

    def attr(self, code: str, key: str) -> str:
        return self.terms[code].attrs[key]

    @cached_property
    def _ranks(self) -> dict[str, int]:
        return {code: index for index, code in enumerate(self.terms)}

    def rank(self, code: str) -> int:
        """Position in the file (0 first). For measures this is the protectiveness rank."""
        return self._ranks[code]


@dataclass(frozen=True)
class Domain:
    channels: Vocabulary
    categories: Vocabulary
    hazards: Vocabulary
    target_users: Vocabulary
    sale_channels: Vocabulary
    scopes: Vocabulary
    credit_classes: Vocabulary
    measures: Vocabulary
    authorities: Vocabulary
    # Added with follow-up tracking (2026-12): vocabularies stored before it have none.
    progress: Vocabulary = Vocabulary("progress", {})
    action_statuses: Vocabulary = Vocabulary("action_statuses", {})
    # Added with the escalation watch (2027-01): the industry each category belongs to.
    industries: Vocabulary = Vocabulary("industries", {})
    # Added with the reports in words (2027-02): what each rulebook flag means.
    flags: Vocabulary = Vocabulary("flags", {})

    def progress_fields(self, measure: str) -> tuple[str, ...]:
        """The progress fields staff record for a measure's follow-up action."""
        return tuple(self.measures.terms[measure].attrs.get("progress", "").split())

    def industry_of(self, category: str) -> str:
        """The industry a category belongs to ("" under a vocabulary without industries)."""
        term = self.categories.terms.get(category)
        return term.attrs.get("industry", "") if term else ""

    def vocabulary(self, kind: str) -> Vocabulary:
        found = getattr(self, kind)
        assert isinstance(found, Vocabulary), kind
        return found


# Attributes each vocabulary may carry besides its names. Checked strictly because YAML flow
# mappings split an unquoted value at a comma and would otherwise yield a truncated name.
ATTRIBUTES = {
    "channels": {"kind", "credibility"},
    "categories": {"industry"},
    "hazards": {"test_zh", "test_en"},
    "target_users": {"vulnerability"},
    "measures": {"meaning_zh", "meaning_en", "lead_zh", "lead_en", "progress"},
    "progress": {"kind"},
}
OPTIONAL = {f.name for f in fields(Domain) if f.default is not MISSING}
PROGRESS_KINDS = ("count", "text", "date")


def _vocabulary(kind: str, raw: dict) -> Vocabulary:
    terms = {}
    allowed = {"zh", "en"} | ATTRIBUTES.get(kind, set())
    for code, entry in raw.items():
        where = f"{DOMAIN_FILE.name}: {kind}.{code}"
        if not isinstance(entry, dict) or not {"zh", "en"} <= set(entry):
            raise ValueError(f"{where}: needs zh and en names")
        unknown = set(entry) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown attribute {sorted(unknown)[0]!r} "
                             "(an unquoted comma in a flow mapping?)")
        for key, value in entry.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}.{key}: must be non-empty text")
        extra = {k: v for k, v in entry.items() if k not in ("zh", "en")}
        terms[str(code)] = Term(code=str(code), zh=entry["zh"], en=entry["en"], attrs=extra)
    return Vocabulary(kind=kind, terms=terms)


@cache
def parse_domain(text: str) -> Domain:
    """A vocabulary from its text (the current file, or a stored snapshot)."""
    raw = yaml.safe_load(text)
    expected = {f.name for f in fields(Domain)}
    if not isinstance(raw, dict) or not expected - OPTIONAL <= set(raw) <= expected:
        raise ValueError(f"{DOMAIN_FILE.name}: expected the vocabularies "
                         + ", ".join(f.name for f in fields(Domain)))
    found = Domain(**{kind: _vocabulary(kind, entries) for kind, entries in raw.items()})
    _check_progress(found)
    _check_industries(found)
    return found


def _check_industries(vocab: Domain) -> None:
    """Each category's industry is declared (a vocabulary with industries names one for every
    category, so the escalation watch leaves none out)."""
    if not vocab.industries.terms:
        return
    for code in vocab.categories:
        industry = vocab.industry_of(code)
        if industry not in vocab.industries:
            raise ValueError(f"{DOMAIN_FILE.name}: categories.{code}.industry: "
                             + (f"unknown industry {industry!r}" if industry
                                else "missing (every category names its industry)"))


def _check_progress(vocab: Domain) -> None:
    """Each measure's progress fields are declared, with a known kind."""
    for code, term in vocab.progress.terms.items():
        if term.attrs.get("kind") not in PROGRESS_KINDS:
            raise ValueError(f"{DOMAIN_FILE.name}: progress.{code}.kind: expected one of "
                             + ", ".join(PROGRESS_KINDS))
    for code in vocab.measures:
        unknown = [f for f in vocab.progress_fields(code) if f not in vocab.progress]
        if unknown:
            raise ValueError(f"{DOMAIN_FILE.name}: measures.{code}.progress: unknown field "
                             f"{unknown[0]!r}")


@cache
def domain_text() -> str:
    """The text of rules/domain.yaml, read once per process."""
    return DOMAIN_FILE.read_text(encoding="utf-8")


def domain_sha256(text: str | None = None) -> str:
    """SHA-256 of a vocabulary's text (default: the current file), as stored data records it."""
    return hashlib.sha256((domain_text() if text is None else text).encode("utf-8")).hexdigest()


@cache
def domain() -> Domain:
    """The vocabulary in force, parsed once per process."""
    return parse_domain(domain_text())
