"""Rulebook versions: decisions record what made them, replay under it, and never change."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from sqlmodel import select

from cases import store
from cases.errors import InvalidInput
from cases.explain import explain
from cases.models import RulebookSnapshot
from flows import gates
from rules import rulebook as rulebook_module
from rules.rulebook import RULEBOOK_DIR
from tests.helpers import open_archetype, report_path


@pytest.fixture
def editable_rulebooks(tmp_path, monkeypatch):
    """A copy of the rulebooks that the test may edit, in force for the gates."""
    folder = tmp_path / "rulebooks"
    shutil.copytree(RULEBOOK_DIR, folder)
    monkeypatch.setattr(rulebook_module, "RULEBOOK_DIR", folder)
    return folder


def test_a_decision_keeps_its_rulebook_and_replays_under_it(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    replay = explain(db, case_id, "triage")
    assert replay.reproduced
    text = (RULEBOOK_DIR / "triage.yaml").read_text(encoding="utf-8")
    assert replay.rulebook["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    with db.session() as s:
        snapshot = s.get(RulebookSnapshot, replay.rulebook["sha256"])
    assert snapshot.text == text


def test_a_new_version_decides_new_cases_and_old_ones_stay_as_they_were(settings, db, roster,
                                                                        editable_rulebooks):
    before_id, _ = open_archetype(db, "toy_choking", tag="a")
    gates.advance(settings, before_id)
    stored_before = store.load_dossier(db, before_id)
    report_before = report_path(settings, stored_before, "triage").read_bytes()

    path = editable_rulebooks / "triage.yaml"
    text = path.read_text(encoding="utf-8").replace('version: "1.1.0"', 'version: "1.2.0"')
    path.write_text(text.replace(  # online sales now P2 instead of a plain flag
        "then: {flags: [online_sale]}", "then: {priority: P2, flags: [online_sale]}"),
        encoding="utf-8")

    after_id, _ = open_archetype(db, "cosmetic_banned_substance", tag="c")  # also sold online
    gates.advance(settings, after_id)
    assert explain(db, after_id, "triage").rulebook["version"] == "1.2.0"

    def t803(case_id):
        trail = store.load_dossier(db, case_id).decision("triage").trail
        return next(step["then"] for step in trail if step["rule"] == "T803")

    assert t803(after_id) == {"priority": "P2", "flags": ["online_sale"]}
    assert t803(before_id) == {"flags": ["online_sale"]}

    old = explain(db, before_id, "triage")
    assert old.rulebook["version"] == "1.1.0" and old.reproduced
    stored_now = store.load_dossier(db, before_id)
    assert stored_now.decision("triage").outcome == stored_before.decision("triage").outcome
    assert stored_now.decision("triage").trail == stored_before.decision("triage").trail
    assert report_path(settings, stored_now, "triage").read_bytes() == report_before
    with db.session() as s:
        versions = sorted(r.version for r in s.exec(select(RulebookSnapshot)
                                                    .where(RulebookSnapshot.name == "triage")))
    assert versions == ["1.1.0", "1.2.0"]


def test_an_edited_rulebook_without_a_new_version_is_refused(settings, db, roster,
                                                              editable_rulebooks):
    first, _ = open_archetype(db, "toy_choking", tag="a")
    gates.advance(settings, first)
    path = editable_rulebooks / "triage.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("priority: 860", "priority: 861"),
                    encoding="utf-8")
    second, _ = open_archetype(db, "labelling_defect", tag="b")
    with pytest.raises(InvalidInput, match=r"rulebook triage 1\.1\.0 has changed since it "
                                           r"was first used .* give the changed rulebook a "
                                           r"new version"):
        gates.advance(settings, second)
    dossier = store.load_dossier(db, second)
    assert dossier.case.gate == "triage" and dossier.decision("triage") is None
    assert not (settings.home / "reports" / second / "02-triage.docx").exists()
