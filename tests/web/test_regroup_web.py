"""Moving a signal and splitting a case from the staff case page, over HTTP in-process: the
signals table says why each signal is in its case, the forms move and split (audited, with the
triage run a triaged case is owed handed to the starter), and a refused post shows its error
beside its field in the page's language."""

from __future__ import annotations

import pytest
from sqlmodel import select

from cases import audit, store
from cases.intake import open_case
from cases.models import AuditEvent, Signal
from flows import gates
from flows.web.app import create_app
from tests.cases.test_regroup import signal
from tests.helpers import sample_signal
from tests.web.console_helpers import add_people, errors_of, sign_in, token_of


@pytest.fixture
def web(settings, db):
    add_people(db)
    started: list = []
    return create_app(settings, start=lambda s, claim: started.append(claim)), started


def two_signal_case(db) -> tuple[str, list[int]]:
    opened = [open_case(db, s, actor="staff:t", lang="zh")
              for s in (signal("W1"), signal("W2", hazards=["choking", "injuries"]))]
    return opened[0].case_id, [o.signal_id for o in opened]


def test_the_signals_table_says_why_each_signal_is_in_its_case(db, web):
    app, _ = web
    case_id, (first, second) = two_signal_case(db)
    with db.session() as session:  # as the importer records a fuzzy match
        row = session.get(Signal, second)
        row.grouping, row.import_id, row.line = {"how": "similar_product", "score": 93.5,
                                                 "why": "…"}, None, None
        session.add(row)
    client = sign_in(app, "alice")
    page = client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert "产品或企业名称相近（相似度 93.5）" in page.text
    assert 'id="move-form"' in page.text and f'name="split.{first}"' in page.text
    auditor = sign_in(app, "carol")  # reads the case, is offered no form
    seen = auditor.get(f"/console/cases/{case_id}")
    assert "相似度 93.5" in seen.text and 'id="move-form"' not in seen.text


def test_staff_move_a_signal_to_a_new_case_and_split_one_off(settings, db, web):
    app, _ = web
    case_id, (first, second) = two_signal_case(db)
    third = open_case(db, signal("W3"), actor="staff:t", lang="zh").signal_id
    client = sign_in(app, "alice")
    path = f"/console/cases/{case_id}"
    token = token_of(client, path)
    moved = client.post(f"{path}/move", data={"csrf": token, "signal": str(second),
                                              "destination": "new", "reason": "不同型号的产品"},
                        follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"].endswith("?done=moved")
    with db.read_session() as session:
        new_case = session.get(Signal, second).case_id
        opened = session.exec(select(AuditEvent).where(AuditEvent.case_id == new_case)).one()
    assert new_case != case_id and (opened.action, opened.actor) == ("case.opened", "user:alice")
    page = client.get(f"/console/cases/{new_case}")
    assert f"user:alice 从案件 {case_id} 移入：不同型号的产品" in page.text
    split = client.post(f"{path}/split", data={"csrf": token, f"split.{third}": "on",
                                               "reason": "另一批次，单独评估"},
                        follow_redirects=False)
    assert split.status_code == 303
    assert [r.id for r in store.load_dossier(db, case_id).signal_rows] == [first]
    assert audit.verify(db, settings.home).ok


def test_a_refused_move_shows_its_error_beside_the_field_in_chinese(settings, db, web):
    app, started = web
    case_id, (first, second) = two_signal_case(db)
    client = sign_in(app, "alice")
    path = f"/console/cases/{case_id}"
    token = token_of(client, path)
    no_reason = client.post(f"{path}/move", data={"csrf": token, "signal": str(second),
                                                  "destination": "new", "reason": " "})
    assert no_reason.status_code == 422
    assert errors_of(no_reason.text) == {"reason": "请说明理由（至少 4 个字）"}
    no_case = client.post(f"{path}/move", data={"csrf": token, "signal": str(second),
                                                "destination": "case", "to": "",
                                                "reason": "同一产品"})
    assert errors_of(no_case.text) == {"to": "请填写目标案件编号"}
    unknown = client.post(f"{path}/move", data={"csrf": token, "signal": str(second),
                                                "destination": "case", "to": "RG-NOPE",
                                                "reason": "同一产品"})
    assert errors_of(unknown.text) == {"to": "没有案件 RG-NOPE"}
    nothing = client.post(f"{path}/split", data={"csrf": token, "reason": "拆分出去"})
    assert errors_of(nothing.text) == {"signals": "请在上表勾选要拆分出去的风险信息"}
    everything = client.post(f"{path}/split", data={"csrf": token, f"split.{first}": "on",
                                                    f"split.{second}": "on",
                                                    "reason": "拆分出去"})
    assert everything.status_code == 422 and "至少须保留一条风险信息" in \
        errors_of(everything.text)["signals"]
    # a signal of another case, posted from this case's page
    other = open_case(db, signal("O1", model="X-9"), actor="staff:t", lang="zh").signal_id
    elsewhere = client.post(f"{path}/move", data={"csrf": token, "signal": str(other),
                                                  "destination": "new", "reason": "同一产品"})
    assert errors_of(elsewhere.text) == {"signal": f"风险信息 {other} 不在案件 {case_id} 中"}
    assert [r.id for r in store.load_dossier(db, case_id).signal_rows] == [first, second]
    assert not started


def test_a_case_past_triage_is_refused_with_the_reason(settings, db, web, roster):
    app, _ = web
    case_id, (_, second) = two_signal_case(db)
    vague = sample_signal(reference="vague-web")
    vague = vague.model_copy(update={"product": vague.product.model_copy(update={"name": ""})})
    info = open_case(db, vague, actor="staff:t", lang="zh").case_id
    assert gates.advance(settings, info).state == "awaiting_information"
    client = sign_in(app, "alice")
    path = f"/console/cases/{case_id}"
    token = token_of(client, path)
    back = client.post(f"{path}/move", data={"csrf": token, "signal": str(second),
                                             "destination": "case", "to": info,
                                             "reason": "同一产品的补充"}, follow_redirects=False)
    assert back.status_code == 303
    _, started = web
    assert [c.key for c in started] == [f"{info}:triage:r2"]  # back to triage, its run owed
    gates.advance(settings, info)
    assert store.get_case(db, info).gate != "triage"
    refused = client.post(f"/console/cases/{info}/split", data={
        "csrf": token, f"split.{second}": "on", "reason": "拆分出去"})
    assert refused.status_code == 409 and "只有处于受理或分诊环节的案件" in refused.text
