"""The special report's files: the .docx (template `special`, outline
`reports/outlines/special.md.j2`) and a manifest beside it with the data hash and the file's
SHA-256.

The report's data comes in as a plain object (cases/special.py; duck-typed to keep reports free
of cases). Same data → the files already there are kept; other data is refused unless
`overwrite` (reports/outputs.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from reports import outputs
from reports.i18n import Catalog
from reports.render import render_report, template_version
from reports.templating import format_datetime
from rules.domain import Lang, domain

TEMPLATE = "special"
DECIDED = ("approved", "overridden")


Written = outputs.Written


def paths(out_dir: Path, identity: str, lang: Lang) -> dict[str, Path]:
    return outputs.document_paths(out_dir, f"{identity}_{lang}")


def pattern_text(pattern: dict[str, Any] | None, lang: Lang) -> str | None:
    """An escalation case's pattern in words: its kind, hazard and where it spreads."""
    if not pattern or pattern.get("kind") not in ("category", "industry", "province"):
        return None
    vocab, t = domain(), Catalog.load(lang).t
    hazard = vocab.hazards.name(pattern["hazard"], lang) if pattern.get("hazard") else "—"
    category = vocab.categories.name(pattern["category"], lang) \
        if pattern.get("category") else ""
    where = {"category": category,
             "industry": vocab.industries.name(pattern["industry"], lang)
             if pattern.get("industry") else "",
             "province": t("bulletin.province_category", province=pattern.get("province", ""),
                           category=category)}[pattern["kind"]]
    parts = (t(f"bulletin.kind.{pattern['kind']}"), hazard, where)
    return t("format.list_separator").join(p for p in parts if p)


def brief_cells(brief: dict[str, Any], lang: Lang) -> dict[str, Any]:
    """A case brief with what the outline shows in words: the measures decided (or, while the
    approval waits, proposed) and the escalation pattern."""
    disposal = brief["disposal"] or {}
    decided = disposal.get("status") in DECIDED
    return {**brief, "decided": decided,
            "measures": disposal.get("decided") if decided else disposal.get("proposed") or [],
            "pattern": pattern_text(brief["escalation"].get("pattern"), lang)}


def write(special: Any, *, out_dir: Path, lang: Lang, generated_at: datetime,
          generated_by: str, overwrite: bool = False) -> Written:
    """Write the special report's files under `out_dir` (see the module docstring)."""
    targets = paths(out_dir, special.identity, lang)
    version = template_version(TEMPLATE, lang)
    files = {"docx": targets["docx"]}
    expected = {"special": special.identity, "data_hash": special.data_hash,
                "template_version": version}
    kept = None if overwrite else outputs.kept(targets["manifest"], files, expected)
    if kept is not None:
        return Written(targets["docx"], targets["manifest"], True, special.data_hash, version,
                       kept["docx"])
    if not overwrite:
        outputs.refuse_other(targets, "the cases changed since, or another template")
    context = {"case_id": special.identity, "gate": TEMPLATE, "generated_at": generated_at,
               "generated_by": generated_by, "s": special,
               "cases": [brief_cells(b, lang) for b in special.cases]}
    rendered = render_report(TEMPLATE, context, lang=lang, out_path=targets["docx"])
    digests = outputs.write_manifest(targets["manifest"], files, {
        "special": special.identity, "cases": list(special.ids), "lang": lang,
        "generated_at": format_datetime(generated_at), "generated_by": generated_by,
        "data_hash": special.data_hash, "template_version": rendered.template_version})
    return Written(targets["docx"], targets["manifest"], False, special.data_hash,
                   rendered.template_version, digests["docx"])
