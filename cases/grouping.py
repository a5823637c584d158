"""Which case a signal belongs to, and whether it is a near-duplicate of one already there.

Plain logic over a batch's candidates (no store): the importer (cases/importer.py) loads the
open cases that could match a batch, and this module decides, signal by signal, in file order:

* **same product** — the same product key (who makes it — credit code where known, else the
  normalised name or brand — plus product name and model, cases/names.py) and an overlapping
  hazard: the rule `riskgate case open` has always applied (cases/intake.py);
* **similar product** — the same category and an overlapping hazard, and either the same
  enterprise with a product name and model that differ only in spelling (rapidfuzz ratio ≥
  `SIMILAR_PRODUCT`), or the same product text with enterprise names that differ only in
  spelling (≥ `SIMILAR_ENTERPRISE`): "儿童滑板车X1型" and "儿童滑板车 X1", or "Shenzhen Toyco"
  and "Shenzen Toyco Co., Ltd.";
* otherwise a **new case**.

A near-duplicate is near-identical text (title and description, ≥ `NEAR_DUPLICATE`) from the
same channel on the same case: the same report sent twice under two references. It is kept
(nothing is dropped) in the case it duplicates, and counted as a duplicate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from cases import names
from cases.signals import SignalIn

SIMILAR_PRODUCT = 90.0
SIMILAR_ENTERPRISE = 90.0
NEAR_DUPLICATE = 92.0
MIN_NEAR_DUPLICATE_TEXT = 20  # shorter texts say too little to call two reports the same
TEXTS_KEPT_PER_CASE = 8  # near-duplicate comparisons per case and channel: bounded memory
REPORT_CHARS = 240  # of a report's words compared (and kept): enough to tell two reports apart


@dataclass
class Candidate:
    """An open case a signal could join."""

    case_id: str
    category: str
    hazards: set[str]
    product_key: str
    enterprise_key: str
    product_text: str  # names.text_key of product name + model
    texts: dict[str, list[str]] = field(default_factory=dict)  # channel -> report texts
    grown: bool = False  # its hazards grew with a signal of this import, not yet stored


@dataclass(frozen=True)
class Placement:
    case_id: str | None  # None: open a new case
    how: str  # new_case | same_product | similar_product | near_duplicate
    score: float | None = None
    why: str = ""

    def grouping(self) -> dict:
        found: dict = {"how": self.how, "why": self.why}
        if self.score is not None:
            found["score"] = round(self.score, 1)
        return found


def groupable(signal: SignalIn) -> bool:
    """Grouping needs a named product and someone responsible; otherwise unrelated unknowns
    would collapse into one case."""
    who = signal.enterprise.credit_code or signal.enterprise.name or signal.product.brand
    return bool(signal.product.name and who)


def product_text(name: str, model: str) -> str:
    return names.text_key(f"{name} {model}")


_NOT_WORDS = re.compile(r"[\s\W_]+", re.UNICODE)


def report_words(title: str, description: str) -> str:
    """A report's words for comparison: its first `REPORT_CHARS`, NFKC, no spaces or
    punctuation, case folded (every report's text differs, so it is not worth remembering as
    names are)."""
    text = f"{title} {description}"[:REPORT_CHARS * 2]
    return _NOT_WORDS.sub("", unicodedata.normalize("NFKC", text)).casefold()[:REPORT_CHARS]


def report_text(signal: SignalIn) -> str:
    return report_words(signal.title, signal.description)


def _hazards_meet(case_hazards: set[str], hazards: list[str]) -> bool:
    return not case_hazards or not hazards or bool(case_hazards & set(hazards))


@dataclass
class GroupIndex:
    """The open cases a batch's signals may join, by product key and by enterprise."""

    by_product: dict[str, list[Candidate]] = field(default_factory=dict)
    by_enterprise: dict[str, list[Candidate]] = field(default_factory=dict)
    by_text: dict[str, list[Candidate]] = field(default_factory=dict)
    by_id: dict[str, Candidate] = field(default_factory=dict)

    def add(self, candidate: Candidate) -> None:
        self.by_id[candidate.case_id] = candidate
        self.by_product.setdefault(candidate.product_key, []).append(candidate)
        if candidate.enterprise_key:
            self.by_enterprise.setdefault(candidate.enterprise_key, []).append(candidate)
        if candidate.product_text:
            self.by_text.setdefault(candidate.product_text, []).append(candidate)

    def place(self, signal: SignalIn, product_key: str, enterprise_key: str, *,
              near_duplicates: bool) -> Placement:
        if not groupable(signal):
            return Placement(None, "new_case", why="no product name or no enterprise or "
                                                   "brand to group on")
        hazards = list(signal.hazards)
        for case in self.by_product.get(product_key, ()):
            if _hazards_meet(case.hazards, hazards):
                return self._near_duplicate(case, signal, near_duplicates) or Placement(
                    case.case_id, "same_product", why="same product and enterprise, "
                                                      "overlapping hazard")
        found = self._similar(signal, enterprise_key, hazards)
        if found is None:
            return Placement(None, "new_case", why="no open case on this product")
        case, score, why = found
        return self._near_duplicate(case, signal, near_duplicates) or Placement(
            case.case_id, "similar_product", score, why)

    def _similar(self, signal: SignalIn, enterprise_key: str,
                 hazards: list[str]) -> tuple[Candidate, float, str] | None:
        text = product_text(signal.product.name, signal.product.model)
        best: tuple[Candidate, float, str] | None = None
        for case in self.by_enterprise.get(enterprise_key, ()) if enterprise_key else ():
            if case.category != signal.product.category \
                    or not _hazards_meet(case.hazards, hazards):
                continue
            score = fuzz.ratio(text, case.product_text)
            if score >= SIMILAR_PRODUCT and (best is None or score > best[1]):
                best = (case, score, "same enterprise, product name and model differ only "
                                     "in spelling")
        if best is not None:
            return best
        name = names.name_key(signal.enterprise.name) or names.text_key(signal.product.brand)
        for case in self.by_text.get(text, ()):
            if case.category != signal.product.category \
                    or not _hazards_meet(case.hazards, hazards):
                continue
            theirs = case.enterprise_key.removeprefix("code:")
            if enterprise_key.startswith("code:") and case.enterprise_key.startswith("code:"):
                continue  # two credit codes that differ are two enterprises
            score = fuzz.ratio(name, theirs)
            if score >= SIMILAR_ENTERPRISE and (best is None or score > best[1]):
                best = (case, score, "same product, enterprise names differ only in "
                                     "spelling")
        return best

    def _near_duplicate(self, case: Candidate, signal: SignalIn,
                        near_duplicates: bool) -> Placement | None:
        text = report_text(signal)
        seen = case.texts.setdefault(signal.channel, [])
        if near_duplicates and len(text) >= MIN_NEAR_DUPLICATE_TEXT:
            for earlier in seen:
                score = fuzz.ratio(text, earlier)
                if score >= NEAR_DUPLICATE:
                    return Placement(case.case_id, "near_duplicate", score,
                                     "near-identical report from the same channel on the "
                                     "same product")
        if len(seen) < TEXTS_KEPT_PER_CASE:
            seen.append(text)
        return None

    def note_text(self, case_id: str, signal: SignalIn) -> None:
        """The report text of a signal that opened a case, for later near-duplicates."""
        case = self.by_id.get(case_id)
        if case is not None:
            case.texts.setdefault(signal.channel, []).append(report_text(signal))

    def joined(self, case_id: str, signal: SignalIn) -> None:
        """A signal joined a case: the case's hazards grow with it."""
        case = self.by_id.get(case_id)
        if case is not None and not set(signal.hazards) <= case.hazards:
            case.hazards |= set(signal.hazards)
            case.grown = True

    def forget(self, candidate: Candidate) -> None:
        """Drop a case from the index (the importer keeps a bounded number)."""
        self.by_id.pop(candidate.case_id, None)
        for index, key in ((self.by_product, candidate.product_key),
                           (self.by_enterprise, candidate.enterprise_key),
                           (self.by_text, candidate.product_text)):
            found = index.get(key)
            if found is not None:
                found[:] = [c for c in found if c is not candidate]
                if not found:
                    del index[key]
