"""Feed mappings (cases/feeds): shipped mappings on their samples, bad rows refused with their
column and field while reading goes on, malformed mapping files refused with their key path,
the dry run's unmapped words, CSV line numbers, encodings, JSON arrays, flat memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cases import feeds
from cases.errors import InvalidInput
from flows.deployments import REPO_ROOT

SAMPLES = REPO_ROOT / "docs" / "samples" / "intake"
EXPECTED_ROWS = {"complaint_12365": 12, "consumer_association": 10, "injury_surveillance": 10,
                 "online_opinion": 10, "collaboration_network": 11, "supervision_sampling": 12,
                 "defect_recall": 10, "port_inspection": 10, "foreign_regulator": 20,
                 "signal": 6}
RECEIVED = datetime(2026, 11, 1, tzinfo=UTC)

MAPPING = """\
name: test complaints
channel: complaint_12365
format: csv
reference: 编号
fields:
  received_at: {column: 受理时间, date_format: ["%Y-%m-%d %H:%M", "%Y/%m/%d"]}
  title: {template: ["{产品}", "{危害类型}"], separator: "：", truncate: 30}
  description: {column: 描述, keep_lines: true}
  product.category: {column: 品类, map: {玩具: toys, 电器: electrical_appliances}}
  product.name: 产品
  product.imported: {column: 进口, map: {是: true, 否: false, yes: true, no: false}}
  enterprise.name: 企业
  enterprise.credit_code: 信用代码
  injuries.count: {column: 受伤人数, default: 0}
  hazards: {column: 危害类型, split: "、,;，", map: {窒息: choking, 触电: electric_shock}}
