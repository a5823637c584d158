"""The vocabulary is versioned with the data it validated: a signal stored under an older
vocabulary reads back under it, and decisions record the vocabulary they were made with."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from cases import audit, store
from cases.intake import open_case
from cases.models import VocabularySnapshot, utcnow
from flows import gates
from rules.domain import domain_sha256, domain_text
from tests.helpers import sample_signal


def test_a_signal_stored_under_an_older_vocabulary_still_reads_back(settings, db):
    case_id = open_case(db, sample_signal(), actor="staff:t", lang="zh").case_id
    # an older vocabulary had a hazard code the current one no longer has
    old_text = domain_text().replace(
        "  other:             {zh: 其他",
        "  asbestos:          {zh: 石棉, en: Asbestos, test_zh: 石棉检测, test_en: Asbestos test}\n"
        "  other:             {zh: 其他")
    old_sha = hashlib.sha256(old_text.encode("utf-8")).hexdigest()
    with db.session() as s:
        s.add(VocabularySnapshot(sha256=old_sha, text=old_text, first_used_at=utcnow()))
    with db.engine.begin() as conn:
        payload = conn.execute(sa.text("SELECT payload FROM signal")).scalar_one()
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        payload["hazards"] = ["asbestos"]
        conn.execute(sa.text("UPDATE signal SET payload = :p, vocabulary_sha256 = :v"),
                     {"p": json.dumps(payload), "v": old_sha})
    dossier = store.load_dossier(db, case_id)
    assert dossier.signals[0].hazards == ["asbestos"]


def test_decisions_and_signals_record_the_vocabulary(settings, db, roster):
    case_id = open_case(db, sample_signal(), actor="staff:t", lang="zh").case_id
    gates.advance(settings, case_id)
    dossier = store.load_dossier(db, case_id)
    assert {r.vocabulary_sha256 for r in dossier.signal_rows} == {domain_sha256()}
    assert dossier.decision("triage").vocabulary_sha256 == domain_sha256()
    with db.read_session() as s:
        snapshot = s.get(VocabularySnapshot, domain_sha256())
    assert snapshot.text == domain_text()
    assert audit.verify(db, settings.home).ok
