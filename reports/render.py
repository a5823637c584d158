"""Render one report: a Word template (docxtpl) + a context → a .docx, with its version and
SHA-256 for the manifest.

Templates are `<root>/<lang>/<name>.docx`. The root is `RISKGATE_TEMPLATES` when set (a centre's
own, restyled copies; a template it does not have comes from the shipped set) and otherwise
`reports/templates/`, built from the outlines (reports/authoring/).

The template version is the template's declared version (its document property `version`)
plus a digest of the template file, both catalogs and the vocabulary (rules/domain.yaml): any
change of layout, wording in either language, or of the words shown for a code yields another
version string in the report and the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from docx.shared import Cm
from docxtpl import DocxTemplate, InlineImage

from reports import contract
from reports.charts import Chart
from reports.docx_package import reproducible_zip, set_properties, write_atomically
from reports.i18n import Catalog, locale_file
from reports.templating import as_datetime, format_date, make_environment
from rules.domain import LANGS, Lang, domain_text

SHIPPED_TEMPLATES = Path(__file__).with_name("templates")
TEMPLATES_ENV = "RISKGATE_TEMPLATES"
ISSUER_ENV = "RISKGATE_ISSUER"


class TemplateError(ValueError):
    """A template that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class RenderedReport:
    """What the manifest and the audit log record about a written report."""

    path: Path
    sha256: str
    template_version: str
    size: int
    data: bytes = b""  # the canonical JSON it was rendered from (render_data renders it again)
    data_hash: str = ""  # SHA-256 of `data`


def templates_root(env: Mapping[str, str] | None = None) -> Path | None:
    """The centre's template folder (RISKGATE_TEMPLATES), or None for the shipped set."""
    value = (os.environ if env is None else env).get(TEMPLATES_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise TemplateError(f"{TEMPLATES_ENV}={value}: not a directory")
    if not any((root / lang).is_dir() for lang in LANGS):
        raise TemplateError(f"{TEMPLATES_ENV}={value}: holds no zh/ or en/ folder of "
                            "templates (<dir>/<lang>/<report>.docx)")
    return root


def issuer(lang: Lang, env: Mapping[str, str] | None = None) -> str:
    """The issuing body printed in the letterhead and the signature (RISKGATE_ISSUER)."""
    value = (os.environ if env is None else env).get(ISSUER_ENV, "").strip()
    return value or Catalog.load(lang).t("issuer_default")


def template_path(name: str, lang: Lang, root: Path | None = None) -> Path:
    """The template file used for report `name` in `lang`: the centre's, else the shipped one."""
    if lang not in LANGS:
        raise ValueError(f"unknown report language {lang!r}; expected one of {LANGS}")
    if root is None:
        root = templates_root()
    if root is not None:
        own = root / lang / f"{name}.docx"
        if own.is_file():
            return own
    shipped = SHIPPED_TEMPLATES / lang / f"{name}.docx"
    if not shipped.is_file():
        raise TemplateError(f"{shipped}: no template for report {name!r} in {lang}")
    return shipped


@dataclass(frozen=True)
class _Loaded:
    data: bytes
    version: str  # "v1.1+1a2b3c4d"


def _declared_version(path: Path, data: bytes, name: str) -> str:
    from docx import Document

    try:
        core = Document(io.BytesIO(data)).core_properties
    except Exception as exc:  # python-docx raises several kinds for a broken package
        raise TemplateError(f"{path}: not a Word document ({exc})") from None
    if core.category and core.category != name:
        raise TemplateError(f"{path}: document property category names template "
                            f"{core.category!r}, expected {name!r}")
    version = (core.version or "").strip()
    if not version.startswith("v") or not version[1:].replace(".", "").isdigit():
        raise TemplateError(f"{path}: document property version must be v<MAJOR.MINOR>, got "
                            f"{version!r}")
    return version


@cache
def _load(path: Path, name: str, mtime_ns: int, size: int) -> _Loaded:
    data = path.read_bytes()
    digest = hashlib.sha256(data)
    for lang in LANGS:
        digest.update(locale_file(lang).read_bytes())
    # Reports show the vocabulary's words for codes: a changed vocabulary is a new version.
    digest.update(domain_text().encode("utf-8"))
    return _Loaded(data, f"{_declared_version(path, data, name)}+{digest.hexdigest()[:8]}")


def load_template(name: str, lang: Lang, root: Path | None = None) -> tuple[Path, _Loaded]:
    path = template_path(name, lang, root)
    stat = path.stat()
    return path, _load(path, name, stat.st_mtime_ns, stat.st_size)


def template_version(name: str, lang: Lang = "zh", root: Path | None = None) -> str:
    return load_template(name, lang, root)[1].version


# The template being rendered in this thread or task, for the `image` filter (a picture is
# added to the document being rendered; the environment itself is shared and cached).
_rendering: ContextVar[DocxTemplate] = ContextVar("rendering")


def _image(chart: Chart | None) -> Any:
    if chart is None:
        return None
    return InlineImage(_rendering.get(), io.BytesIO(chart.png), width=Cm(chart.width_cm))


@cache
def _patched(xml: str) -> str:
    """docxtpl's clean-up of a part's XML into a Jinja2 source (it reads nothing but `xml`)."""
    return DocxTemplate.patch_xml(None, xml)  # type: ignore[arg-type]


class _Template(DocxTemplate):
    """A DocxTemplate whose XML clean-up is done once per template version, not per report."""

    def patch_xml(self, src_xml: str) -> str:
        return _patched(src_xml)


@cache
def _environment(lang: Lang) -> Any:
    """One environment per language with its compiled templates kept: compiling a report's
    XML is most of a render's time, and the same template gives the same source."""
    environment = make_environment(lang)
    environment.filters["image"] = _image
    environment.from_string = lru_cache(maxsize=128)(environment.from_string)  # type: ignore
    return environment


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Its fields and its properties (a period's `days`, a row's `trend`): what a template
        # may read of it, as data.
        shown = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        for cls in type(value).__mro__:
            for key, member in vars(cls).items():
                if isinstance(member, property) and key not in shown:
                    shown[key] = getattr(value, key)
        return shown
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, Fraction | Decimal):
        return float(value)  # shown rounded (reports/templating.format_number)
    raise TypeError(f"a report's data must be JSON: {type(value).__name__} {value!r:.80}")


