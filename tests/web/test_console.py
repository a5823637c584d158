"""The staff console over HTTP, in-process: signing in, the console and its filters, opening a
case from a form or a file, every post on a case (scenarios, information, lab results, the
four-eyes disposal, follow-up actions, closing), the credit files and report downloads.

Cases are advanced by the real gates without Prefect; what a post would start is recorded by
the test's starter (the browser test runs it all through Prefect)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from cases import actions, approvals, scenarios, store
from cases.models import AuditEvent, Case
from flows import gates
from flows.web.app import COOKIE, create_app
from rules.domain import domain
from tests.helpers import (
    APPROVER,
    SAMPLES,
    advance_with_people,
    open_archetype,
    sample_signal,
    score_round,
)
from tests.web.console_helpers import add_people, csrf, errors_of, sign_in, token_of


@pytest.fixture
def web(settings, db, roster):
    add_people(db)
    started: list = []
    app = create_app(settings, start=lambda s, claim: started.append(claim))
    return app, started


def signal_form(token: str, **changes) -> dict:
    form = {"csrf": token, "channel": "complaint_12365", "reference": "WEB-1",
            "received_at": "2026-12-01T09:30", "title": "儿童雨衣帽绳过长",
            "description": "家长反映帽绳过长，可能勒颈", "product.category": "children_clothing",
            "product.name": "儿童雨衣", "product.target_users": "children",
            "product.sale_channel": "online", "product.on_market": "on",
            "product.with_consumers": "on", "hazards": ["strangulation"],
            "enterprise.name": "温州童衣服饰有限公司", "injuries.count": "0", "launch": "on"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def case_count(db) -> int:
    with db.read_session() as session:
        return len(session.exec(select(Case)).all())


# -- signing in --------------------------------------------------------------------------------


def test_sign_in_starts_an_httponly_session_and_goes_to_the_roles_home(web):
    app, _ = web
    for name, home in (("alice", "/console"), ("carol", "/audit"), ("dave", "/admin")):
        client = sign_in(app, name)
        assert client.get("/", follow_redirects=False).headers["location"] == home
    done = sign_in(app, "alice", next_path="/enterprises")
    assert done.get("/enterprises").status_code == 200


def test_the_sign_in_form_is_csrf_protected_and_says_what_went_wrong(web):
    app, _ = web
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1:8000")
    page = client.get("/login")
    cookie = page.headers["set-cookie"]
    assert "riskgate_login=" in cookie and "HttpOnly" in cookie and "strict" in cookie.lower()
    forged = client.post("/login", data={"csrf": "forged", "username": "alice",
                                         "password": "correct horse battery"})
    assert forged.status_code == 403 and COOKIE not in forged.headers.get("set-cookie", "")
    wrong = client.post("/login", data={"csrf": csrf(page.text), "username": "alice",
                                        "password": "wrong horse battery"})
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    elsewhere = sign_in(app, "alice", next_path="//evil.example/x")
    assert elsewhere.cookies.get(COOKIE)
    ok = sign_in(app, "alice")
    set_cookie = next(h for h in ok.cookies.jar if h.name == COOKIE)
    assert set_cookie.has_nonstandard_attr("HttpOnly")


def test_failed_sign_ins_are_rate_limited(web):
    app, _ = web
    for _ in range(5):
        sign_in(app, "bob", "wrong horse battery", expect=401)
    locked = sign_in(app, "bob", expect=429)
    page = locked.post("/login", data={"csrf": token_of(locked, "/login"), "username": "bob",
                                       "password": "correct horse battery"})
    assert page.status_code == 429 and "15 分钟后再试" in page.text


def test_nobody_signed_in_is_sent_to_sign_in_and_a_post_is_refused(web):
    app, _ = web
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1:8000")
    page = client.get("/console", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/console"
    assert client.post("/console/cases", data={}).status_code == 401


# -- the console and opening a case -------------------------------------------------------------


def test_the_console_counts_lists_and_filters_cases(settings, db, web):
    app, _ = web
    toy, _ = open_archetype(db, "toy_choking")
    food, _ = open_archetype(db, "out_of_scope_food")
    gates.advance(settings, toy)
    gates.advance(settings, food)
    client = sign_in(app, "alice")
    page = client.get("/console")
    assert page.status_code == 200 and toy in page.text and food in page.text
    assert 'id="counts"' in page.text and "专家评分中" in page.text
    waiting = client.get("/console?state=awaiting_scores").text
    assert toy in waiting and food not in waiting.split('id="panels"')[0]
    assert "尚未评分" in waiting  # the panel and who has not answered
    bad = client.get("/console?state=sleeping&channel=carrier_pigeon")
    assert bad.status_code == 422
    assert errors_of(bad.text) == {"state": "未知的筛选值“sleeping”",
                                   "channel": "未知的筛选值“carrier_pigeon”"}


def test_a_case_opened_from_the_form_is_validated_as_the_cli_validates(db, web):
    app, started = web
    client = sign_in(app, "alice")
    token = token_of(client, "/console/cases/new")
    bad = client.post("/console/cases", data=signal_form(
        token, channel="carrier_pigeon", received_at="", **{"injuries.count": "many",
                                                             "product.category": ""}))
    assert bad.status_code == 422
    errors = errors_of(bad.text)
    assert errors["channel"] == "未知的代码“carrier_pigeon”"
    assert errors["received_at"] == "必填" and errors["product.category"] == "必填"
    assert errors["injuries.count"] == "请填写整数"
    assert 'value="儿童雨衣"' in bad.text  # what was typed is kept
    assert case_count(db) == 0 and started == []

    done = client.post("/console/cases", data=signal_form(token), follow_redirects=False)
    assert done.status_code == 303
    case_id = done.headers["location"].split("/")[3].split("?")[0]
    case = store.get_case(db, case_id)
    assert case.opened_by == "user:alice" and case.category == "children_clothing"
    assert [c.key for c in started] == [f"{case_id}:launch"]
    page = client.get(done.headers["location"])
    assert "案件已受理，流程已启动" in page.text and "儿童雨衣" in page.text


def test_a_case_opened_from_an_uploaded_file(db, web):
    app, started = web
    client = sign_in(app, "alice")
    token = token_of(client, "/console/cases/new")
    twice = b'{"channel": "complaint_12365", "channel": "online_opinion"}'
    refused = client.post("/console/cases", data={"csrf": token},
                          files={"signal_file": ("x.json", twice, "application/json")})
    assert refused.status_code == 422 and "文件 x.json 未被接受" in refused.text
    assert "appears twice" in refused.text
    good = (SAMPLES / "signal.json").read_bytes()
    done = client.post("/console/cases", data={"csrf": token},
                       files={"signal_file": ("signal.json", good, "application/json")},
                       follow_redirects=False)
    assert done.status_code == 303 and case_count(db) == 1 and started == []  # not launched
    again = client.post("/console/cases", data={"csrf": token},
                        files={"signal_file": ("signal.json", good, "application/json")})
    assert again.status_code == 422 and "来源编号为 12365-2026-118204 的信息已受理" in again.text


def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(db, web):
    app, _ = web
    client = sign_in(app, "alice")
    token = token_of(client, "/console/cases/new")
    assert client.post("/console/cases", data=signal_form("forged")).status_code == 403
    foreign = client.post("/console/cases", data=signal_form(token),
                          headers={"origin": "http://evil.example"})
    assert foreign.status_code == 403 and case_count(db) == 0


# -- posts on one case --------------------------------------------------------------------------


def test_scenarios_are_described_and_edited_until_the_panel_sits(settings, db, web):
    app, _ = web
    case_id, _ = open_archetype(db, "toy_choking")
    client = sign_in(app, "alice")
    path = f"/console/cases/{case_id}"
    token = token_of(client, path)
    short = client.post(f"{path}/scenarios", data={"csrf": token, "description": "短"})
    assert short.status_code == 422
    assert errors_of(short.text)["description"] == "请用 4 至 1000 个字描述伤害情景"
    added = client.post(f"{path}/scenarios", data={
        "csrf": token, "description": "婴儿将脱落的小珠子放入口中，阻塞气道",
        "population": "infants"}, follow_redirects=False)
    assert added.status_code == 303
    edited = client.post(f"{path}/scenarios", data={
        "csrf": token, "number": "1", "description": "10个月婴儿吞咽小珠子，气道阻塞",
        "population": "infants"}, follow_redirects=False)
    assert edited.status_code == 303
    gates.advance(settings, case_id)
    late = client.post(f"{path}/scenarios", data={
        "csrf": token, "description": "panel sat already here", "population": "infants"})
    assert late.status_code == 409 and "the panel sat already" in late.text
    assert [s.description for s in scenarios.of_case(db, case_id)] == [
        "10个月婴儿吞咽小珠子，气道阻塞"]


def test_more_information_and_lab_results_from_the_case_page(settings, db, web):
    app, started = web
    from cases.intake import open_case

    vague = sample_signal(reference="vague-web")
    vague = vague.model_copy(update={"product": vague.product.model_copy(update={"name": ""})})
    info_case = open_case(db, vague, actor="staff:t", lang="zh").case_id
    assert gates.advance(settings, info_case).state == "awaiting_information"
    client = sign_in(app, "alice")
    path = f"/console/cases/{info_case}"
    token = token_of(client, path)
    bad = client.post(f"{path}/information", data={"csrf": token, "reference": ""})
    assert bad.status_code == 422 and "channel" in errors_of(bad.text)
    more = json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8"))
    more["reference"] = "vague-web-more"
    done = client.post(f"{path}/information", data={"csrf": token}, files={
        "signal_file": ("more.json", json.dumps(more).encode(), "application/json")},
        follow_redirects=False)
    assert done.status_code == 303 and started[-1].key == f"{info_case}:triage:r2"

    signal = sample_signal(reference="lab-web")
    lab_case = open_case(db, signal.model_copy(update={"product": signal.product.model_copy(
        update={"standard": None})}), actor="staff:t", lang="zh").case_id
    assert gates.advance(settings, lab_case).state == "awaiting_lab"
    path = f"/console/cases/{lab_case}"
    empty = client.post(f"{path}/lab", data={"csrf": token})
    assert empty.status_code == 422
    assert errors_of(empty.text) == {"lab1.item": "请至少填写一个检验项目"}
    wrong = client.post(f"{path}/lab", data={"csrf": token, "lab1.item": "小零件测试",
                                             "lab1.result": "maybe"})
    assert wrong.status_code == 422 and "lab1.result" in errors_of(wrong.text)
    ok = client.post(f"{path}/lab", data={"csrf": token, "lab1.item": "小零件测试",
                                          "lab1.result": "fail", "lab1.laboratory": "某所"},
                     follow_redirects=False)
    assert ok.status_code == 303 and started[-1].key == f"{lab_case}:lab"
    assert store.load_dossier(db, lab_case).lab_results[0].item == "小零件测试"


@pytest.fixture
def proposed(settings, db, web):
    case_id, truth = open_archetype(db, "toy_choking")  # opened by staff:test
    gates.advance(settings, case_id)
    score_round(db, case_id, truth)
    assert gates.advance(settings, case_id).state == "awaiting_approval"
    return case_id


def test_an_approver_approves_and_the_case_continues(db, web, proposed):
    app, started = web
    client = sign_in(app, "bob")
    path = f"/console/cases/{proposed}"
    page = client.get(path)
    assert 'id="approve-form"' in page.text and 'id="override-form"' in page.text
    done = client.post(f"{path}/disposal", data={"csrf": csrf(page.text),
                                                 "decision": "approve", "comment": "同意"},
                       follow_redirects=False)
    assert done.status_code == 303 and started[-1].key == f"{proposed}:disposal:decided"
    review = approvals.get_review(db, proposed)
    assert (review.status, review.decided_by) == ("approved", "user:bob")


def test_an_override_needs_a_justification_and_the_opener_may_not_decide(settings, db, web,
                                                                          proposed):
    app, _ = web
    with db.session() as session:  # as if erin (staff and approver) had opened this case
        row = session.get(Case, proposed)
        row.opened_by = "user:erin"
        session.add(row)
    opener = sign_in(app, "erin")
    path = f"/console/cases/{proposed}"
    refused = opener.post(f"{path}/disposal", data={"csrf": token_of(opener, path),
                                                    "decision": "approve"})
    assert refused.status_code == 409 and "双人复核：案件" in refused.text
    client = sign_in(app, "bob")
    token = token_of(client, path)
    ranks = {"csrf": token, "decision": "override", "rank_recall": "1",
             "rank_consumer_warning": "2", "rank_hazard_disclosure": "3"}
    bare = client.post(f"{path}/disposal", data=ranks)
    assert bare.status_code == 422
    assert errors_of(bare.text)["justification"] == "调整措施须书面说明理由（至少 10 个字）"
    assert approvals.get_review(db, proposed).status == "pending"
    twice = client.post(f"{path}/disposal", data={**ranks, "rank_delisting": "1",
                                                  "justification": "两项排名相同的测试"})
    assert twice.status_code == 422 and errors_of(twice.text)["measures"]
    done = client.post(f"{path}/disposal", data={**ranks,
                                                 "justification": "批次已售罄，改为警示与整改"},
                       follow_redirects=False)
    assert done.status_code == 303
    review = approvals.get_review(db, proposed)
    assert review.status == "overridden" and review.measures == ["recall", "consumer_warning",
                                                                 "hazard_disclosure"]
    gates.advance(settings, proposed)
    page = client.get(path).text
    assert "调整后批准" in page and "批次已售罄" in page


def test_follow_up_actions_are_updated_from_the_case_page_until_the_case_closes(
        settings, db, web, proposed):
    app, started = web
    approvals.decide(db, proposed, APPROVER)
    assert gates.advance(settings, proposed).state == "awaiting_actions"
    client = sign_in(app, "alice")
    path = f"/console/cases/{proposed}"
    token = token_of(client, path)
    recall = next(a for a in actions.list_actions(db, proposed) if a.measure == "recall")
    bad = client.post(f"{path}/actions/{recall.number}", data={
        "csrf": token, "status": "completed", "progress.units_affected": "100",
        "progress.units_recovered": "120"})
    assert bad.status_code == 422
    errors = errors_of(bad.text)
    assert errors["progress.units_recovered"] == "已召回数量超过涉及数量，请核对涉及数量"
    saved = client.post(f"{path}/actions/{recall.number}", data={
        "csrf": token, "status": "in_progress", "progress.units_affected": "100",
        "note": "召回公告已发布"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=action_saved")
    for action in actions.list_actions(db, proposed):
        data = {"csrf": token, "status": "completed", "outcome": "已办结"}
        for name in domain().progress_fields(action.measure):
            kind = domain().progress.attr(name, "kind")
            data[f"progress.{name}"] = {"count": "100", "date": "2026-12-01",
                                        "text": "某地"}[kind]
        done = client.post(f"{path}/actions/{action.number}", data=data,
                           follow_redirects=False)
        assert done.status_code == 303
    assert started[-1].key == f"{proposed}:follow_up:done"
    assert gates.advance(settings, proposed).state == "closed"
    page = client.get(path).text
    assert "已结案" in page and "08-closure.docx" in page


def test_staff_close_the_follow_up_with_a_reason(settings, db, web, proposed):
    app, started = web
    approvals.decide(db, proposed, APPROVER)
    gates.advance(settings, proposed)
    client = sign_in(app, "alice")
    path = f"/console/cases/{proposed}"
    token = token_of(client, path)
    short = client.post(f"{path}/close", data={"csrf": token, "reason": "算了"})
    assert short.status_code == 422
    assert errors_of(short.text)["reason"] == "请说明理由（至少 10 个字）"
    done = client.post(f"{path}/close", data={"csrf": token,
                                              "reason": "企业已注销，其余事项无法继续办理"},
                       follow_redirects=False)
    assert done.status_code == 303 and started[-1].key == f"{proposed}:follow_up:closed"


def test_reports_download_and_the_credit_files(settings, db, web):
    app, _ = web
    case_id, truth = open_archetype(db, "toy_choking")
    assert advance_with_people(settings, db, case_id, truth).state == "closed"
    client = sign_in(app, "alice")
    page = client.get(f"/console/cases/{case_id}").text
    report = store.load_dossier(db, case_id).reports[0]
    got = client.get(f"/console/cases/{case_id}/reports/{report.id}")
    assert got.status_code == 200 and got.content == (settings.home / report.path).read_bytes()
    assert "attachment" in got.headers["content-disposition"]
    assert client.get(f"/console/cases/{case_id}/reports/999999").status_code == 404
    assert client.get(f"/console/cases/OTHER/reports/{report.id}").status_code == 404
    assert 'id="credit-file-link"' in page
    files = client.get("/enterprises").text
    assert "宁波乐童玩具有限公司" in files
    file_page = client.get("/enterprises/code:91330206MA2H3L7X0K")
    assert file_page.status_code == 200 and "违法记录" in file_page.text
    assert client.get("/enterprises/nobody").status_code == 404


def test_every_change_names_the_signed_in_person(db, web):
    app, _ = web
    client = sign_in(app, "alice")
    token = token_of(client, "/console/cases/new")
    client.post("/console/cases", data=signal_form(token), follow_redirects=False)
    with db.read_session() as session:
        actors = {e.actor for e in session.exec(select(AuditEvent).where(
            AuditEvent.action.in_(("case.opened", "case.launched")))).all()}
    assert actors == {"user:alice"}


def test_what_a_careless_or_hostile_url_or_post_gets(settings, db, web, proposed):
    """Found by probing: unknown notice keys, huge ids, oversized posts, malformed paths."""
    app, _ = web
    client = sign_in(app, "alice")
    path = f"/console/cases/{proposed}"
    for junk in ("x", "<script>", "__class__"):
        page = client.get(f"{path}?done={junk}")
        assert page.status_code == 200 and 'id="done"' not in page.text
    token = token_of(client, path)
    for report in ("9223372036854775808", "-1", "abc"):
        missing = client.get(f"{path}/reports/{report}")
        assert missing.status_code == 404 and "没有这个案件或记录" in missing.text
    assert client.get("/no/such/page").status_code == 404
    huge = client.post(f"{path}/close", data={"csrf": token, "reason": "x" * 70_000})
    assert huge.status_code == 413 and "太大" in huge.text
    nul = client.post(f"{path}/scenarios", data={"csrf": token, "number": "9" * 30,
                                                 "description": "some scenario text"})
    assert nul.status_code == 404


def test_a_mistyped_credit_code_is_refused_beside_its_field(db, web):
    app, _ = web
    client = sign_in(app, "alice")
    token = token_of(client, "/console/cases/new")
    bad = client.post("/console/cases", data=signal_form(
        token, **{"enterprise.credit_code": "12345"}))
    assert bad.status_code == 422
    assert errors_of(bad.text)["enterprise.credit_code"].startswith("not a unified social")
    assert case_count(db) == 0


def test_follow_up_refuses_control_characters_and_more_recalled_than_affected(
        settings, db, web, proposed):
    app, _ = web
    approvals.decide(db, proposed, APPROVER)
    gates.advance(settings, proposed)
    client = sign_in(app, "alice")
    path = f"/console/cases/{proposed}"
    token = token_of(client, path)
    nul = client.post(f"{path}/close", data={"csrf": token, "reason": "企业已注销\x00无法继续"})
    assert nul.status_code == 422 and "reason" in errors_of(nul.text)
    recall = next(a for a in actions.list_actions(db, proposed) if a.measure == "recall")
    over = client.post(f"{path}/actions/{recall.number}", data={
        "csrf": token, "status": "in_progress", "progress.units_affected": "10",
        "progress.units_recovered": "50"})
    assert over.status_code == 422
    assert actions.list_actions(db, proposed)[recall.number - 1].details == {}
