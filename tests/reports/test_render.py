"""Rendering end to end: environment and filters, escaping into .docx, render_report, PDF."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import jinja2
import pytest
from docx import Document
from docx.oxml.ns import qn
from hypothesis import given, settings
from hypothesis import strategies as st

import reports.docx_writer
import reports.render
from reports.docx_writer import docx_bytes
from reports.extract import docx_text
from reports.markup import Bullet, Paragraph, Table, parse
from reports.render import RenderedReport, render_report, template_version
from reports.templating import clean_text, make_environment
from tests.tools import require_tool

SAMPLE_DIR = Path(__file__).with_name("templates")
GENERATED_AT = datetime(2026, 11, 22, 6, 3, 5, tzinfo=UTC)
# Hostile on purpose: markup characters, a line break and a control character.
PRODUCT = "**熊猫**毛绒玩具 | #3\n> 批次-7\x00"
CONTEXT = {
    "case_id": "RG-2026-0042",
    "gate": "assessment",
    "generated_at": GENERATED_AT,
    "case_title": "儿童玩具小零件窒息风险",
    "acted_by": "张三",
    "product_name": PRODUCT,
    "channel": "complaint_12365",
    "category": "toys",
    "hazards": ["choking", "suffocation"],
    "target_users": ["infants"],
    "risk_level": "serious",
    "band_index": 3,
    "mean_score": 3.456,
    "weight": 0.75,
    "rulebook": "assessment-2026.1",
    "fired_rules": [{"rule_id": "ASM-001", "title": "婴幼儿玩具含小零件"},
                    {"rule_id": "ASM-007", "title": "同类投诉 ≥ 3 起"}],
}


def render_sample(tmp_path: Path, lang: str = "zh", name: str = "report.docx",
                  **overrides) -> RenderedReport:
    return render_report("sample", {**CONTEXT, **overrides}, lang=lang,
                         out_path=tmp_path / "out" / name, templates_dir=SAMPLE_DIR)


def body_kinds(document) -> list[str]:
    return [child.tag.split("}")[1] for child in document.element.body
            if child.tag != qn("w:sectPr")]


# ── Environment and filters ──────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def zh_env() -> jinja2.Environment:
    return make_environment(SAMPLE_DIR, "zh")


@pytest.fixture(scope="module")
def en_env() -> jinja2.Environment:
    return make_environment(SAMPLE_DIR, "en")


def show(env: jinja2.Environment, source: str, **values) -> str:
    return env.from_string(source).render(**values)


def test_filters_zh(zh_env):
    assert show(zh_env, "{{ 'toys' | name('categories') }}") == "玩具"
    assert show(zh_env, "{{ 'not_a_code' | name('categories') }}") == "not_a_code"
    assert show(zh_env, "{{ ['choking', 'fire'] | names('hazards') }}") \
        == "窒息（小零件吞咽）、火灾"
    assert show(zh_env, "{{ [] | names('hazards') }}") == "—"
    assert show(zh_env, "{{ 'serious' | level }}") == "严重风险"
    assert show(zh_env, "{{ 3 | band }}") == "\\> 1/1 000"  # escaped; reads "> 1/1 000"
    assert show(zh_env, "{{ true | yesno }}/{{ false | yesno }}/{{ none | yesno }}") == "是/否/—"
    assert show(zh_env, "{{ t('gate.panel') }} {{ lang }}") == "专家组 zh"


def test_filters_en(en_env):
    assert show(en_env, "{{ ['choking', 'fire'] | names('hazards') }}") == "Choking, Fire"
    assert show(en_env, "{{ 'low' | level }}") == "Low risk"
    assert show(en_env, "{{ true | yesno }}") == "Yes"


def test_datetime_filter(zh_env):
    cases = [
        GENERATED_AT,
        datetime(2026, 11, 22, 6, 3, 5),  # naive means UTC
        "2026-11-22T06:03:05Z",
        "2026-11-22T01:03:05-05:00",
        datetime(2026, 11, 22, 15, 3, 5, tzinfo=timezone(timedelta(hours=9))),
    ]
    for value in cases:
        assert show(zh_env, "{{ v | dt }}", v=value) == "2026\\-11\\-22 14:03:05 UTC+08:00"
    assert show(zh_env, "{{ none | dt }}") == "—"


def test_number_filters(zh_env):
    assert show(zh_env, "{{ 0.75 | pct }} {{ 0.1234 | pct(1) }} {{ x | pct }}",
                x=Fraction(1, 3)) == "75% 12.3% 33%"
    assert show(zh_env, "{{ (0.1 + 0.2) | num }} {{ 2.675 | num }} {{ 3 | num(0) }}") \
        == "0.30 2.68 3"
    assert show(zh_env, "{{ -0.001 | num }} {{ x | num(3) }}", x=Fraction(2, 3)) == "0.00 0.667"


def test_filter_misuse_fails(zh_env):
    with pytest.raises(ValueError, match="unknown vocabulary 'hazard'"):
        show(zh_env, "{{ 'fire' | name('hazard') }}")
    with pytest.raises(TypeError, match="names expects a list"):
        show(zh_env, "{{ 'fire' | names('hazards') }}")


def test_none_and_raw(zh_env):
    assert show(zh_env, "{{ v }}", v=None) == "—"
    assert show(zh_env, "{{ '**b**' }}|{{ '**b**' | raw }}") == "\\*\\*b\\*\\*|**b**"


def test_strict_undefined(zh_env):
    with pytest.raises(jinja2.UndefinedError):
        show(zh_env, "{{ typo }}")
    with pytest.raises(jinja2.UndefinedError):
        show(zh_env, "{{ case.missing_attribute }}", case={})


# ── Escaping property, through the .docx ─────────────────────────────────────────────────────


def docx_of(env: jinja2.Environment, source: str, value: str):
    blocks = parse(env.from_string(source).render(v=value))
    data = docx_bytes(blocks, lang="zh", title="t", footer="f", properties={})
    return blocks, Document(io.BytesIO(data)), docx_text(io.BytesIO(data))


@settings(max_examples=40, deadline=None)
@given(value=st.text())
def test_any_value_keeps_structure_and_text_in_docx(zh_env, value):
    expected = clean_text(value)  # control characters removed, line breaks as "\n"

    blocks, document, text = docx_of(zh_env, "{{ v }}\n", value)
    if expected:
        assert [type(b) for b in blocks] == [Paragraph]
        assert body_kinds(document) == ["p"]
        assert document.paragraphs[0].text == expected
        assert text == expected
    else:
        assert blocks == [] and body_kinds(document) == []  # blank line: nothing to show

    blocks, document, text = docx_of(zh_env, "| {{ v }} | x |\n", value)
    assert [type(b) for b in blocks] == [Table]
    assert body_kinds(document) == ["tbl"]
    (table,) = document.tables
    assert (len(table.rows), len(table.columns)) == (1, 2)
    assert [cell.text for cell in table.rows[0].cells] == [expected, "x"]
    assert text == f"{expected} | x"

    blocks, document, text = docx_of(zh_env, "- {{ v }}\n", value)
    assert [type(b) for b in blocks] == [Bullet]
    assert body_kinds(document) == ["p"]
    assert document.paragraphs[0].style.name == "List Bullet"
    assert document.paragraphs[0].text == expected
    assert text == expected


# ── render_report ────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory) -> RenderedReport:
    return render_sample(tmp_path_factory.mktemp("zh"), "zh")


@pytest.fixture(scope="module")
def en_report(tmp_path_factory) -> RenderedReport:
    return render_sample(tmp_path_factory.mktemp("en"), "en")


@pytest.mark.parametrize("report_name", ["zh_report", "en_report"])
def test_file_hash_and_version(request, report_name):
    report: RenderedReport = request.getfixturevalue(report_name)
    data = report.path.read_bytes()
    assert report.path.is_file()
    assert report.size == len(data)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert re.fullmatch(r"v1\.0\+[0-9a-f]{8}", report.template_version)
    assert report.template_version == template_version("sample", SAMPLE_DIR)
    Document(str(report.path))  # python-docx reopens it


def test_zh_report_text(zh_report):
    text = docx_text(zh_report.path)
    lines = text.split("\n")
    assert lines[0] == "风险评估报告"
    for expected in [
        "案件编号 | RG-2026-0042",
        "生成时间 | 2026-11-22 14:03:05 UTC+08:00",
        f"模板版本 | {zh_report.template_version}",
        "产品名称：**熊猫**毛绒玩具 | #3",  # user markup shown literally...
        "> 批次-7",  # ...and its line break kept inside the same paragraph
        "信息来源渠道：12365投诉举报",
        "危害类型：窒息（小零件吞咽）、窒息（口鼻覆盖）",
        "目标使用人群：0–36个月婴幼儿",
        "风险等级：严重风险",
        "伤害发生概率：> 1/1 000",
        "平均值：3.46",
        "权重：75%",
        "触发的规则：是",
        "ASM-001 婴幼儿玩具含小零件",
        "本报告的 SHA-256 摘要记录在案件清单与审计日志中",
    ]:
        assert expected in lines, expected
    assert "\x00" not in text


def test_en_report_text(en_report):
    lines = docx_text(en_report.path).split("\n")
    assert lines[0] == "Risk assessment report"
    for expected in ["Case ID | RG-2026-0042", "Hazards: Choking, Suffocation",
                     "Risk level: Serious risk", "Fired rules: Yes",
                     "Product name: **熊猫**毛绒玩具 | #3",
                     "The SHA-256 of this report is recorded in the case manifest and the "
                     "audit log"]:
        assert expected in lines, expected


def test_structure_of_hostile_value(zh_report):
    """The product name's `|`, `#`, `>` and `**` stay text: one paragraph, no bold, no table."""
    document = Document(str(zh_report.path))
    assert len(document.tables) == 1
    (paragraph,) = [p for p in document.paragraphs if p.text.startswith("产品名称")]
    assert paragraph.text == "产品名称：**熊猫**毛绒玩具 | #3\n> 批次-7"
    assert not any(run.bold for run in paragraph.runs)
    assert paragraph.style.name == "Normal"