"""
HEADER = ["编号", "受理时间", "描述", "品类", "产品", "进口", "企业", "信用代码", "受伤人数",
          "危害类型"]
GOOD = ["C-1", "2026-11-01 09:30", "珠子脱落", "玩具", "摇铃", "否", "乐童玩具有限公司",
        "91330206MA2H3L7X0K", "0", "窒息"]


def _mapping(tmp_path: Path, text: str = MAPPING, name: str = "m.yaml") -> feeds.Mapping:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return feeds.load_mapping(path)


def _csv(path: Path, rows: list[list[str]], *, header: list[str] = HEADER,
         encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _row(**changes: str) -> list[str]:
    row = list(GOOD)
    for column, value in changes.items():
        row[HEADER.index(column)] = value
    return row


# ---------------------------------------------------------------------------------------------
# the shipped mappings


@pytest.mark.parametrize("channel", sorted(EXPECTED_ROWS))
def test_every_shipped_mapping_reads_its_sample_without_a_problem(channel):
    assert channel in feeds.channel_names()
    mapping = feeds.channel_mapping(channel)
    sample = next(SAMPLES.glob(f"{channel}.*"))
    rows = list(feeds.read_rows(sample, mapping, received_at=RECEIVED))
    assert [r.problems for r in rows] == [()] * EXPECTED_ROWS[channel]
    assert all(r.signal and r.reference == r.signal.reference for r in rows)
    if channel != "signal":
        assert {r.signal.channel for r in rows} == {channel}
    assert len(mapping.sha256) == 64


def test_shipped_samples_carry_province_and_city_and_sampling_failures_become_lab_results():
    rows = list(feeds.read_rows(SAMPLES / "supervision_sampling.csv",
                                feeds.channel_mapping("supervision_sampling")))
    first = rows[0].signal
    assert first.enterprise.province and first.enterprise.locality
    assert [r.item for r in first.lab_results] == ["对触及带电部件的防护", "发热"]
    assert {r.result for r in first.lab_results} == {"fail"}
    assert "不合格率" in first.description
    assert not feeds.channel_mapping("supervision_sampling").near_duplicates
    assert feeds.channel_mapping("complaint_12365").near_duplicates


def test_unknown_channel_lists_the_known_ones():
    with pytest.raises(InvalidInput, match="complaint_12365"):
        feeds.channel_mapping("telepathy")


def test_signal_records_take_their_own_channel_or_a_pinned_one(tmp_path):
    rows = list(feeds.read_rows(SAMPLES / "signal.jsonl", feeds.channel_mapping("signal")))
    assert {r.signal.channel for r in rows} >= {"enterprise_self_report", "law_enforcement"}
    record = json.loads((SAMPLES / "signal.jsonl").read_text(encoding="utf-8").splitlines()[0])
    del record["channel"]
    path = tmp_path / "s.json"
    path.write_text(json.dumps([record, {**record, "channel": "online_opinion"}]),
                    encoding="utf-8")
    pinned = list(feeds.read_rows(path, feeds.signal_mapping("law_enforcement")))
    assert pinned[0].signal.channel == "law_enforcement"
    assert pinned[1].signal is None and "channel" in pinned[1].problems[0]


# ---------------------------------------------------------------------------------------------
# bad rows: refused with column and field, reading goes on


def test_bad_rows_name_column_and_field_and_reading_continues(tmp_path):
    rows = [
        _row(),
        _row(编号="C-2", 危害类型="漏电了"),
        _row(编号="C-3", 受理时间="11/05/2026"),
        _row(编号=""),
        _row(编号="C-5", 产品="长" * 201),
        _row(编号="C-6", 信用代码="12345"),
        _row(编号="C-7", 描述="正常\x1b[31m红字"),
        _row(编号="C-8", 受伤人数="三"),
        _row(编号="C-9", 进口="也许"),
        _row(编号="C-10"),
    ]
    path = _csv(tmp_path / "bad.csv", rows)
    found = list(feeds.read_rows(path, _mapping(tmp_path)))
    assert [r.line for r in found] == list(range(2, 12))
    assert found[0].signal is not None and found[-1].signal is not None
    problems = {r.reference or f"line {r.line}": r.problems for r in found[1:-1]}
    assert all(r.signal is None and len(r.problems) == 1 for r in found[1:-1])
    assert problems["C-2"] == ("column 危害类型 → hazards: value '漏电了' has no map entry "
                               "and the map has no default",)
    assert problems["C-3"][0].startswith("column 受理时间 → received_at: value '11/05/2026' "
                                         "matches none of the date formats")
    assert problems["line 5"][0].startswith("column 编号 → reference: empty")
    assert problems["C-5"][0].startswith("column 产品 → product.name: String should have at "
                                         "most 200 characters")
    assert problems["C-6"][0].startswith("column 信用代码 → enterprise.credit_code: not a "
                                         "unified social credit code")
    assert problems["C-7"][0].startswith("column 描述 → description: contains the control "
                                         "character U+001B")
    assert problems["C-8"] == ("column 受伤人数 → injuries.count: value '三' is not a whole "
                               "number",)
    assert problems["C-9"][0].startswith("column 进口 → product.imported: value '也许' has no "
                                         "map entry")
    assert all("\n" not in p for r in found for p in r.problems)


def test_text_is_cleaned_and_truncated_only_where_the_mapping_says(tmp_path):
    path = _csv(tmp_path / "t.csv", [
        _row(产品="  摇铃   牙胶款 ", 企业="N/A", 危害类型="窒息、 触电 ,None", 进口="YES")])
    signal = next(feeds.read_rows(path, _mapping(tmp_path))).signal
    assert signal.product.name == "摇铃 牙胶款"
    assert signal.enterprise.name == ""  # "N/A" means no value
    assert signal.hazards == ["choking", "electric_shock"]
    assert signal.product.imported is True  # value maps ignore case
    assert signal.title == "摇铃 牙胶款：窒息、 触电 ,None"[:30]
    assert signal.received_at.utcoffset().total_seconds() == 8 * 3600  # Asia/Shanghai


def test_a_short_or_long_csv_record_is_refused_and_a_blank_line_skipped(tmp_path):
    path = tmp_path / "ragged.csv"
    lines = [",".join(HEADER), ",".join(GOOD), "C-2,2026-11-01 09:30", "",
             ",".join(_row(编号="C-3"))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = list(feeds.read_rows(path, _mapping(tmp_path)))
    assert [r.line for r in found] == [2, 3, 5]
    assert found[1].problems == ("record: the record has 2 cells; the header has 10",)
    assert found[2].signal is not None


# ---------------------------------------------------------------------------------------------
# file-level problems raise, naming the file and line


def test_a_header_without_the_columns_the_mapping_needs_is_refused(tmp_path):
    path = _csv(tmp_path / "short.csv", [GOOD[:-1]], header=HEADER[:-1])
    with pytest.raises(InvalidInput, match=r"short\.csv:1: .*requires: 危害类型"):
        list(feeds.read_rows(path, _mapping(tmp_path)))


def test_a_file_not_in_the_declared_encoding_is_refused_with_its_line(tmp_path):
    path = _csv(tmp_path / "gbk.csv", [GOOD, _row(编号="C-2", 产品="电暖器")],
                encoding="gb18030")
    with pytest.raises(InvalidInput, match=r"gbk\.csv:\d+: not utf-8 text"):
        list(feeds.read_rows(path, _mapping(tmp_path)))


def test_gb18030_and_utf8_with_a_bom(tmp_path):
    gb = _mapping(tmp_path, MAPPING + "encoding: gb18030\n", "gb.yaml")
    rows = list(feeds.read_rows(_csv(tmp_path / "gb.csv", [GOOD], encoding="gb18030"), gb))
    assert rows[0].signal.product.name == "摇铃"
    for encoding in ("utf-8", "utf-8-sig"):
        mapping = _mapping(tmp_path, MAPPING + f"encoding: {encoding}\n", f"{encoding}.yaml")
        path = _csv(tmp_path / "bom.csv", [GOOD], encoding="utf-8-sig")
        assert next(feeds.read_rows(path, mapping)).signal.reference == "C-1"


def test_json_that_is_not_an_array_is_refused(tmp_path):
    mapping = _mapping(tmp_path, MAPPING.replace("format: csv", "format: json"))
    path = tmp_path / "one.json"
    path.write_text('\n{"编号": "C-1"}', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"one\.json:2: not a JSON array"):
        list(feeds.read_rows(path, mapping))


# ---------------------------------------------------------------------------------------------
# line numbers and formats


def test_csv_with_quoted_newlines_keeps_the_line_each_record_starts_on(tmp_path):
    rows = [_row(编号="C-1", 描述="第一行\n第二行\n第三行"), _row(编号="C-2"),
            _row(编号="C-3", 描述="a\r\nb"), _row(编号="C-4", 危害类型="漏电了")]
    path = _csv(tmp_path / "nl.csv", rows)
    found = list(feeds.read_rows(path, _mapping(tmp_path)))
    assert [(r.line, r.reference) for r in found] == [(2, "C-1"), (5, "C-2"), (6, "C-3"),
                                                      (8, "C-4")]
    assert found[0].signal.description == "第一行\n第二行\n第三行"
    assert next(csv.reader(io.StringIO(found[0].raw))) == rows[0]  # raw: the record, as CSV


def test_a_json_array_is_streamed_element_by_element(tmp_path):
    mapping = _mapping(tmp_path, MAPPING.replace("format: csv", "format: json"))
    records = [dict(zip(HEADER, _row(编号=f"C-{i}"), strict=True)) for i in range(3)]
    records[1]["受伤人数"] = 2  # a JSON number is fine for a count
    records[2]["危害类型"] = "漏电了"
    path = tmp_path / "a.json"
    path.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, indent=1)
                                       for r in records) + ", 7]\n", encoding="utf-8")
    found = list(feeds.read_rows(path, mapping))
    assert [r.line for r in found] == [2, 14, 26, 37]
    assert found[1].signal.injuries.count == 2
    assert json.loads(found[0].raw) == records[0]
    assert "漏电了" in found[2].problems[0]
    assert found[3].problems == ("record: a record is a JSON object, not a number",)


def test_jsonl_bad_lines_are_rows_with_problems(tmp_path):
    mapping = _mapping(tmp_path, MAPPING.replace("format: csv", "format: jsonl"))
    good = json.dumps(dict(zip(HEADER, GOOD, strict=True)), ensure_ascii=False)
    path = tmp_path / "l.jsonl"
    path.write_text("\n".join([good, "{not json", "", '{"编号": "x", "编号": "y"}', good]),
                    encoding="utf-8")
    found = list(feeds.read_rows(path, mapping))
    assert [r.line for r in found] == [1, 2, 4, 5]
    assert found[1].problems[0].startswith("record: not valid JSON")
    assert "appears twice" in found[2].problems[0]
    assert found[3].signal is not None


# ---------------------------------------------------------------------------------------------
# mapping files


@pytest.mark.parametrize(("text", "message"), [
    (MAPPING.replace("  product.name: 产品\n", "  product.name: {colum: 产品}\n"),
     r"m\.yaml:10: fields\.product\.name\.colum: unknown key"),
    (MAPPING.replace("product.name:", "product.nam:"),
     r"m\.yaml:10: fields\.product\.nam: not a signal field"),
    (MAPPING.replace("电器: electrical_appliances", "电器: appliances"),
     r"m\.yaml:9: fields\.product\.category\.map\.电器: 'appliances' is not a code of "
     "categories"),
    (MAPPING.replace("channel: complaint_12365", "channel: rumours"),
     r"m\.yaml:2: channel: unknown channel 'rumours'"),
    (MAPPING.replace("reference: 编号\n", ""), r"m\.yaml: reference: missing"),
    (MAPPING.replace('split: "、,;，", ', 'split: "、", extract: "(", '),
     r"fields\.hazards\.extract: not a regular expression"),
    (MAPPING.replace("  product.name: 产品\n", "  product.name: 产品\n  product.name: 名称\n"),
     r"m\.yaml:11: not valid YAML \(duplicate key 'product.name'"),
    (MAPPING.replace('template: ["{产品}", "{危害类型}"]', 'template: "{产品"'),
     r"fields\.title\.template: a lone or empty brace"),
    (MAPPING + "  reporter: {column: 产品, value: x}\n",
     r"fields\.reporter: give exactly one source"),
])
def test_a_malformed_mapping_is_refused_with_its_key_path(tmp_path, text, message):
    with pytest.raises(InvalidInput, match=message):
        _mapping(tmp_path, text)


def test_yes_and_no_stay_words_in_a_value_map(tmp_path):
    mapping = _mapping(tmp_path)
    assert mapping.spec.fields["product.imported"].map == {"是": True, "否": False,
                                                          "yes": True, "no": False}


# ---------------------------------------------------------------------------------------------
# check


def test_check_lists_unmapped_values_with_counts(tmp_path):
    text = MAPPING.replace("电器: electrical_appliances}",
                           "电器: electrical_appliances}, default: other_consumer")
    rows = [_row(编号=f"C-{i}", 品类="文具" if i % 2 else "玩具",
                 危害类型="漏电了" if i < 3 else "窒息") for i in range(6)]
    report = feeds.check(_csv(tmp_path / "c.csv", rows), _mapping(tmp_path, text), limit=2)
    assert (report.rows, report.refused, len(report.samples)) == (6, 3, 2)
    assert [(u.value, u.count) for u in report.unmapped["hazards"]] == [("漏电了", 3)]
    assert [(u.value, u.count, u.source) for u in report.unmapped["product.category"]] == [
        ("文具", 3, "column 品类")]
    assert report.problems_by_field == {"hazards": 3}
    assert report.samples[0].problems and not report.samples[0].fields
    data = report.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    lines = report.to_lines()
    assert any("'漏电了' ×3" in line for line in lines)


def test_check_shows_the_fields_of_a_good_row(tmp_path):
    report = feeds.check(_csv(tmp_path / "g.csv", [GOOD]), _mapping(tmp_path))
    assert report.samples[0].fields["product.category"] == "toys"
    assert report.samples[0].fields["hazards"] == ["choking"]


# ---------------------------------------------------------------------------------------------
# memory


def _peak(path: Path, mapping: feeds.Mapping) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in feeds.read_rows(path, mapping, received_at=RECEIVED))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _generated(tmp_path: Path, count: int) -> Path:
    path = tmp_path / f"{count}.csv"
    if path.exists():
        return path
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["编号", "产品", "描述"])
        writer.writerows([f"R-{i}", f"产品{i % 97}", "描述" * 20] for i in range(count))
    return path


FLAT = "channel: complaint_12365\nreference: 编号\nfields:\n  product.category: {value: toys}\n" \
       "  product.name: 产品\n  description: 描述\n"


def _flat(tmp_path: Path, small: int, big: int) -> None:
    mapping = _mapping(tmp_path, FLAT)
    small_file, big_file = _generated(tmp_path, small), _generated(tmp_path, big)
    small_rows, small_peak = _peak(small_file, mapping)
    big_rows, big_peak = _peak(big_file, mapping)
    assert (small_rows, big_rows) == (small, big)
    assert big_peak < 2_000_000, big_peak  # a file of megabytes read in well under 2 MB
    # Ten times the rows, not ten times the memory. What grows at all is the signal schema's
    # own validation state in pydantic-core (its cache of strings seen), which stops at about
    # 1 MB whatever the number of rows (measured: 0.9 MB after 60,000 signals as after 20,000).
    assert big_peak - small_peak < 1_200_000, (small_peak, big_peak)


def test_memory_stays_flat_in_the_file_size(tmp_path):
    _flat(tmp_path, 2_000, 20_000)


@pytest.mark.slow  # about 40 s: every allocation of 200,000 rows is traced
def test_memory_stays_flat_over_200k_rows(tmp_path):
    _flat(tmp_path, 20_000, 200_000)
