"""Every production report template, in Chinese and in English, opened by LibreOffice.

Cases run through every gate (one through the lab), so each gate's template renders with the
context the code really gives it, and the risk product catalogue of those cases is written;
LibreOffice converts all of them to PDF in one run and the text read back from each PDF must
carry the report's title in its language, the case id (the catalogue's identity) and the
template version.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cases import actions, catalogue, sampling_plan
from cases.models import utcnow
from cases.signals import LabResultIn
from cases.store import load_dossier
from cases.submissions import record_lab_results
from flows import gates
from reports import catalogue as catalogue_files
from reports.authoring.build import outline_names
from reports.i18n import Catalog
from reports.template_check import sample_path
from tests.helpers import advance_with_people, open_archetype, sample_signal
from tests.tools import require_tool


@pytest.fixture
def database_url(tmp_path) -> str:
    """Templates are what this is about: the store need not run on both backends."""
    return f"sqlite:///{tmp_path / 'riskgate.db'}"


def production_templates() -> set[str]:
    return set(outline_names())


def catalogue_reports(db, out_dir) -> list[tuple]:
    """The risk product catalogue (a periodic report) of the cases just run, zh and en."""
    today = actions.today()
    found = catalogue.catalogue(db, catalogue.Period(today, today))
    plan = sampling_plan.plan(found.categories, sampling_plan.DEFAULT_BATCHES)
    rules = {"scoring": catalogue.SCORING_RULES,
             "plan": sampling_plan.rules(sampling_plan.DEFAULT_BATCHES)}
    written = [catalogue_files.write(found, plan, out_dir=out_dir, lang=lang,
                                     budget=sampling_plan.DEFAULT_BATCHES, rules=rules,
                                     generated_at=utcnow(), generated_by="local:test")
               for lang in ("zh", "en")]
    return [(lang, "catalogue", found.identity, w.template_version, w.docx)
            for lang, w in zip(("zh", "en"), written, strict=True)]


def periodic_reports(db, case_ids, out_dir) -> list[tuple]:
    """The semi-monthly bulletin of today and the special report of the closed cases."""
    from cases import bulletin, special
    from reports import bulletin as bulletin_files
    from reports import special as special_files

    today = actions.today()
    found = bulletin.bulletin(db, bulletin.Period(today, today))
    brief = special.special(db, sorted(case_ids))
    out = []
    for lang in ("zh", "en"):
        b = bulletin_files.write(found, out_dir=out_dir, lang=lang, generated_at=utcnow(),
                                 generated_by="local:test")
        s = special_files.write(brief, out_dir=out_dir, lang=lang, generated_at=utcnow(),
                                generated_by="local:test")
        out += [(lang, "bulletin", found.identity, b.template_version, b.docx),
                (lang, "special", brief.identity, s.template_version, s.docx)]
    return out


def run_to_close(settings, db, case_id, truth) -> None:
    done = gates.advance(settings, case_id)
    while done.state == "awaiting_lab":
        record_lab_results(db, case_id, [LabResultIn(item="small parts", result="fail")],
                           actor="lab:t")
        done = gates.advance(settings, case_id)
    done = advance_with_people(settings, db, case_id, truth)
    assert done.state == "closed"


@pytest.fixture
def kept_data(monkeypatch) -> dict[str, bytes]:
    """The data of every report rendered, by report name (the zh one where both are)."""
    import reports.render as render

    kept: dict[str, bytes] = {}
    real = render.render_data

    def keep(name, data, *, lang, out_path, templates_dir=None):
        if lang == "zh" or name not in kept:
            kept[name] = data
        return real(name, data, lang=lang, out_path=out_path, templates_dir=templates_dir)

    monkeypatch.setattr(render, "render_data", keep)
    return kept


def test_every_template_in_both_languages_opens_in_libreoffice(settings, db, roster, tmp_path,
                                                              kept_data):
    soffice = require_tool("soffice")
    pdftotext = require_tool("pdftotext")
    from cases.intake import open_case
    from tests.helpers import archetypes

    truth = archetypes()["toy_choking"].truth
    reports = []  # (lang, gate, case id, template version, path)
    for lang in ("zh", "en"):
        case_id, _ = open_archetype(db, "toy_choking", lang=lang, tag=f"lo-{lang}")
        run_to_close(settings, db, case_id, truth)
        signal = sample_signal(reference=f"lo-lab-{lang}")
        product = signal.product.model_copy(update={"standard": None, "model": f"LO-{lang}"})
        lab_case = open_case(db, signal.model_copy(update={"product": product}),
                             actor="staff:t", lang=lang).case_id
        run_to_close(settings, db, lab_case, truth)
        for cid in (case_id, lab_case):
            for record in load_dossier(db, cid).reports:
                reports.append((lang, record.gate, cid, record.template_version,
                                settings.home / record.path))
    reports.extend(catalogue_reports(db, tmp_path / "catalogue"))
    reports.extend(periodic_reports(db, {cid for _, _, cid, _, _ in reports
                                         if cid.startswith("RG-")}, tmp_path / "periodic"))
    if os.environ.get("RISKGATE_UPDATE_DOCS") == "1":  # the template check's sample data
        for name, data in kept_data.items():
            sample_path(name).write_bytes(data)
    covered = {(lang, gate) for lang, gate, *_ in reports}
    assert covered == {(lang, gate) for lang in ("zh", "en") for gate in production_templates()}

    out = tmp_path / "pdf"
    profile = (tmp_path / "lo-profile").as_uri()
    inputs = tmp_path / "in"
    inputs.mkdir()
    named = []
    for n, (lang, gate, cid, version, path) in enumerate(reports):
        copy = inputs / f"{n:02d}-{lang}-{gate}.docx"
        copy.write_bytes(path.read_bytes())
        named.append((copy, lang, gate, cid, version))
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to",
                    "pdf", "--outdir", str(out), *[str(c[0]) for c in named]],
                   check=True, capture_output=True, timeout=600)
    for copy, lang, gate, cid, version in named:
        pdf = out / copy.with_suffix(".pdf").name
        assert pdf.is_file(), f"LibreOffice did not convert {copy.name}"
        text = subprocess.run([pdftotext, "-enc", "UTF-8", str(pdf), "-"], check=True,
                              capture_output=True, text=True).stdout
        catalog = Catalog.load(lang)
        title = (catalog.t(f"report.titles.{gate}") if f"report.titles.{gate}" in catalog.messages
                 else catalog.t("report.title", gate_name=catalog.t(f"gate.{gate}")))
        flat = "".join(text.split())
        assert "".join(title.split()) in flat, f"{copy.name}: no title {title!r}"
        assert cid in flat and version in flat, f"{copy.name}: case id or version missing"
        page_images(pdf, text, lang, gate, tmp_path / "png")


DOCS_REPORTS = Path(__file__).resolve().parents[2] / "docs" / "reports"
# The page shown in docs/reports/ for each report: the first, except where the figure a reader
# wants to see is further on (found by its heading in the PDF's text).
SHOWN_PAGE = {"assessment": "matrix.title"}


def page_images(pdf: Path, text: str, lang: str, gate: str, out: Path) -> None:
    """One page of the report as a PNG, which must not be blank; with RISKGATE_UPDATE_DOCS=1
    it replaces docs/reports/<lang>-<gate>.png (how those pictures are made)."""
    pdftoppm = require_tool("pdftoppm")
    page = 1
    if gate in SHOWN_PAGE:
        heading = Catalog.load(lang).t(SHOWN_PAGE[gate])
        pages = text.split("\f")
        page = next(n for n, body in enumerate(pages, start=1) if heading in body)
    out.mkdir(exist_ok=True)
    stem = out / f"{lang}-{gate}"
    subprocess.run([pdftoppm, "-png", "-r", "70", "-f", str(page), "-l", str(page),
                    "-singlefile", str(pdf), str(stem)], check=True, capture_output=True)
    png = stem.with_suffix(".png")
    assert png.stat().st_size > 20_000, f"{png.name}: page {page} looks blank"
    if os.environ.get("RISKGATE_UPDATE_DOCS") == "1":
        DOCS_REPORTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, DOCS_REPORTS / png.name)