def test_styles_header_row_and_bullets(zh_report):
    document = Document(str(zh_report.path))
    styles = [p.style.name for p in document.paragraphs]
    assert styles[:2] == ["Heading 1", "Heading 2"]
    assert "Heading 3" in styles
    assert styles.count("List Bullet") == 2
    bullet = next(p for p in document.paragraphs if p.style.name == "List Bullet")
    assert [(r.text, bool(r.bold)) for r in bullet.runs] == [
        ("ASM-001", True), (" 婴幼儿玩具含小零件", False)]
    note = document.paragraphs[-1]
    assert all(run.italic for run in note.runs)

    (table,) = document.tables
    assert table.style.name == "Table Grid"
    rows = table.rows
    assert rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert all(row._tr.trPr is None or row._tr.trPr.find(qn("w:tblHeader")) is None
               for row in rows[1:])
    assert all(run.bold for cell in rows[0].cells for run in cell.paragraphs[0].runs)
    assert not any(run.bold for run in rows[1].cells[1].paragraphs[0].runs)


def test_fonts_language_and_page(zh_report):
    document = Document(str(zh_report.path))
    normal_fonts = document.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert normal_fonts.get(qn("w:eastAsia")) == "SimSun"
    assert normal_fonts.get(qn("w:ascii")) == "Times New Roman"
    assert normal_fonts.get(qn("w:eastAsiaTheme")) is None
    heading_fonts = document.styles["Heading 1"].element.rPr.find(qn("w:rFonts"))
    assert heading_fonts.get(qn("w:eastAsia")) == "SimHei"
    heading_run = document.paragraphs[0].runs[0]
    assert heading_run._r.rPr.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "SimHei"
    language = document.styles["Normal"].element.rPr.find(qn("w:lang"))
    assert language.get(qn("w:eastAsia")) == "zh-CN"
    assert language.get(qn("w:val")) == "en-US"

    section = document.sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    margins = (section.top_margin, section.bottom_margin, section.left_margin,
               section.right_margin)
    assert [round(m.cm, 2) for m in margins] == [2.5] * 4  # stored in twips: 2.5 cm ≈ 1417


