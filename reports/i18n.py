"""Message catalogs for reports (reports/locales/<lang>.yaml), flattened to dot keys.

A missing key or parameter raises instead of falling back to the other language or to the key:
an auditor must never read a half-translated report that looks complete.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from rules.domain import LANGS, Lang

LOCALES_DIR = Path(__file__).with_name("locales")


def locale_file(lang: Lang) -> Path:
    """The catalog file of a language (also hashed into every template version)."""
    if lang not in LANGS:
        raise ValueError(f"unknown report language {lang!r}; expected one of {LANGS}")
    return LOCALES_DIR / f"{lang}.yaml"


def flatten(tree: Mapping[Any, Any], where: str, prefix: str = "") -> dict[str, str]:
    """Nested mapping → {"a.b.c": text}. Keys and leaves must be strings: YAML 1.1 reads bare
    `yes`/`no`/`on` as booleans, and a silently converted key or value is a wrong report."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ValueError(f"{where}: key {key!r} under {prefix or '<root>'!r} is not text "
                             "(quote yes/no/on/off and numbers)")
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, where, f"{dotted}."))
        elif isinstance(value, str):
            flat[dotted] = value
        else:
            raise ValueError(f"{where}: {dotted} must be text, got {value!r}")
    return flat


def placeholders(message: str) -> frozenset[str]:
    """The `{name}` fields of a str.format message (used to check zh/en parity)."""
    return frozenset(field for _, field, _, _ in string.Formatter().parse(message)
                     if field is not None)


@dataclass(frozen=True)
class Catalog:
    """All messages of one language."""

    lang: Lang
    messages: Mapping[str, str]

    @classmethod
    def load(cls, lang: Lang) -> Catalog:
        """The catalog of `lang`, parsed once per file version (edits are picked up)."""
        path = locale_file(lang)
        stat = path.stat()
        return _load(lang, path, stat.st_mtime_ns, stat.st_size)

    @classmethod
    def merged(cls, lang: Lang, *directories: Path) -> Catalog:
        """One catalog from `<directory>/<lang>.yaml` of several directories (the web app's
        shell and the portal's pages); a key defined twice is an error, not an override."""
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}; expected one of {LANGS}")
        messages: dict[str, str] = {}
        for directory in directories:
            path = directory / f"{lang}.yaml"
            stat = path.stat()
            for key, text in _load(lang, path, stat.st_mtime_ns, stat.st_size).messages.items():
                if key in messages:
                    raise ValueError(f"{path}: key {key} is defined in another catalog too")
                messages[key] = text
        return cls(lang=lang, messages=messages)

    def keys(self) -> frozenset[str]:
        return frozenset(self.messages)

    def pattern(self, key: str) -> str:
        """The unformatted message (for callers that lay out its {fields} themselves)."""
        try:
            return self.messages[key]
        except KeyError:
            raise KeyError(f"missing {self.lang} translation: {key}") from None

    def t(self, key: str, **params: Any) -> str:
        """The message for `key` with `params` filled in by str.format."""
        message = self.pattern(key)
        try:
            return message.format(**params)
        except KeyError as exc:
            raise KeyError(f"{self.lang} translation {key} needs parameter {exc.args[0]!r}") \
                from None


@cache
def _load(lang: Lang, path: Path, mtime_ns: int, size: int) -> Catalog:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path.name}: must be a mapping of message groups")
    return Catalog(lang=lang, messages=flatten(raw, path.name))