def report_data(context: Mapping[str, Any]) -> bytes:
    """A report's data as compact JSON (UTF-8, keys in the order given, which is the order
    tables show them): what the report is rendered from, stored beside it, and whose SHA-256
    is the report's data hash."""
    return json.dumps(context, ensure_ascii=False, separators=(",", ":"),
                      default=_jsonable).encode("utf-8")


def render_report(name: str, context: Mapping[str, Any], *, lang: Lang, out_path: Path,
                  templates_dir: Path | None = None) -> RenderedReport:
    """Render report `name` with `context` into a .docx at `out_path` (atomically).

    The context is first turned into the report's data (canonical JSON) and the report is
    rendered from that data read back, so the same data renders the same file later
    (`render_data`). `context["gate"]` is the code shown in the title (the same as `name` for
    gate reports). The renderer adds the figures drawn from the data (reports/figures.py) and
    `template_version`, `gate_name`, `report_title`, `issuer`, `issued_on`,
    `report_identity` and `data_hash`.
    """
    missing = sorted(contract.REQUIRED_ALL & {"case_id", "generated_at"} - set(context))
    if missing or "gate" not in context:
        raise ValueError(f"report context for {name!r} lacks {', '.join(missing or ['gate'])}")
    unknown = sorted(set(context) - contract.CONTEXT.get(name, contract.supplied(name)))
    if unknown:
        raise ValueError(f"report context for {name!r} has {', '.join(unknown)}, which "
                         "reports/contract.py does not list for it")
    # What else decides the file, kept with the data so that a re-render elsewhere uses the
    # same issuer and can tell a different renderer from a different report.
    kept = {**context, "issuer": issuer(lang),
            "renderer": renderer_fingerprint(charts=name in contract.DERIVED)}
    return render_data(name, report_data(kept), lang=lang, out_path=out_path,
                       templates_dir=templates_dir)


@cache
def renderer_fingerprint(charts: bool = False) -> str:
    """The library versions, and for a report with charts their face: another of these may
    draw another file."""
    from importlib.metadata import version

    libraries = f"docxtpl {version('docxtpl')}; python-docx {version('python-docx')}"
    if not charts:
        return libraries
    from reports.charts import chart_font

    return f"{libraries}; matplotlib {version('matplotlib')}; {chart_font()}"


def render_data(name: str, data: bytes, *, lang: Lang, out_path: Path,
                templates_dir: Path | None = None) -> RenderedReport:
    """Render report `name` from its stored data (`report_data`) into `out_path`."""
    context = json.loads(data)
    path, loaded = load_template(name, lang, templates_dir)
    catalog = Catalog.load(lang)
    generated_at = as_datetime(context["generated_at"])
    gate_name = catalog.t(f"gate.{context['gate']}")
    # A periodic report may have a title of its own ("…半月报", not "半月报报告").
    title = (catalog.t(f"report.titles.{name}") if f"report.titles.{name}" in catalog.messages
             else catalog.t("report.title", gate_name=gate_name))
    data_hash = hashlib.sha256(data).hexdigest()
    values = {**context, **derived(name, context, lang),
              "template_version": loaded.version, "gate_name": gate_name,
              "report_title": title, "issuer": context.get("issuer") or issuer(lang),
              "issued_on": format_date(generated_at, lang), "data_hash": data_hash,
              "report_identity": f"{context['case_id']} · {gate_name} · {loaded.version}"}

    template = _Template(io.BytesIO(loaded.data))
    token = _rendering.set(template)
    try:
        template.render(values, jinja_env=_environment(lang))
    except Exception as exc:
        raise TemplateError(f"{path}: {type(exc).__name__}: {exc}") from exc
    finally:
        _rendering.reset(token)
    set_properties(template.docx, lang=lang, title=title, properties={
        "created": generated_at, "modified": generated_at,
        "subject": f"{context['case_id']} · {gate_name}",
        "keywords": f"RiskGate; {context['case_id']}; {context['gate']}; {loaded.version}",
        "category": str(context["gate"]), "identifier": str(context["case_id"]),
        "version": loaded.version, "comments": f"data SHA-256 {data_hash}"})
    buffer = io.BytesIO()
    template.save(buffer)
    package = reproducible_zip(buffer.getvalue())
    write_atomically(out_path, package)
    return RenderedReport(path=out_path, sha256=hashlib.sha256(package).hexdigest(),
                          template_version=loaded.version, size=len(package), data=data,
                          data_hash=data_hash)


def derived(name: str, context: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    """The figures a report draws from its data (contract.DERIVED)."""
    if name == "assessment":
        from reports.figures import assessment_figures

        return assessment_figures(context["rounds"], lang)
    if name == "bulletin":
        from reports.bulletin import charts

        return {"charts": charts(context["breakdown"], lang)}
    return {}
