"""Reports say codes in words, the shipped templates are what the outlines build, templates are
checked before use, and a report rendered again from the stored data is the same file.

A case runs through every gate in Chinese and in English (no Prefect: gates.advance); every
report is opened with python-docx and searched for raw vocabulary codes outside the rule trail,
the one place where an auditor needs the code beside the words.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from docx import Document

from cases.lifecycle import GATES
from flows.rerender import rerender
from reports import contract
from reports.authoring.build import DEFAULT_TEMPLATES_DIR, build, outline_names
from reports.i18n import Catalog
from reports.render import TemplateError, render_report, report_data
from reports.template_check import check_template, check_templates
from rules.domain import domain
from rules.schema import fields
from tests.helpers import advance_with_people, archetypes, open_archetype

LANGS = ("zh", "en")


@pytest.fixture
def database_url(tmp_path) -> str:
    """Reports are what this is about: the store need not run on both backends."""
    return f"sqlite:///{tmp_path / 'riskgate.db'}"


def every_code() -> set[str]:
    """Every code a report could leak: vocabulary codes, fact and outcome names, levels."""
    vocabulary = domain()
    codes = {code for kind in ("channels", "categories", "hazards", "target_users",
                               "sale_channels", "scopes", "credit_classes", "measures",
                               "authorities", "industries", "flags", "progress",
                               "action_statuses")
             for code in vocabulary.vocabulary(kind).codes()}
    codes |= set(fields("triage")) | set(fields("disposal"))
    codes |= {"serious", "high", "medium", "low", "fast_track", "more_info",
              "request_info", "interim_measures", "next_gate"}
    codes |= set(GATES)  # intake, triage, lab_test, …
    return codes


def shown_text(path: Path, lang: str) -> str:
    """What a reader sees, headers and footers included, without the rule trail (its table
    and its rulebook line: codes stand there beside the words on purpose)."""
    catalog = Catalog.load(lang)
    trail_header = catalog.t("fired_rules.rule_id")
    document = Document(path)
    rulebook = catalog.t("report.rulebook")  # the trail's rulebook line: its name, version, hash
    lines = [p.text for p in document.paragraphs if not p.text.startswith(rulebook)]
    for section in document.sections:
        lines += [p.text for p in (*section.header.paragraphs, *section.footer.paragraphs)]
    for table in document.tables:
        if table.rows and trail_header in [c.text for c in table.rows[0].cells]:
            continue
        lines.extend(" | ".join(c.text for c in row.cells) for row in table.rows)
    return "\n".join(lines)


def leaked(text: str, lang: str) -> list[str]:
    """Codes standing as whole tokens in the text. In English only codes with an underscore
    are told apart from words (the word "medium" is not a leak)."""
    text = re.sub(r"\S+\.(docx|pdf|json)\b", "", text)  # file names are names
    found = []
    for code in sorted(every_code()):
        if lang == "en" and "_" not in code:
            continue
        if len(code) < 3:
            continue
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(code)}(?![A-Za-z0-9_])", text):
            found.append(code)
    return found


@pytest.fixture
def closed_cases(settings, db, roster) -> dict[str, str]:
    truth = archetypes()["toy_choking"].truth
    cases = {}
    for lang in LANGS:
        case_id, _ = open_archetype(db, "toy_choking", lang=lang, tag=f"w-{lang}")
        from flows import gates

        gates.advance(settings, case_id)
        done = advance_with_people(settings, db, case_id, truth)
        assert done.state == "closed"
        cases[lang] = case_id
    return cases


def test_every_report_speaks_words_not_codes(settings, db, closed_cases):
    from cases.store import load_dossier

    for lang, case_id in closed_cases.items():
        records = load_dossier(db, case_id).reports
        assert {r.gate for r in records} >= {"intake", "triage", "panel", "assessment",
                                             "disposal", "follow_up", "closure"}
        catalog = Catalog.load(lang)
        for record in records:
            path = settings.home / record.path
            text = shown_text(path, lang)
            assert leaked(text, lang) == [], f"{lang} {record.gate}: raw codes in words' place"
            # Field names are labels: the facts table's first column speaks the language.
            if record.gate in ("triage", "disposal"):
                assert catalog.t("fact.channel") in text and catalog.t("fact.has_standard") \
                    in text
                assert catalog.t("value.yes") in text or catalog.t("value.no") in text
        assessment = next(settings.home / r.path for r in records if r.gate == "assessment")
        document = Document(assessment)
        matrix = next(t for t in document.tables
                      if t.rows[0].cells[0].text == catalog.t("matrix.probability"))
        marked = [c for row in matrix.rows for c in row.cells if c.text.startswith("◆")]
        assert len(marked) == 1, "exactly one deciding cell"
        fills = {c._tc.tcPr.find(
            "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}shd")
            .get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}fill")
            for row in matrix.rows[1:] for c in row.cells[1:]}
        assert fills == {"E06666", "F6B26B", "FFE599", "B6D7A8"}
        with zipfile.ZipFile(assessment) as package:
            assert any(n.startswith("word/media/") and n.endswith(".png")
                       for n in package.namelist()), "the score chart is embedded"


def test_leak_detector_catches_a_raw_code():
    assert leaked("信息来源渠道 | complaint_12365", "zh") == ["complaint_12365"]
    assert leaked("Channel | complaint_12365", "en") == ["complaint_12365"]
    assert leaked("Risk level | medium", "en") == []


def test_reports_render_again_from_their_data_to_the_same_file(settings, db, closed_cases):
    """Every report of every gate, rendered again from the data stored beside it: the same
    bytes as the manifest says; a changed data file is found by the re-render and by
    `audit verify` (the report carries its data hash)."""
    from cases.audit import verify
    from cases.models import data_path_of
    from cases.store import load_dossier

    found = rerender(settings, db, sorted(closed_cases.values()))
    assert len(found) >= 14 and {r.status for r in found} == {"same"}, \
        [r for r in found if r.status != "same"]
    assert verify(db, settings.home).ok and verify(db, settings.home).data == len(found)

    record = next(r for r in load_dossier(db, closed_cases["zh"]).reports
                  if r.gate == "assessment")
    data_file = settings.home / data_path_of(record.path)
    data = json.loads(data_file.read_bytes())
    data["rounds"][-1]["level"] = "low"
    data_file.write_bytes(report_data(data))
    (changed,) = [r for r in rerender(settings, db, [closed_cases["zh"]])
                  if r.gate == "assessment"]
    assert changed.status == "data_changed"
    problems = verify(db, settings.home).problems
    assert any(p.startswith(f"data {data_path_of(record.path)}") for p in problems)


@pytest.mark.parametrize("name", outline_names())
def test_shipped_templates_are_what_the_outlines_build(name):
    for lang in LANGS:
        shipped = (DEFAULT_TEMPLATES_DIR / lang / f"{name}.docx").read_bytes()
        assert shipped == build(name, lang), \
            f"{lang}/{name}.docx is stale: run python -m reports.authoring"


def test_every_shipped_template_passes_the_check():
    checked = check_templates()
    assert {(c.name, c.lang) for c in checked} == {(n, lang) for n in contract.CONTEXT
                                                   for lang in LANGS}


def _edit_template(source: Path, target: Path, old: str, new: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as package:
        parts = {n: package.read(n) for n in package.namelist()}
    xml = parts["word/document.xml"].decode()
    assert old in xml
    parts["word/document.xml"] = xml.replace(old, new).encode()
    with zipfile.ZipFile(target, "w") as package:
        for name, data in parts.items():
            package.writestr(name, data)


def test_centre_template_with_unknown_tag_is_refused_naming_file_and_tag(tmp_path):
    own = tmp_path / "centre" / "zh" / "triage.docx"
    _edit_template(DEFAULT_TEMPLATES_DIR / "zh" / "triage.docx", own,
                   "{{ case.title }}", "{{ case_name }}")
    with pytest.raises(TemplateError, match=rf"{re.escape(str(own))}: uses tag 'case_name'"):
        check_template("triage", "zh", tmp_path / "centre")


def test_centre_template_lacking_a_required_tag_is_refused(tmp_path):
    own = tmp_path / "centre" / "en" / "lab_test.docx"
    _edit_template(DEFAULT_TEMPLATES_DIR / "en" / "lab_test.docx", own,
                   "{{ template_version }}", "v1")
    with pytest.raises(TemplateError, match=r"lacks tag \{\{ template_version \}\}"):
        check_template("lab_test", "en", tmp_path / "centre")


def test_centre_template_with_broken_syntax_or_filter_is_refused(tmp_path):
    own = tmp_path / "centre" / "zh" / "closure.docx"
    _edit_template(DEFAULT_TEMPLATES_DIR / "zh" / "closure.docx", own,
                   "{{ case_id }}", "{{ case_id | shout }}")
    with pytest.raises(TemplateError, match=r"closure\.docx: No filter named 'shout'"):
        check_template("closure", "zh", tmp_path / "centre")
    own.write_bytes(b"not a zip")
    with pytest.raises(TemplateError, match=r"closure\.docx: not a Word document"):
        check_template("closure", "zh", tmp_path / "centre")


def test_centre_template_is_used_and_others_come_from_the_shipped_set(tmp_path, monkeypatch):
    """A restyled template (here: the letterhead's words) is what reports are rendered from,
    and its version differs from the shipped one's."""
    centre = tmp_path / "centre"
    _edit_template(DEFAULT_TEMPLATES_DIR / "zh" / "catalogue.docx",
                   centre / "zh" / "catalogue.docx", "{{ issuer }}", "某市监局 {{ issuer }}")
    shutil.copytree(centre, tmp_path / "copy")
    monkeypatch.setenv("RISKGATE_TEMPLATES", str(centre))
    checked = {(c.name, c.lang): c for c in check_templates()}
    assert checked[("catalogue", "zh")].path == centre / "zh" / "catalogue.docx"
    assert checked[("catalogue", "en")].path == DEFAULT_TEMPLATES_DIR / "en" / "catalogue.docx"
    shipped_version = check_template("catalogue", "zh", tmp_path / "empty").version
    assert checked[("catalogue", "zh")].version != shipped_version
    with pytest.raises(ValueError, match="lacks"):
        render_report("catalogue", {"case_id": "X"}, lang="zh", out_path=tmp_path / "x.docx")


@pytest.mark.parametrize(("tag", "why"), [
    ("{{ case.nonexistent_field }}", "has no attribute 'nonexistent_field'"),
    ("{% if case_id %}{{ case_id | shout }}{% endif %}", "No filter named 'shout'"),
    ("{{ t('no.such.key') }}", "missing zh translation: no.such.key"),
    ("{{ t.__func__.__globals__ }}", "unsafe"),
    ("{{ case_id * 50000000 }}", "repetition makes over"),
    ("{{ case_id | safe }}", "No filter named 'safe'"),
])
def test_centre_template_that_would_fail_or_misbehave_at_its_gate_is_refused(tmp_path, tag,
                                                                             why):
    """The check renders the template with a real report's data (reports/samples/) in a
    sandbox: what would fail at the gate, reach Python's internals or make a huge value is
    refused at start, with the file named."""
    own = tmp_path / "centre" / "zh" / "triage.docx"
    _edit_template(DEFAULT_TEMPLATES_DIR / "zh" / "triage.docx", own, "{{ case.title }}", tag)
    with pytest.raises(TemplateError, match=rf"{re.escape(str(own))}: .*{re.escape(why)}"):
        check_template("triage", "zh", tmp_path / "centre")


def test_rerender_tells_a_changed_report_and_missing_data(settings, db, closed_cases):
    from cases.audit import verify
    from cases.models import data_path_of
    from cases.store import load_dossier

    records = {r.gate: r for r in load_dossier(db, closed_cases["en"]).reports}
    report = settings.home / records["panel"].path
    report.write_bytes(report.read_bytes() + b"x")
    (settings.home / data_path_of(records["triage"].path)).unlink()
    found = {r.gate: r.status for r in rerender(settings, db, [closed_cases["en"]])}
    assert found["panel"] == "report_changed" and found["triage"] == "data_missing"
    assert found["intake"] == "same"
    problems = verify(db, settings.home).problems
    assert any("02-triage.json" in p and "the file is missing" in p for p in problems)
