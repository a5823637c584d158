"""`riskgate rules …`, `riskgate risk level` and `riskgate case explain` as people use them."""

from __future__ import annotations

import json

import pytest

from flows import gates
from flows.cli import main
from rules.rulebook import bundled_rulebooks
from tests.conftest import SAMPLES
from tests.helpers import open_archetype


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_rules_check_passes_on_the_repo_and_fails_on_a_bad_file(capsys, tmp_path):
    code, out, _ = run(capsys, "rules", "check")
    assert code == 0 and out.count("✓") == len(bundled_rulebooks())
    bad = tmp_path / "bad.yaml"
    bad.write_text((SAMPLES.parent.parent / "rules" / "rulebooks" / "triage.yaml")
                   .read_text(encoding="utf-8").replace("priority: 850", "priority: -850"),
                   encoding="utf-8")
    code, out, err = run(capsys, "rules", "check", str(bad))
    assert code == 2
    assert err.count("\n") == 1 and "rule T802: priority must be a whole number" in err
    assert f"{bad}:" in err


def test_rules_eval_prints_decision_and_trail(capsys):
    code, out, _ = run(capsys, "rules", "eval", str(SAMPLES / "case.json"), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["triage"]["next_gate"] == "fast_track"
    assert result["triage"]["fired"][0] == "T101"
    assert result["triage"]["trail"][0]["matched"] == {"target_users": "infants",
                                                       "hazards": ["choking"]}
    assert result["assessment"]["level"] == "serious"
    assert result["assessment"]["deciding_population"] == "infants"
    assert set(result["assessment"]["sensitivity"]) == {"stable", "shifts"}
    assert [m["code"] for m in result["disposal"]["measures"]] == [
        "recall", "delisting", "consumer_warning"]
    code, out, _ = run(capsys, "rules", "eval", str(SAMPLES / "case.json"), "--lang", "en")
    assert code == 0 and "T101" in out and "Recall (D101+D401)" in out


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON at line 1 column 2"),
    ('{"triage": {"channel": "x"}}', "channel_credibility: missing triage field (and 22 more)"),
    ('{"triage": {"sid": "x"}}', "sid: reserved field name"),
    ('{"triage": {"colour": "red"}}', "colour: unknown triage field"),
    ('{"triage": ["channel"]}', "triage facts: expected an object of fields, got ['channel']"),
    ('{"tirage": {}}', "tirage: unknown key"),
])
def test_rules_eval_refuses_bad_case_files(capsys, tmp_path, content, message):
    path = tmp_path / "case.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "rules", "eval", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_rules_eval_refuses_loosely_typed_facts(capsys, tmp_path):
    """durable would take "3" >= 1 and "true" == true; validation stops them first."""
    case = json.loads((SAMPLES / "case.json").read_text(encoding="utf-8"))
    for field, value, message in (("channel", "x", "unknown value 'x'"),
                                  ("injuries", "3", "expected a whole number"),
                                  ("on_market", "true", "expected true or false"),
                                  ("injuries", 2.5, "expected a whole number")):
        bad = {**case, "triage": {**case["triage"], field: value}}
        path = tmp_path / "case.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        code, _, err = run(capsys, "rules", "eval", str(path))
        assert code == 2 and f"{field}: {message}" in err


def test_rules_table_and_fields(capsys):
    code, out, _ = run(capsys, "rules", "table", "disposal", "--lang", "en")
    assert code == 0 and "D607" in out and "disposal" in out
    code, out, _ = run(capsys, "rules", "fields", "triage")
    assert code == 0 and "missing_info" in out
    code, _, err = run(capsys, "rules", "table", "intake")
    assert code == 2 and "unknown rulebook 'intake'" in err


def test_risk_level(capsys):
    code, out, _ = run(capsys, "risk", "level", "--severity", "3", "--probability", "1/500",
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["level"] == "serious" and data["band"] == "> 1/1 000"
    assert data["sensitivity"]["stable"] is False
    for args, message in ((["--severity", "5", "--probability", "0.1"], "--severity: severity"),
                          (["--severity", "2", "--probability", "often"], "--probability: "),
                          (["--severity", "two", "--probability", "0.1"], "Invalid value")):
        code, out, err = run(capsys, "risk", "level", *args)
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_case_explain(capsys, settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    code, out, _ = run(capsys, "case", "explain", case_id, "--json")
    result = json.loads(out)
    assert code == 0 and result["reproduced"] and result["rulebook"]["version"] == "1.1.0"
    code, _, err = run(capsys, "case", "explain", case_id, "--gate", "disposal")
    assert code == 3 and "has no disposal decision yet" in err