def test_footer_and_core_properties(zh_report, en_report):
    document = Document(str(zh_report.path))
    footer = [p.text for p in document.sections[0].footer.paragraphs]
    assert footer[0] == f"RiskGate · RG-2026-0042 · 风险评估 · {zh_report.template_version}"
    assert footer[1].startswith("第 ") and "页，共" in footer[1]
    core = document.core_properties
    assert core.title == "风险评估报告"
    assert core.author == "RiskGate"
    assert core.language == "zh-CN"
    assert core.created == core.modified == GENERATED_AT
    assert "RG-2026-0042" in core.keywords and core.identifier == "RG-2026-0042"

    en = Document(str(en_report.path))
    assert en.sections[0].footer.paragraphs[0].text == (
        f"RiskGate · RG-2026-0042 · Risk assessment · {en_report.template_version}")
    assert en.core_properties.language == "en-US"
    assert en.core_properties.title == "Risk assessment report"


def test_same_inputs_give_same_bytes(tmp_path, zh_report):
    again = render_sample(tmp_path, "zh")
    assert again.sha256 == zh_report.sha256


def test_iso_string_generated_at(tmp_path, zh_report):
    report = render_sample(tmp_path, generated_at="2026-11-22T14:03:05+08:00")
    assert report.sha256 == zh_report.sha256


def test_required_context(tmp_path):
    context = {k: v for k, v in CONTEXT.items() if k != "generated_at"}
    with pytest.raises(ValueError, match="lacks generated_at"):
        render_report("sample", context, lang="zh", out_path=tmp_path / "r.docx",
                      templates_dir=SAMPLE_DIR)


# ── Template version ─────────────────────────────────────────────────────────────────────────


