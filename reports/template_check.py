"""Check report templates before they are needed: at start, not at the first case that reaches
the gate weeks later.

A template is refused, with its file and the tag named, when it is not a Word document with a
declared version, does not parse, uses a filter or a tag the code does not supply for that
report (reports/contract.py), or lacks a tag every report must carry.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2
from jinja2 import meta

from reports import contract
from reports.render import TemplateError, load_template, render_data, templates_root
from reports.templating import make_environment
from rules.domain import LANGS, Lang

SAMPLES_DIR = Path(__file__).with_name("samples")


@dataclass(frozen=True)
class Checked:
    name: str
    lang: Lang
    path: Path
    version: str


def _tags(path: Path, data: bytes, lang: Lang) -> set[str]:
    from docx import Document
    from docxtpl import DocxTemplate

    template = DocxTemplate(io.BytesIO(data))
    document = Document(io.BytesIO(data))
    parts = [template.xml_to_string(document._element.body)]
    for relation in document.part.rels.values():
        if relation.reltype in (template.HEADER_URI, template.FOOTER_URI) \
                or relation.reltype.endswith("/footnotes"):
            parts.append(relation.target_part.blob.decode("utf-8"))
    core = document.core_properties  # docxtpl renders these too
    properties = " ".join(getattr(core, p) or "" for p in ("author", "comments", "identifier",
                                                          "language", "subject", "title"))
    environment = make_environment(lang)
    environment.filters["image"] = lambda value: value
    used: set[str] = set()
    for source in [template.patch_xml(xml) for xml in parts] + [properties]:
        try:
            environment.from_string(source)  # unknown filters and tests fail here
            used |= meta.find_undeclared_variables(environment.parse(source))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{path}: {exc.message}") from None
        except jinja2.TemplateAssertionError as exc:
            raise TemplateError(f"{path}: {exc.message}") from None
    return used


def check_template(name: str, lang: Lang, root: Path | None = None) -> Checked:
    """The template of report `name` in `lang`, checked; TemplateError says what is wrong."""
    path, loaded = load_template(name, lang, root)
    return _checked(name, lang, path, loaded.version, loaded.data)


@cache
def _checked(name: str, lang: Lang, path: Path, version: str, data: bytes) -> Checked:
    """Once per template version (a changed file is a new version)."""
    used = _tags(path, data, lang)
    unknown = sorted(used - contract.supplied(name))
    if unknown:
        raise TemplateError(f"{path}: uses tag {unknown[0]!r}, which the code does not supply "
                            f"for the {name} report"
                            + (f" (nor {', '.join(unknown[1:])})" if unknown[1:] else ""))
    missing = sorted(contract.REQUIRED[name] - used)
    if missing:
        raise TemplateError(f"{path}: lacks tag {{{{ {missing[0]} }}}}, which every {name} "
                            "report must carry"
                            + (f" (and {', '.join(missing[1:])})" if missing[1:] else ""))
    _render_sample(name, lang, path)
    return Checked(name, lang, path, version)


def sample_path(name: str) -> Path:
    return SAMPLES_DIR / f"{name}.json"


def _render_sample(name: str, lang: Lang, path: Path) -> None:
    """Render the template for real with the data of a real report (reports/samples/), so a
    tag that reads what the data does not have, a filter misused, an unknown text key or a
    property that does not render is found now, not at a gate. Branches the sample does not
    take are not exercised."""
    sample = sample_path(name)
    if not sample.is_file():
        raise TemplateError(f"{sample}: no sample data for the {name} report (regenerate: "
                            "RISKGATE_UPDATE_DOCS=1 pytest tests/reports/test_libreoffice.py)")
    with tempfile.TemporaryDirectory(prefix="riskgate-check-") as scratch:
        render_data(name, sample.read_bytes(), lang=lang, out_path=Path(scratch) / "r.docx",
                    templates_dir=path.parent.parent)


def templates_fingerprint(root: Path | None = None) -> str:
    """Which file and version each report would use now, as one line per template (a
    check that passed for these need not run again)."""
    if root is None:
        root = templates_root()
    lines = []
    for name in sorted(contract.CONTEXT):
        for lang in LANGS:
            path, loaded = load_template(name, lang, root)
            lines.append(f"{name} {lang} {path} {loaded.version}")
    samples = hashlib.sha256(b"".join(sample_path(n).read_bytes() for n in sorted(contract.CONTEXT)
                                      if sample_path(n).is_file()))
    return "\n".join([*lines, f"samples {samples.hexdigest()}"]) + "\n"


def check_templates(root: Path | None = None) -> list[Checked]:
    """Every report's template in every language (RISKGATE_TEMPLATES when `root` is None)."""
    if root is None:
        root = templates_root()
    return [check_template(name, lang, root) for name in sorted(contract.CONTEXT)
            for lang in LANGS]
