"""Report catalogs: zh/en parity, the common keys, and loud failures."""

from __future__ import annotations

import re

import pytest

from reports.i18n import Catalog, flatten, placeholders
from rules.domain import LANGS

GATES = {
    "intake": "受理",
    "triage": "分诊",
    "lab_test": "实验评估",
    "panel": "专家组",
    "assessment": "风险评估",
    "disposal": "风险处置",
    "follow_up": "跟踪",
    "closure": "结案",
}
COMMON_KEYS = [
    "report.title", "report.case_id", "report.case_title", "report.gate", "report.generated_at",
    "report.acted_by", "report.template_version", "report.rulebook", "report.manifest_note",
    "report.footer", "report.page",
    "section.inputs", "section.decision", "section.reasons", "section.fired_rules",
    "section.scores", "section.statistics",
    "fired_rules.order", "fired_rules.rule_id", "fired_rules.title", "fired_rules.priority",
    "fired_rules.matched_values", "fired_rules.outcome",
    "value.yes", "value.no", "format.list_separator", "format.colon",
]


@pytest.fixture(scope="module")
def zh() -> Catalog:
    return Catalog.load("zh")


@pytest.fixture(scope="module")
def en() -> Catalog:
    return Catalog.load("en")


def test_same_keys_in_every_language(zh, en):
    assert zh.keys() - en.keys() == set(), "keys only in zh.yaml"
    assert en.keys() - zh.keys() == set(), "keys only in en.yaml"


def test_same_placeholders_per_key(zh, en):
    differ = {key: (sorted(placeholders(zh.messages[key])), sorted(placeholders(en.messages[key])))
              for key in zh.keys() & en.keys()
              if placeholders(zh.messages[key]) != placeholders(en.messages[key])}
    assert differ == {}


@pytest.mark.parametrize("lang", LANGS)
def test_common_keys_present_and_non_empty(lang):
    catalog = Catalog.load(lang)
    for key in COMMON_KEYS:
        assert catalog.pattern(key).strip() or key == "format.colon", key


def test_gate_names(zh, en):
    for gate, name in GATES.items():
        assert zh.t(f"gate.{gate}") == name
        assert en.t(f"gate.{gate}")


def test_title_footer_and_manifest_wording(zh, en):
    assert zh.t("report.title", gate_name=zh.t("gate.triage")) == "分诊报告"
    assert en.t("report.title", gate_name=en.t("gate.assessment")) == "Risk assessment report"
    assert zh.t("report.manifest_note") == "本报告的 SHA-256 摘要记录在案件清单与审计日志中"
    assert en.t("report.manifest_note") == (
        "The SHA-256 of this report is recorded in the case manifest and the audit log")
    assert zh.t("report.footer", case_id="RG-1", gate_name="结案", template_version="v1.0+ab") \
        == "RiskGate · RG-1 · 结案 · v1.0+ab"


def test_yes_no_are_text_not_yaml_booleans(zh, en):
    assert (zh.t("value.yes"), zh.t("value.no")) == ("是", "否")
    assert (en.t("value.yes"), en.t("value.no")) == ("Yes", "No")


def test_missing_key_raises(zh, en):
    with pytest.raises(KeyError, match=re.escape("missing zh translation: report.nope")):
        zh.t("report.nope")
    with pytest.raises(KeyError, match=re.escape("missing en translation: gate.sample")):
        en.t("gate.sample")


def test_missing_parameter_raises(zh):
    with pytest.raises(KeyError, match=re.escape("report.title needs parameter 'gate_name'")):
        zh.t("report.title")


def test_load_is_cached_and_checks_language():
    assert Catalog.load("zh") is Catalog.load("zh")
    with pytest.raises(ValueError, match="unknown report language"):
        Catalog.load("fr")  # type: ignore[arg-type]


def test_flatten_rejects_yaml_booleans_and_non_text():
    assert flatten({"a": {"b": "x", "c": {"d": "y"}}}, "t.yaml") == {"a.b": "x", "a.c.d": "y"}
    with pytest.raises(ValueError, match="key True"):
        flatten({"value": {True: "是"}}, "t.yaml")
    with pytest.raises(ValueError, match=re.escape("value.no must be text")):
        flatten({"value": {"no": False}}, "t.yaml")