@pytest.fixture
def templates_copy(tmp_path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(SAMPLE_DIR, target)
    return target


def test_version_changes_with_template_text(templates_copy):
    before = template_version("sample", templates_copy)
    assert before == template_version("sample", SAMPLE_DIR)
    path = templates_copy / "sample.md.j2"
    path.write_text(path.read_text(encoding="utf-8") + "\n附注\n", encoding="utf-8")
    after = template_version("sample", templates_copy)
    assert after.startswith("v1.0+") and after != before


def test_version_changes_with_locale_text(tmp_path, monkeypatch):
    before = template_version("sample", SAMPLE_DIR)
    real = reports.render.locale_file
    copies = {}
    for lang in ("zh", "en"):
        copies[lang] = tmp_path / f"{lang}.yaml"
        shutil.copy(real(lang), copies[lang])
    monkeypatch.setattr(reports.render, "locale_file", copies.__getitem__)
    assert template_version("sample", SAMPLE_DIR) == before
    copies["en"].write_text(copies["en"].read_text(encoding="utf-8").replace(
        "Case title", "Case name"), encoding="utf-8")
    assert template_version("sample", SAMPLE_DIR) != before


def test_version_changes_with_the_vocabulary(monkeypatch):
    before = template_version("sample", SAMPLE_DIR)
    changed = reports.render.domain_text().replace("en: Choking,", "en: Choking hazard,")
    assert changed != reports.render.domain_text()
    monkeypatch.setattr(reports.render, "domain_text", lambda: changed)
    assert template_version("sample", SAMPLE_DIR) != before


@pytest.mark.parametrize("first_line", [
    "# no header",
    "{# template: sample #}",
    "{# template: sample 1.0 #}",
    "{# template: other v1.0 #}",
    "{# template: sample v1 #}",
])
def test_bad_header_names_file(templates_copy, first_line):
    path = templates_copy / "sample.md.j2"
    lines = path.read_text(encoding="utf-8").split("\n")
    path.write_text("\n".join([first_line, *lines[1:]]), encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        template_version("sample", templates_copy)


def test_missing_template(tmp_path):
    with pytest.raises(ValueError, match="no template for gate 'triage'"):
        template_version("triage", tmp_path)


# ── Loud failures and atomic writes ──────────────────────────────────────────────────────────


def write_template(directory: Path, body: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "probe.md.j2").write_text("{# template: probe v0.1 #}\n" + body,
                                           encoding="utf-8")


def test_undefined_variable_fails_and_writes_nothing(tmp_path):
    write_template(tmp_path / "t", "# {{ report_title }}\n{{ prodcut_name }}\n")
    out = tmp_path / "out" / "r.docx"
    with pytest.raises(jinja2.UndefinedError, match="prodcut_name"):
        render_report("probe", CONTEXT, lang="zh", out_path=out, templates_dir=tmp_path / "t")
    assert not out.exists()


def test_missing_translation_fails(tmp_path):
    write_template(tmp_path / "t", "{{ t('report.no_such_key') }}\n")
    with pytest.raises(KeyError, match=re.escape("missing en translation: report.no_such_key")):
        render_report("probe", CONTEXT, lang="en", out_path=tmp_path / "r.docx",
                      templates_dir=tmp_path / "t")


def test_unknown_gate_in_context_fails(tmp_path):
    with pytest.raises(KeyError, match=re.escape("missing zh translation: gate.sample")):
        render_sample(tmp_path, gate="sample")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    report = render_sample(tmp_path, name="a.docx")
    render_sample(tmp_path, name="a.docx")  # replacing an existing report
    assert sorted(p.name for p in report.path.parent.iterdir()) == ["a.docx"]
    assert oct(report.path.stat().st_mode & 0o777) == oct(0o644)


def test_failed_replace_keeps_old_report_and_cleans_up(tmp_path, monkeypatch):
    report = render_sample(tmp_path, name="a.docx")
    old = report.path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(reports.docx_writer.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        render_sample(tmp_path, name="a.docx", acted_by="李四")
    assert report.path.read_bytes() == old
    assert sorted(os.listdir(report.path.parent)) == ["a.docx"]


# ── PDF through LibreOffice ──────────────────────────────────────────────────────────────────


@pytest.mark.timeout(180)
def test_libreoffice_pdf_contains_chinese(tmp_path, zh_report):
    soffice = require_tool("soffice")
    pdftotext = require_tool("pdftotext")
    outdir = tmp_path / "pdf"
    profile = (tmp_path / "lo").as_uri()
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(outdir), str(zh_report.path)],
        check=True, capture_output=True, timeout=120)
    pdf = outdir / f"{zh_report.path.stem}.pdf"
    assert pdf.is_file()
    text = subprocess.run([pdftotext, "-enc", "UTF-8", str(pdf), "-"], check=True,
                          capture_output=True, timeout=60).stdout.decode("utf-8")
    assert "风险评估报告" in text
    assert "严重风险" in text
    assert "RG-2026-0042" in text
