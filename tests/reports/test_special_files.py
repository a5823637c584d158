"""The special report (专报): its data for a closed case and a case just opened, the .docx in
both languages opened with python-docx (text, tables, no raw code), the manifest, and
`riskgate report special` with its refusals.

One case is taken through every gate (the panel scores, the approver approves, staff complete
the follow-up: tests/helpers.py), which is most of this module's time; the rest reuse it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from docx import Document

from cases import special as sp
from cases.errors import InvalidInput
from reports import outputs
from reports import special as files
from reports.extract import docx_text
from reports.i18n import Catalog
from rules.domain import domain
from tests.helpers import advance_with_people, open_archetype
from tests.reports.test_bulletin_files import leaked_codes, run, table_rows

GENERATED_AT = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def two_cases(settings, db, roster, cli_user):
    """A toy case taken to closure, and a heater case only opened (not yet triaged)."""
    closed, truth = open_archetype(db, "toy_choking")
    assert advance_with_people(settings, db, closed, truth).state == "closed"
    opened, _ = open_archetype(db, "heater_shock")
    return closed, opened


def test_special_report_of_a_closed_case_and_a_new_one(settings, db, two_cases, tmp_path,
                                                        capsys):
    closed, opened = two_cases
    ids = sp.parse_ids([opened, closed, f" {closed} "])
    assert ids == tuple(sorted((closed, opened)))
    found = sp.special(db, ids)
    assert found.identity.startswith(f"SPECIAL-{ids[0]}+1-")
    first, second = (found.cases[ids.index(closed)], found.cases[ids.index(opened)])
    assert first["assessment"]["risk_level"] == found.summary["highest_level"]
    assert first["disposal"]["status"] == "approved"
    assert first["disposal"]["decided"] == first["disposal"]["proposed"]
    assert [a["status"] for a in first["actions"]] == ["completed"] * len(first["actions"])
    assert second["assessment"] is None and second["disposal"] is None
    assert second["evidence"]["failed_items"] == 2  # the heater's signal carries two fails
    assert found.summary["cases"] == 2 and found.summary["assessed"] == 1
    assert sp.special(db, ids).data_hash == found.data_hash

    vocab = domain()
    for lang in ("zh", "en"):
        written = files.write(found, out_dir=tmp_path, lang=lang, generated_at=GENERATED_AT,
                              generated_by="local:test")
        document = Document(str(written.docx))
        overview = table_rows(document, 1)
        assert [row[0] for row in overview[1:]] == list(ids)
        row = overview[1 + ids.index(closed)]
        assert row[2] == vocab.categories.name("toys", lang)
        separator = Catalog.load(lang).t("format.list_separator")
        assert row[5] == separator.join(vocab.measures.name(m, lang)
                                        for m in first["disposal"]["decided"])
        assert overview[1 + ids.index(opened)][3] == ("未评估" if lang == "zh"
                                                      else "Not assessed")
        text = docx_text(written.docx)
        assert ("产品质量安全风险专报" if lang == "zh" else "Special Report") in text
        assert ("尚未经专家组评估。" if lang == "zh"
                else "Not yet assessed by an expert panel.") in text
        assert vocab.hazards.name("electric_shock", lang) in text
        assert ("不合格" if lang == "zh" else "Fail") in text  # the heater's lab results
        assert leaked_codes(text, lang) == []
        manifest = json.loads(written.manifest.read_text(encoding="utf-8"))
        assert manifest["cases"] == list(ids) and manifest["data_hash"] == found.data_hash
        assert manifest["files"]["docx"]["sha256"] == outputs.sha256(written.docx)
        again = files.write(found, out_dir=tmp_path, lang=lang, generated_at=datetime.now(UTC),
                            generated_by="local:test")
        assert again.unchanged and again.sha256 == written.sha256

    # The command: files under special/, JSON, kept when nothing changed.
    code, out, err = run(capsys, "report", "special", closed, "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["special"] == f"SPECIAL-{closed}" and result["cases"] == [closed]
    assert result["files"]["docx"] == str(settings.home / "special"
                                          / f"SPECIAL-{closed}_zh.docx")
    code, out, _ = run(capsys, "report", "special", closed, "--lang", "en")
    assert code == 0 and f"SPECIAL-{closed}: 1 case(s); files written" in out
    code, out, _ = run(capsys, "report", "special", closed, "--lang", "en")
    assert code == 0 and "files unchanged, kept" in out


def test_unknown_cases_are_named(capsys, settings, db):
    code, out, err = run(capsys, "report", "special", "RG-NOPE-1", "RG-NOPE-2")
    assert code == 3 and out == "" and "no case RG-NOPE-1, RG-NOPE-2" in err
    assert err.count("\n") == 1 and not (settings.home / "special").exists()


@pytest.mark.parametrize(("ids", "message"), [
    ([" ", ""], "name at least one case id"),
    ([f"RG-{n}" for n in range(51)], "51 cases: a special report covers at most 50"),
    (["X" * 41], "longer than 40 characters"),
])
def test_bad_case_lists_are_refused(ids, message):
    with pytest.raises(InvalidInput, match=message):
        sp.parse_ids(ids)


def test_identity_and_the_pattern_in_words():
    assert sp.identity(("RG-1",)) == "SPECIAL-RG-1"
    assert sp.identity(("RG-1", "RG-2")) != sp.identity(("RG-1", "RG-3"))
    pattern = {"kind": "industry", "hazard": "fire", "category": "lighting",
               "industry": "household_electrical", "province": ""}
    assert files.pattern_text(pattern, "zh") == "单一企业 → 所属行业、火灾、家用电器及照明行业"
    assert files.pattern_text({**pattern, "kind": "province", "province": "广东"}, "en") == (
        "One locality → the province, Fire, 广东 · Lighting equipment")
    assert files.pattern_text(None, "en") is None
