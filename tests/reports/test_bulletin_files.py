"""The semi-monthly bulletin's files, command and flow: the .docx in both languages opened with
python-docx (text, tables, charts, no raw code), the manifest, never overwriting other data,
`riskgate report bulletin` and its refusals, and the `bulletin` flow in-process."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime

import pytest
from docx import Document

from cases import bulletin as bul
from cases.actions import CENTRE_ZONE
from cases.errors import InvalidInput
from cases.escalation_patterns import KINDS
from cases.lifecycle import STATES
from flows import bulletin_flow
from flows.cli import main
from reports import bulletin as files
from reports import outputs
from reports.extract import docx_text
from reports.templating import VOCABULARY_KINDS
from rules.domain import domain
from rules.risk_matrix import LEVELS
from tests.cases.test_bulletin import PERIOD, add_case, add_fortnight, beijing

GENERATED_AT = datetime(2026, 12, 16, 0, 30, tzinfo=UTC)
CLI_PERIOD = ("--from", "2026-12-01", "--to", "2026-12-15")


def leaked_codes(text: str, lang: str) -> list[str]:
    """Vocabulary, level, state and pattern codes standing as words in a report's text. In
    English, one-word codes are often the word itself ("recall"), so only codes with an
    underscore count there; Chinese text should hold no code at all."""
    vocab = domain()
    codes = {c for kind in VOCABULARY_KINDS for c in vocab.vocabulary(kind).codes()}
    codes |= {*LEVELS, "unassessed", *STATES, *KINDS}
    if lang == "en":
        codes = {c for c in codes if "_" in c}
    return sorted(c for c in codes if len(c) >= 3 and re.search(
        rf"(?<![A-Za-z0-9_]){re.escape(c)}(?![A-Za-z0-9_])", text))


def table_rows(document, index: int) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in document.tables[index].rows]


@pytest.fixture
def store(db):
    add_fortnight(db)
    return db


def write(found, out_dir, lang="zh", at=GENERATED_AT, **options):
    return files.write(found, out_dir=out_dir, lang=lang, generated_at=at,
                       generated_by="local:test", **options)


EXPECTED = {  # table rows after the header: (name in zh, name in en, opened, closed)
    "channels": [("监督抽查", "Supervision sampling inspection", 2, 0),
                 ("12365投诉举报", "12365 complaint hotline", 1, 2),
                 ("风险监测", "Risk monitoring test", 1, 0)],
    "levels": [("严重风险", "Serious risk", 1, 1), ("高风险", "High risk", 0, 0),
               ("中等风险", "Medium risk", 0, 0), ("低风险", "Low risk", 0, 1),
               ("未评估", "Not assessed", 3, 0)],
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_docx_in_words_with_tables_and_charts(store, tmp_path, lang):
    found = bul.bulletin(store, PERIOD)
    written = write(found, tmp_path, lang)
    assert written.docx.name == f"bulletin_2026-12-01_2026-12-15_{lang}.docx"
    document = Document(str(written.docx))
    assert len(document.inline_shapes) == 3  # by channel, by risk level, by measure
    (identity, channels, categories, levels, measures, serious, escalations,
     overdue) = (table_rows(document, n) for n in range(8))
    column = 0 if lang == "zh" else 1
    total = "合计" if lang == "zh" else "Total"
    assert channels[1:] == [[row[column], str(row[2]), str(row[3])]
                            for row in EXPECTED["channels"]] + [[total, "4", "2"]]
    assert levels[1:] == [[row[column], str(row[2]), str(row[3])]
                          for row in EXPECTED["levels"]] + [[total, "4", "2"]]
    vocab = domain()
    assert [row[0] for row in categories[1:-1]] == [
        vocab.categories.name(c, lang) for c in ("toys", "electrical_appliances", "cosmetics")]
    assert [row[0] for row in measures[1:]] == [
        vocab.measures.name(c, lang) for c in ("consumer_warning", "recall",
                                               "hazard_disclosure")]
    assert [row[0] for row in serious[1:]] == ["D", "A"]
    pending = serious[1][4]
    assert pending.startswith("尚未决定" if lang == "zh" else "Not yet decided")
    assert vocab.measures.name("delisting", lang) in pending
    assert serious[2][3] == vocab.hazards.name("choking", lang)
    assert escalations[1][0] == "X" and escalations[1][-1] == "2"
    assert escalations[1][3] == vocab.hazards.name("choking", lang)
    assert [(r[0], r[2], r[-1]) for r in overdue[1:]] == [("C", "5", "15"), ("C", "2", "6"),
                                                         ("C", "3", "1")]
    facts = dict(identity[1:])
    assert found.identity in facts.values() and found.data_hash in facts.values()
    assert written.template_version in facts.values()
    text = docx_text(written.docx)
    assert ("产品质量安全风险监测半月报" if lang == "zh" else "Semi-monthly Bulletin") in text
    assert leaked_codes(text, lang) == []
    manifest = json.loads(written.manifest.read_text(encoding="utf-8"))
    assert (manifest["bulletin"], manifest["data_hash"], manifest["lang"]) == (
        found.identity, found.data_hash, lang)
    assert manifest["files"]["docx"]["sha256"] == outputs.sha256(written.docx) \
        == written.sha256


def test_a_quiet_period_still_has_its_tables_and_charts(db, tmp_path):
    found = bul.bulletin(db, bul.Period(date(2026, 6, 1), date(2026, 6, 15)))
    document = Document(str(write(found, tmp_path, "en").docx))
    assert len(document.inline_shapes) == 3
    assert table_rows(document, 5)[1][1] == "None in this period"
    assert table_rows(document, 4)[1] == ["No measure decided", "0", "0"]


def test_same_data_keeps_the_file_other_data_is_refused(store, tmp_path):
    first = write(bul.bulletin(store, PERIOD), tmp_path)
    again = write(bul.bulletin(store, PERIOD), tmp_path, at=datetime(2027, 1, 5, tzinfo=UTC))
    assert again.unchanged and again.sha256 == first.sha256
    # Rendering the same data at the same time elsewhere gives the same bytes.
    elsewhere = write(bul.bulletin(store, PERIOD), tmp_path / "other")
    assert elsewhere.sha256 == first.sha256
    add_case(store, "H", beijing(12, 9), "toys", ["choking"])  # backdated into the period
    changed = bul.bulletin(store, PERIOD)
    with pytest.raises(outputs.OutputExists, match="holds other data"):
        write(changed, tmp_path)
    assert outputs.sha256(first.docx) == first.sha256
    replaced = write(changed, tmp_path, overwrite=True)
    assert not replaced.unchanged and replaced.data_hash == changed.data_hash


# ── riskgate report bulletin ─────────────────────────────────────────────────────────────────


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_command_writes_under_bulletins_and_prints_json(capsys, settings, store):
    code, out, err = run(capsys, "report", "bulletin", *CLI_PERIOD, "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    home = settings.home / "bulletins"
    assert result["files"]["docx"] == str(home / "bulletin_2026-12-01_2026-12-15_zh.docx")
    assert result["bulletin"] == "BULLETIN-2026-12-01_2026-12-15" and not result["unchanged"]
    assert result["opened"]["by_level"]["serious"] == 1
    assert [o["days_overdue"] for o in result["overdue"]] == [15, 6, 1]
    code, out, _ = run(capsys, "report", "bulletin", *CLI_PERIOD, "--lang", "en")
    assert code == 0 and "4 opened, 2 closed, 2 new serious risk(s)" in out
    assert "bulletin_2026-12-01_2026-12-15_en.docx" in out
    add_case(store, "H", beijing(12, 9), "toys", ["choking"])
    code, _, err = run(capsys, "report", "bulletin", *CLI_PERIOD)
    assert code == 4 and "holds other data" in err and "--overwrite" in err
    assert run(capsys, "report", "bulletin", *CLI_PERIOD, "--overwrite")[0] == 0


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "2026-12-15", "--to", "2026-12-01"), "--from 2026-12-15 is after --to"),
    (("--from", "2026-12-01", "--to", "2026-12-32"), "--to '2026-12-32': no such date"),
    (("--from", "12/01/2026", "--to", "2026-12-15"), "--from '12/01/2026': expected a date"),
    (("--from", "2025-01-01", "--to", "2026-12-15"), "a bulletin covers at most 366 days"),
    ((*CLI_PERIOD, "--lang", "fr"), "--lang 'fr'"),
])
def test_command_refusals_name_the_option(capsys, settings, db, args, message):
    code, out, err = run(capsys, "report", "bulletin", *args)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert not (settings.home / "bulletins").exists()


# ── the `bulletin` flow, in-process (no Prefect server) ──────────────────────────────────────


@pytest.mark.parametrize(("scheduled", "first", "last"), [
    (datetime(2027, 1, 1, 8, tzinfo=CENTRE_ZONE), date(2026, 12, 16), date(2026, 12, 31)),
    (datetime(2026, 12, 16, 8, tzinfo=CENTRE_ZONE), date(2026, 12, 1), date(2026, 12, 15)),
    # 1 March 00:30 in Beijing is still 29 February in UTC: Beijing's day decides
    (datetime(2024, 2, 29, 16, 30, tzinfo=UTC), date(2024, 2, 16), date(2024, 2, 29)),
])
def test_flow_period_from_the_scheduled_day_in_beijing(scheduled, first, last):
    assert bulletin_flow.period_for(None, None, None, scheduled) == bul.Period(first, last)


def test_flow_period_asked_for_or_refused():
    now = datetime(2026, 12, 16, tzinfo=UTC)
    assert bulletin_flow.period_for("2026-11-01", "2026-11-30", None, now) == bul.Period(
        date(2026, 11, 1), date(2026, 11, 30))
    assert bulletin_flow.period_for(None, None, "2026-12-01", now).first == date(2026, 11, 16)
    with pytest.raises(InvalidInput, match="give both first and last"):
        bulletin_flow.period_for("2026-11-01", None, None, now)


def test_flow_writes_the_bulletin_and_links_it(store, settings, monkeypatch):
    links: list[dict] = []
    markdown: list[dict] = []
    monkeypatch.setattr(bulletin_flow, "create_link_artifact", lambda **kw: links.append(kw))
    monkeypatch.setattr(bulletin_flow, "create_markdown_artifact",
                        lambda **kw: markdown.append(kw))
    monkeypatch.setattr(bulletin_flow, "get_run_logger", lambda: logging.getLogger("test"))
    result = bulletin_flow.bulletin.fn(on="2026-12-16")
    docx = settings.home / "bulletins" / "bulletin_2026-12-01_2026-12-15_zh.docx"
    assert result["docx"] == str(docx) and docx.is_file() and not result["unchanged"]
    assert result["period"] == {"from": "2026-12-01", "to": "2026-12-15", "days": 15}
    [link] = links
    assert link["key"] == "bulletin" and link["link"] == docx.as_uri()
    assert link["link"].startswith("file://")
    [summary] = markdown
    assert summary["key"] == "bulletin-summary"
    assert "本期受理（立案）案件 4 起。" in summary["markdown"]
    assert docx.as_uri() in summary["markdown"]
    assert bulletin_flow.bulletin.fn(on="2026-12-16")["unchanged"]


def test_the_leak_check_finds_codes():
    assert leaked_codes("渠道 complaint_12365，类别 toys；严重风险", "zh") == [
        "complaint_12365", "toys"]
    assert leaked_codes("Toys, recall and electric_shock", "en") == ["electric_shock"]
