"""Grouping rules on their own (cases/grouping.py): which open case a signal joins, fuzzy
names in Chinese and Latin, and near-duplicates — no store, no Prefect."""

from __future__ import annotations

from cases.grouping import Candidate, GroupIndex, groupable, product_text
from cases.signals import enterprise_key, product_key
from tests.helpers import sample_signal


def _signal(reference: str, *, name: str = "婴儿摇铃（牙胶款）", model: str = "LT-R01",
            enterprise: str = "宁波乐童玩具有限公司", code: str = "", hazards=("choking",),
            description: str = "", channel: str = "complaint_12365", category: str = "toys"):
    return sample_signal(reference=reference, channel=channel, hazards=list(hazards),
                         description=description or f"投诉记录 {reference * 12}",
                         title="",
                         product={"category": category, "name": name, "brand": "乐童",
                                  "model": model, "target_users": "infants"},
                         enterprise={"name": enterprise, "credit_code": code,
                                     "province": "浙江"})


def _index_with(signal) -> GroupIndex:
    index = GroupIndex()
    index.add(Candidate("RG-1", signal.product.category, set(signal.hazards),
                        product_key(signal), enterprise_key(signal),
                        product_text(signal.product.name, signal.product.model)))
    index.note_text("RG-1", signal)
    return index


def _place(index: GroupIndex, signal, near: bool = True):
    return index.place(signal, product_key(signal), enterprise_key(signal), near_duplicates=near)


def test_the_same_product_with_an_overlapping_hazard_joins_its_case():
    index = _index_with(_signal("a"))
    placed = _place(index, _signal("b", enterprise="宁波乐童玩具（浙江）有限公司"))
    assert (placed.case_id, placed.how) == ("RG-1", "same_product")


def test_another_hazard_opens_a_new_case_and_a_similar_product_must_share_the_category():
    index = _index_with(_signal("a"))
    assert _place(index, _signal("b", hazards=("fire",))).how == "new_case"
    assert _place(index, _signal("c", model="LT-R01a", category="childcare")).how == "new_case"
    assert _place(index, _signal("d", model="LT-R01a")).how == "similar_product"


def test_a_model_spelt_differently_by_the_same_enterprise_is_a_similar_product():
    index = _index_with(_signal("a", name="儿童滑板车", model="X1型"))
    placed = _place(index, _signal("b", name="儿童滑板车", model="X1 型"))
    assert placed.how in ("same_product", "similar_product") and placed.case_id == "RG-1"
    placed = _place(index, _signal("c", name="儿童滑板车", model="X1"))
    assert (placed.case_id, placed.how) == ("RG-1", "similar_product")
    assert placed.score is not None and placed.score >= 90
    assert _place(index, _signal("d", name="儿童自行车", model="B7")).how == "new_case"


def test_an_enterprise_name_misspelt_in_latin_still_finds_the_product():
    index = _index_with(_signal("a", name="Smart Kettle", model="K2",
                                enterprise="Shenzhen Toyco Electric Co., Ltd."))
    placed = _place(index, _signal("b", name="Smart Kettle", model="K2",
                                   enterprise="Shenzen Toyco Electric Company Limited"))
    assert (placed.case_id, placed.how) == ("RG-1", "similar_product")
    # two different credit codes are two enterprises, however alike their names
    index = _index_with(_signal("c", code="91330206MA2H3L7X0K"))
    assert _place(index, _signal("d", code="91330206MA2H3L7X1K")).how == "new_case"


def test_near_identical_text_from_the_same_channel_is_a_near_duplicate_kept_in_the_case():
    text = "消费者投诉：婴儿摇铃手柄端盖使用两天后脱落，内部小珠子散出，婴儿将珠子放入口中。"
    index = _index_with(_signal("a", description=text))
    placed = _place(index, _signal("b", description=text + "。"))
    assert (placed.case_id, placed.how) == ("RG-1", "near_duplicate")
    # from another channel it is corroboration, not a duplicate
    other = _place(index, _signal("c", description=text, channel="consumer_association"))
    assert other.how == "same_product"
    # a channel whose near-identical rows are distinct events (sampling results) keeps them
    assert _place(index, _signal("d", description=text), near=False).how == "same_product"


def test_a_signal_without_product_name_or_enterprise_opens_its_own_case():
    signal = sample_signal(reference="x", product={"category": "toys"}, enterprise={})
    assert not groupable(signal)
    assert _place(_index_with(_signal("a")), signal).how == "new_case"


def test_forgetting_a_case_removes_it_from_every_index():
    index = _index_with(_signal("a"))
    index.forget(index.by_id["RG-1"])
    assert not index.by_id and not index.by_product and not index.by_enterprise
    assert _place(index, _signal("b")).how == "new_case"
