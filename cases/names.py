"""One normalisation of enterprise names and credit codes, for grouping and conflict checks.

Intake groups signals on "the same enterprise" and the panel excludes experts who declared a
conflict with it; both must see through the same variations, or a zero-width space, a full-width
letter or a "（浙江）" inserted in a name would open a second case or seat a conflicted expert.
The key of a name is: Unicode NFKC (full-width forms become their ASCII equivalents), invisible
and format characters removed, parenthesised inserts removed (region or branch notes such as
"（浙江）" or "(Shenzhen)"), company-form suffixes removed (有限公司, Co., Ltd., GmbH, …),
punctuation and spaces removed, case folded. A unified social credit code is matched exactly
after NFKC, invisible characters and spaces are removed and letters upper-cased.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Longest first, so that 股份有限公司 is removed whole rather than leaving 股份.
_COMPANY_FORMS_ZH = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "分公司",
                     "总公司", "公司", "厂", "商行", "经营部", "门市部")
_COMPANY_FORMS_LATIN = re.compile(
    r"(?:\b(?:co|company|corp|corporation|inc|incorporated|ltd|limited|llc|plc|gmbh|ag|sa|"
    r"srl|spa|bv|nv|oy|ab|kg|group|holdings?|trading|industrial|industry|manufacturing|"
    r"mfg|international|intl)\b[\s.,&]*)+$")
_PARENTHESISED = re.compile(r"[(（\[【][^()（）\[\]【】]*[)）\]】]")
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def _visible(text: str) -> str:
    """NFKC, without format characters (zero-width spaces and joiners, BOM, bidi marks)."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Cc", "Co",
                                                                             "Cs"))


# Keys are pure functions of the text; an import computes them for every row, over and over
# for the same few thousand names (bench/intake.py), so they are remembered.
_CACHED = 8_192  # bounded: an import of 70,000 rows must not grow with its distinct names


@lru_cache(maxsize=_CACHED)
def name_key(name: str) -> str:
    """The comparison key of an enterprise name ("" for none)."""
    text = _visible(name).casefold()
    previous = None
    while previous != text:  # nested or repeated inserts
        previous = text
        text = _PARENTHESISED.sub("", text)
    text = _DROP.sub(" ", text).strip()
    text = _COMPANY_FORMS_LATIN.sub("", text).strip()
    compact = text.replace(" ", "")
    stripped = True
    while stripped and compact:
        stripped = False
        for form in _COMPANY_FORMS_ZH:
            if compact.endswith(form) and len(compact) > len(form):
                compact = compact[: -len(form)]
                stripped = True
                break
    return compact


@lru_cache(maxsize=_CACHED)
def text_key(text: str) -> str:
    """The comparison key of a product name, brand or model: NFKC, invisible characters,
    punctuation and spaces removed, case folded."""
    return _DROP.sub("", _visible(text)).casefold()


@lru_cache(maxsize=_CACHED)
def code_key(code: str) -> str:
    """The comparison key of a unified social credit code ("" for none)."""
    return _DROP.sub("", _visible(code)).upper()


def keys(names: Iterable[str] = (), codes: Iterable[str] = ()) -> frozenset[str]:
    """Comparison keys of names and codes together; codes are prefixed so that a name can
    never equal a code by accident."""
    found = {name_key(n) for n in names} | {"code:" + code_key(c) for c in codes if code_key(c)}
    found.discard("")
    return frozenset(found)


def declared_key(declared: str) -> str:
    """The key of an expert's declared conflict, which may be a name or a credit code."""
    code = code_key(declared)
    if CREDIT_CODE.match(code):
        return "code:" + code
    return name_key(declared)


def enterprise_identity(credit_code: str, name: str, known_code: str = "") -> str:
    """Who is responsible, as grouping and history compare it: the credit code where known
    (given, or `known_code` found for the name in earlier signals), else the name's key."""
    code = code_key(credit_code) or known_code
    return f"code:{code}" if code else name_key(name)


def product_identity(enterprise: str, brand: str, product: str, model: str) -> str:
    """'The same product': who makes it (or its brand), its name and its model."""
    return "|".join((enterprise or text_key(brand), text_key(product), text_key(model)))
