"""Rendering end to end: a sample outline built into Word templates, rendered by docxtpl.

The sample (tests/reports/templates/sample.md.j2) uses every outline block and every filter; the
production templates are exercised by the gate tests and tests/reports/test_words.py.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import contract
from reports.authoring.build import template_bytes
from reports.authoring.outline import parse
from reports.extract import docx_text
from reports.i18n import Catalog
from reports.render import RenderedReport, TemplateError, render_report, template_version
from reports.templating import clean_text
from rules.domain import domain

SAMPLE = Path(__file__).with_name("templates") / "sample.md.j2"
GENERATED_AT = datetime(2026, 11, 22, 6, 3, 5, tzinfo=UTC)
# Hostile on purpose: markup characters, XML, a line break and a control character.
PRODUCT = "**熊猫**毛绒玩具 | #3 <w:t>&amp;\n> 批次-7\x00"
CONTEXT = {
    "case_id": "RG-2026-0042", "gate": "assessment", "generated_at": GENERATED_AT,
    "case_title": "儿童玩具小零件窒息风险", "acted_by": "张三", "product_name": PRODUCT,
    "channel": "complaint_12365", "category": "toys", "hazards": ["choking", "suffocation"],
    "target_users": ["infants"], "risk_level": "serious", "band_index": 3,
    "mean_score": 3.456, "weight": 0.75, "rulebook": "assessment-2026.1",
    "fired_rules": [{"rule_id": "ASM-001", "title": "婴幼儿玩具含小零件"},
                    {"rule_id": "ASM-007", "title": "同类投诉 ≥ 3 起"}],
}


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    """A template folder holding the sample, built like the shipped templates are."""
    root = tmp_path_factory.mktemp("templates")
    for lang in ("zh", "en"):
        (root / lang).mkdir()
        outline = parse(SAMPLE, Catalog.load(lang).pattern)
        (root / lang / "sample.docx").write_bytes(template_bytes(outline, lang))
    return root


@pytest.fixture(autouse=True)
def sample_contract():
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(contract.CONTEXT, "sample", frozenset(CONTEXT))
        patch.setitem(contract.REQUIRED, "sample", contract.REQUIRED_ALL)
        yield


def render_sample(root: Path, out: Path, lang: str = "zh", **overrides) -> RenderedReport:
    return render_report("sample", {**CONTEXT, **overrides}, lang=lang, out_path=out,
                         templates_dir=root)


def test_zh_report_text_and_file(sample_root, tmp_path):
    report = render_sample(sample_root, tmp_path / "zh.docx")
    data = report.path.read_bytes()
    assert report.sha256 == hashlib.sha256(data).hexdigest() and report.size == len(data)
    assert re.fullmatch(r"v1\.0\+[0-9a-f]{8}", report.template_version)
    assert report.template_version == template_version("sample", "zh", sample_root)
    lines = docx_text(report.path).split("\n")
    assert "风险评估报告" in lines
    words = domain()
    hazards = "、".join(words.hazards.name(h, "zh") for h in CONTEXT["hazards"])
    for expected in (f"信息来源渠道：{words.channels.name('complaint_12365', 'zh')}",
                     f"危害类型：{hazards}", "风险等级：严重风险", "伤害发生概率：> 1/1 000"):
        assert any(expected.replace(" ", "") in line.replace(" ", "") for line in lines), \
            expected
    assert "\x00" not in "".join(lines)


def test_hostile_value_is_shown_literally(sample_root, tmp_path):
    document = Document(render_sample(sample_root, tmp_path / "zh.docx").path)
    shown = next(p for p in document.paragraphs if p.text.startswith("产品名称"))
    assert shown.text == "产品名称：" + clean_text(PRODUCT)
    assert shown.runs and not any(run.bold for run in shown.runs if "熊猫" in run.text)


def test_layout_header_footer_and_properties(sample_root, tmp_path):
    report = render_sample(sample_root, tmp_path / "zh.docx")
    document = Document(report.path)
    section = document.sections[0]
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    assert round(section.top_margin.mm) == 37 and round(section.left_margin.mm) == 28
    assert section.header.paragraphs[0].text == "RG-2026-0042 · 风险评估报告"
    footer = [p.text for p in section.footer.paragraphs]
    assert footer[0].startswith("— ") and footer[0].endswith(" —")
    assert footer[1].startswith(f"RG-2026-0042 · 风险评估 · {report.template_version} · 第 ")
    fonts = document.styles["Normal"].element.rPr.find(qn("w:rFonts"))
    assert fonts.get(qn("w:eastAsia")) == "仿宋"
    assert document.styles["Normal"].font.size.pt == 16
    header_row = document.tables[0].rows[0]
    assert header_row._tr.trPr.find(qn("w:tblHeader")) is not None
    core = document.core_properties
    assert (core.title, core.author, core.language) == ("风险评估报告", "RiskGate", "zh-CN")
    assert core.created == core.modified == GENERATED_AT
    assert core.identifier == "RG-2026-0042" and core.version == report.template_version
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == Catalog.load("zh").t("issuer_default")  # letterhead
    assert texts[-1] == "2026年11月22日"  # the date of issue, in the report timezone


def test_en_report(sample_root, tmp_path):
    document = Document(render_sample(sample_root, tmp_path / "en.docx", "en").path)
    texts = [p.text for p in document.paragraphs]
    assert "Risk assessment report" in texts and texts[-1] == "22 November 2026"
    assert document.core_properties.language == "en-US"


def test_same_inputs_give_same_bytes(sample_root, tmp_path):
    first = render_sample(sample_root, tmp_path / "a.docx")
    again = render_sample(sample_root, tmp_path / "b.docx")
    later = render_sample(sample_root, tmp_path / "c.docx",
                          generated_at=GENERATED_AT.replace(hour=7))
    assert first.sha256 == again.sha256 != later.sha256


def test_issuer_is_configurable(sample_root, tmp_path, monkeypatch):
    monkeypatch.setenv("RISKGATE_ISSUER", "某省产品质量安全风险监测中心")
    document = Document(render_sample(sample_root, tmp_path / "zh.docx").path)
    assert document.paragraphs[0].text == "某省产品质量安全风险监测中心"


@settings(max_examples=30, deadline=None)
@given(value=st.text(max_size=40))
def test_any_value_is_shown_as_text(sample_root, tmp_path_factory, value):
    out = tmp_path_factory.mktemp("any") / "r.docx"
    document = Document(render_sample(sample_root, out, product_name=value).path)
    shown = next(p for p in document.paragraphs if p.text.startswith("产品名称"))
    assert shown.text == "产品名称：" + (clean_text(value) or "")


def test_context_key_not_in_the_contract_is_refused(sample_root, tmp_path):
    with pytest.raises(ValueError, match=r"has surprise, which reports/contract\.py"):
        render_sample(sample_root, tmp_path / "x.docx", surprise=1)
    assert not (tmp_path / "x.docx").exists()


def test_undefined_value_fails_and_writes_nothing(sample_root, tmp_path):
    context = {k: v for k, v in CONTEXT.items() if k != "product_name"}
    with pytest.raises(TemplateError, match=r"sample\.docx.*product_name"):
        render_report("sample", context, lang="zh", out_path=tmp_path / "x.docx",
                      templates_dir=sample_root)
    assert not (tmp_path / "x.docx").exists()


def test_unknown_report_and_missing_template_are_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no report named 'nothing'"):
        render_report("nothing", {**CONTEXT}, lang="zh", out_path=tmp_path / "x.docx")
    monkeypatch.setitem(contract.CONTEXT, "nothing", frozenset(CONTEXT))
    with pytest.raises(TemplateError, match="no template for report 'nothing' in zh"):
        render_report("nothing", {**CONTEXT}, lang="zh", out_path=tmp_path / "x.docx")


def test_failed_write_keeps_old_report(sample_root, tmp_path, monkeypatch):
    import reports.docx_package as package

    target = tmp_path / "r.docx"
    render_sample(sample_root, target)
    before = target.read_bytes()

    def broken_replace(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(package.os, "replace", broken_replace)
    with pytest.raises(OSError):
        render_sample(sample_root, target, case_title="another")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.docx"]


def test_text_extraction_reads_tables(sample_root, tmp_path):
    text = docx_text(io.BytesIO(render_sample(sample_root, tmp_path / "r.docx")
                                .path.read_bytes()))
    assert "案件编号 | RG-2026-0042" in text


def test_version_changes_with_template_locale_and_vocabulary(sample_root, tmp_path,
                                                            monkeypatch):
    import reports.render as render

    def version() -> str:
        render._load.cache_clear()
        return template_version("sample", "zh", sample_root)

    first = version()
    assert first == version(), "the same files give the same version"
    # A restyled template (here one more byte in a text) is another version.
    copy = tmp_path / "copy"
    shutil.copytree(sample_root, copy)
    template = copy / "zh" / "sample.docx"
    with zipfile.ZipFile(sample_root / "zh" / "sample.docx") as source, \
            zipfile.ZipFile(template, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"{{ case_id }}", b"{{ case_id }} ", 1)
            target.writestr(item, data)
    render._load.cache_clear()
    assert template_version("sample", "zh", copy).split("+")[1] != first.split("+")[1]
    # A changed word in a catalog, in either language.
    en = tmp_path / "en.yaml"
    en.write_text(render.locale_file("en").read_text(encoding="utf-8") + "\nextra: x\n",
                  encoding="utf-8")
    real = render.locale_file
    monkeypatch.setattr(render, "locale_file", lambda lang: en if lang == "en" else real(lang))
    assert version() != first
    monkeypatch.setattr(render, "locale_file", real)
    # A changed vocabulary.
    monkeypatch.setattr(render, "domain_text", lambda: "changed")
    assert version() != first
    monkeypatch.undo()
    render._load.cache_clear()
