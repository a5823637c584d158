"""Render one gate's report: template → markup → .docx, with version and SHA-256 for the manifest.

The template version hashes the template, its partials, both locale files and the vocabulary
(rules/domain.yaml), so any change of wording, in either language, or of the words shown for a
code yields a different version string in the report and the manifest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.docx_writer import write_docx
from reports.i18n import Catalog, locale_file
from reports.markup import parse
from reports.templating import as_datetime, make_environment
from rules.domain import LANGS, Lang, domain_text

TEMPLATES_DIR = Path(__file__).with_name("templates")
TEMPLATE_SUFFIX = ".md.j2"
REQUIRED_CONTEXT = ("case_id", "gate", "generated_at")
_HEADER = re.compile(r"^\{#\s*template:\s*(?P<name>[A-Za-z0-9_]+)\s+v(?P<version>\d+\.\d+)\s*#\}$")


@dataclass(frozen=True)
class RenderedReport:
    """What the manifest and the audit log record about a written report."""

    path: Path
    sha256: str
    template_version: str
    size: int


def template_path(gate: str, templates_dir: Path = TEMPLATES_DIR) -> Path:
    return templates_dir / f"{gate}{TEMPLATE_SUFFIX}"


def template_version(gate: str, templates_dir: Path = TEMPLATES_DIR) -> str:
    """`v<MAJOR.MINOR>+<8 hex>` from the header `{# template: <gate> v1.0 #}` and a digest of
    the template, the shared partials and the zh and en catalogs."""
    path = template_path(gate, templates_dir)
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: no template for gate {gate!r}") from None
    first_line = source.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip()
    header = _HEADER.match(first_line)
    if header is None:
        raise ValueError(f"{path}: first line must be {{# template: {gate} v<MAJOR.MINOR> #}}, "
                         f"got {first_line[:80]!r}")
    if header["name"] != gate:
        raise ValueError(f"{path}: header names template {header['name']!r}, expected {gate!r}")
    digest = hashlib.sha256(source)
    # Shared partials (`_header.md.j2`, …) are part of every template that includes them.
    for partial in sorted(templates_dir.glob(f"_*{TEMPLATE_SUFFIX}")):
        digest.update(partial.read_bytes())
    for lang in LANGS:
        digest.update(locale_file(lang).read_bytes())
    # Reports show the vocabulary's words for codes: a changed vocabulary is a new version.
    digest.update(domain_text().encode("utf-8"))
    return f"v{header['version']}+{digest.hexdigest()[:8]}"


def render_report(gate: str, context: Mapping[str, Any], *, lang: Lang, out_path: Path,
                  templates_dir: Path = TEMPLATES_DIR) -> RenderedReport:
    """Render `{templates_dir}/{gate}.md.j2` with `context` into a .docx at `out_path`.

    `gate` picks the template; `context["gate"]` is the gate code shown in title and footer
    (the same for production templates). The template also sees `template_version`,
    `gate_name` and `report_title`, which override any context keys of those names.
    """
    missing = [key for key in REQUIRED_CONTEXT if key not in context]
    if missing:
        raise ValueError(f"report context for {gate!r} lacks {', '.join(missing)}")
    catalog = Catalog.load(lang)
    version = template_version(gate, templates_dir)
    gate_name = catalog.t(f"gate.{context['gate']}")
    title = catalog.t("report.title", gate_name=gate_name)
    values = {**context, "template_version": version, "gate_name": gate_name,
              "report_title": title}

    environment = make_environment(templates_dir, lang)
    markup = environment.get_template(template_path(gate, templates_dir).name).render(values)
    generated_at = as_datetime(context["generated_at"])
    footer = catalog.t("report.footer", case_id=context["case_id"], gate_name=gate_name,
                       template_version=version)
    properties = {
        "created": generated_at,
        "modified": generated_at,
        "subject": f"{context['case_id']} · {gate_name}",
        "keywords": f"RiskGate; {context['case_id']}; {context['gate']}; {version}",
        "category": str(context["gate"]),
        "identifier": str(context["case_id"]),
        "version": version,
    }
    write_docx(parse(markup), out_path, lang=lang, title=title, footer=footer,
               properties=properties)
    data = out_path.read_bytes()
    return RenderedReport(path=out_path, sha256=hashlib.sha256(data).hexdigest(),
                          template_version=version, size=len(data))
