"""Signal files: what `riskgate case open` accepts, and the one-line errors for what it refuses."""

from __future__ import annotations

import json

import pytest

from cases.errors import InvalidInput
from cases.signals import parse_signal, product_key, read_signal_file
from tests.conftest import SAMPLES


def sample() -> dict:
    return json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8"))


def test_the_shipped_sample_is_valid():
    signal = read_signal_file(SAMPLES / "signal.json")
    assert signal.channel == "complaint_12365"
    assert signal.product.target_users == "infants"
    assert signal.missing_info() == []
    assert signal.received_at.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(channel="twitter"), "channel: unknown channel 'twitter'"),
    (lambda d: d["product"].update(category="toyz"), "product.category: unknown categorie"),
    (lambda d: d.update(hazards=["choking", "lasers"]), "hazards[1]: unknown hazard 'lasers'"),
    (lambda d: d.update(colour="red"), "colour: Extra inputs are not permitted"),
    (lambda d: d.pop("reference"), "reference: Field required"),
    (lambda d: d.pop("product"), "product: Field required"),
    (lambda d: d.update(injuries={"count": 1, "severe": 2}), "severe (2) cannot exceed count (1)"),
    (lambda d: d.update(injuries={"count": -1}), "injuries.count: Input should be greater than"),
    (lambda d: d.update(received_at="yesterday"), "received_at: expected an ISO 8601 date"),
    (lambda d: d.update(received_at=1700000000), "received_at: expected an ISO 8601 date"),
    (lambda d: d.update(received_at="0001-01-01T00:00:00+14:00"),
     "received_at: must be between 1970 and 2100"),
    (lambda d: d.update(title="a\x00b"), "title: contains the control character U+0000"),
    (lambda d: d["enterprise"].update(province="浙江\x00"),
     "enterprise.province: contains the control character U+0000"),
    (lambda d: d["product"].update(on_market="no"), "product.on_market: Input should be a "
                                                    "valid boolean"),
    (lambda d: d["product"].update(imported=0), "product.imported: Input should be a valid "
                                                "boolean"),
    (lambda d: d["product"].update(imported=1), "product.imported: Input should be a valid "
                                                "boolean"),
    (lambda d: d["product"].update(with_consumers="off"), "product.with_consumers: Input "
                                                          "should be a valid boolean"),
    (lambda d: d.update(received_at="1700000000"), "received_at: expected an ISO 8601 date"),
    (lambda d: d["enterprise"].update(credit_class="Z"), "enterprise.credit_class: unknown"),
    (lambda d: d.update(lab_results=[{"item": "x", "result": "maybe"}]),
     "lab_results[0].result: Input should be 'pass' or 'fail'"),
])
def test_bad_signals_get_one_line_naming_the_field(change, message):
    data = sample()
    change(data)
    with pytest.raises(InvalidInput) as error:
        parse_signal(data, source="s.json")
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith("s.json: ")
    assert message in text


def test_unreadable_files(tmp_path):
    cases = {
        "missing.json": (None, "no such file"),
        "empty.json": (b"  \n", "the file is empty"),
        "broken.json": (b'{"channel": "complaint_12365",\n  "reference": }', "not valid JSON at "
                                                                              "line 2 column 16"),
        "list.json": (b"[1, 2]", "a signal is a JSON object, got list"),
        "latin1.json": ("{\"title\": \"caf\xe9\"}".encode("latin-1"), "not UTF-8 text"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(InvalidInput, match=message):
            read_signal_file(path)


def test_missing_info_and_title():
    data = sample()
    data["product"]["name"] = ""
    data["enterprise"] = {}
    data["hazards"] = []
    data["description"] = ""
    data["title"] = ""
    signal = parse_signal(data)
    assert signal.missing_info() == ["product", "enterprise", "hazard", "description"]
    assert signal.default_title("zh") == "玩具"


def test_product_key_ignores_spacing_and_case():
    a = parse_signal(sample())
    data = sample()
    data["product"]["name"] = " 婴儿摇铃 (牙胶款) "
    data["product"]["model"] = "lt r01"
    data["enterprise"]["credit_code"] = "91330206ma2h3l7x0k"
    assert product_key(parse_signal(data)) == product_key(a)
