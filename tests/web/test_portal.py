"""The expert portal over HTTP, in-process: links, sessions, authorisation, CSRF, the score form
(validation beside the field, revisions, blindness), the quorum hand-over and conflicts.

The case is run to its panel by the real gates (no Prefect: the continuation a closed round
owes is recorded by the test's starter; the browser test runs it through Prefect)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from cases import links, store
from cases.models import MailMessage, PanelSeat, Score, utcnow
from flows import gates
from flows.web.app import COOKIE, create_app
from tests.helpers import open_archetype

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def portal(settings, db, roster):
    """A case waiting for scores, the app, and what it asked to start."""
    case_id, _ = open_archetype(db, "toy_choking")
    assert gates.advance(settings, case_id).state == "awaiting_scores"
    started: list = []
    app = create_app(settings, start=lambda s, claim: started.append(claim))
    return case_id, app, started


def seats(db, case_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"chair": [], "member": [], "reserve": []}
    for seat in store.load_dossier(db, case_id).seats:
        if seat.active:
            found[seat.role].append(seat.expert_id)
    return found


def voters(db, case_id: str) -> list[str]:
    s = seats(db, case_id)
    return sorted(s["chair"] + s["member"])


def client_for(settings, db, app, expert_id: str, case_id: str | None) -> TestClient:
    """A browser of the expert that opened their personal link."""
    client = TestClient(app, base_url=BASE)
    link = links.create_link(db, settings, expert_id=expert_id, case_id=case_id, by="test")
    opened = client.get(link.url.removeprefix(settings.public_url), follow_redirects=False)
    assert opened.status_code == 303, opened.text
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def valid_form(token: str, **changes) -> dict:
    form = {"csrf": token, "round": "1", "s1_severity": "3", "s1_band": "> 1/100",
            "rank_recall": "1",
            "rank_consumer_warning": "2", "rationale": "小零件易脱落，幼儿可吞咽窒息",
            "confidence": "4", "action": "submit"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def score_rows(db, case_id: str) -> list[Score]:
    with db.read_session() as session:
        return list(session.exec(select(Score).where(Score.case_id == case_id)).all())


def test_a_personal_link_opens_a_session_in_an_httponly_cookie_and_leaves_the_address_bar(
        settings, db, portal):
    case_id, app, _ = portal
    expert = voters(db, case_id)[0]
    client = TestClient(app, base_url=BASE)
    link = links.create_link(db, settings, expert_id=expert, case_id=case_id, by="test")
    assert link.url.startswith(f"{settings.public_url}/e/")
    opened = client.get(link.url.removeprefix(settings.public_url), follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/cases/{case_id}"
    cookie = opened.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and case_id in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == \
        "no-store"
    assert "伤害严重程度" in page.text and "Severity of injury" not in page.text  # zh default


@pytest.mark.parametrize("how", ["tampered", "expired", "revoked", "garbage"])
def test_a_bad_link_is_refused_and_opens_nothing(settings, db, portal, how):
    case_id, app, _ = portal
    expert = voters(db, case_id)[0]
    client = TestClient(app, base_url=BASE)
    if how == "expired":
        with db.session() as session:
            link = links.create(session, settings, expert_id=expert, case_id=case_id,
                                by="test", days=1, now=utcnow() - timedelta(days=2))
    else:
        link = links.create_link(db, settings, expert_id=expert, case_id=case_id, by="test")
    path = link.url.removeprefix(settings.public_url)
    if how == "tampered":  # another link id under the same signature
        path = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    if how == "garbage":
        path = "/e/" + "x" * 300
    if how == "revoked":
        assert links.revoke(db, by="staff:test", link_id=link.id) == (1, 0)
    refused = client.get(path, follow_redirects=False)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    expected = {"tampered": "不是 RiskGate 签发的", "garbage": "不是 RiskGate 签发的",
                "expired": "已过期", "revoked": "已被撤销"}[how]
    assert expected in refused.text
    assert client.get("/").status_code == 401


def test_revoking_an_experts_links_ends_their_open_sessions(settings, db, portal):
    case_id, app, _ = portal
    expert = voters(db, case_id)[0]
    client = client_for(settings, db, app, expert, case_id)
    assert client.get("/").status_code == 200
    revoked, ended = links.revoke(db, by="staff:test", expert_id=expert)
    assert (revoked, ended) == (2, 1)  # the link mailed when seated, and this one
    assert client.get("/").status_code == 401
    assert client.get(f"/cases/{case_id}").status_code == 401


def test_without_a_session_every_route_refuses(settings, db, portal):
    case_id, app, _ = portal
    client = TestClient(app, base_url=BASE)
    for path in ("/", f"/cases/{case_id}"):
        assert client.get(path).status_code == 401
    for path in (f"/cases/{case_id}/score", f"/cases/{case_id}/conflict", "/lang"):
        assert client.post(path, data={"csrf": "x"}).status_code == 401
    client.cookies.set(COOKIE, "forged-session-token")
    assert client.get("/").status_code == 401
    assert score_rows(db, case_id) == []


def test_an_expert_reaches_only_their_own_assignments(settings, db, roster, portal):
    case_id, app, _ = portal
    panel = seats(db, case_id)
    reserve = panel["reserve"][0]
    outsider = next(e.id for e in store.roster(db)
                    if e.id not in voters(db, case_id) + panel["reserve"])
    other_case, _ = open_archetype(db, "toy_choking", tag="other")
    for expert in (reserve, outsider):
        client = client_for(settings, db, app, expert, None)
        assert client.get(f"/cases/{case_id}").status_code == 404
        assert client.get(f"/cases/{other_case}").status_code == 404
        assert client.get("/cases/NO-SUCH-CASE").status_code == 404
        token = csrf(client.get("/").text)
        assert client.post(f"/cases/{case_id}/score", data=valid_form(token)).status_code == 404
        assert client.post(f"/cases/{case_id}/conflict",
                           data={"csrf": token, "reason": "我与该企业有关"}).status_code == 404
    listing = client_for(settings, db, app, reserve, None).get("/").text
    assert case_id in listing and "候补" in listing and f'href="/cases/{case_id}"' not in listing
    assert score_rows(db, case_id) == []
    assert seats(db, case_id) == panel


def test_every_post_needs_the_sessions_csrf_token_and_this_portals_origin(settings, db, portal):
    case_id, app, _ = portal
    expert = voters(db, case_id)[0]
    client = client_for(settings, db, app, expert, case_id)
    token = csrf(client.get(f"/cases/{case_id}").text)
    assert client.post(f"/cases/{case_id}/score", data=valid_form("")).status_code == 403
    assert client.post(f"/cases/{case_id}/score",
                       data=valid_form(token[:-1] + "x")).status_code == 403
    assert client.post(f"/cases/{case_id}/score", data=valid_form(token),
                       headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post(f"/cases/{case_id}/conflict",
                       data={"reason": "我与该企业有关"}).status_code == 403
    assert client.post("/lang", data={"lang": "en"}).status_code == 403
    assert score_rows(db, case_id) == [] and expert in voters(db, case_id)
    done = client.post(f"/cases/{case_id}/score", data=valid_form(token),
                       headers={"Origin": BASE}, follow_redirects=False)
    assert done.status_code == 303


def test_invalid_input_is_shown_beside_its_field_in_the_pages_language_and_nothing_is_stored(
        settings, db, portal):
    case_id, app, _ = portal
    client = client_for(settings, db, app, voters(db, case_id)[0], case_id)
    token = csrf(client.get(f"/cases/{case_id}").text)
    bad = valid_form(token, s1_severity="9", s1_band=None, s1_probability="2",
                     rank_recall="1", rank_consumer_warning="1", rationale="")
    page = client.post(f"/cases/{case_id}/score", data=bad)
    assert page.status_code == 422
    errors = dict(re.findall(r'id="error-([a-z0-9_]+)" role="alert">([^<]+)<', page.text))
    assert set(errors) == {"s1_severity", "s1_probability", "measures", "rationale"}
    assert errors["s1_probability"] == "概率必须在 0 与 1 之间（大于 0，不超过 1）"
    assert errors["measures"] == "两项措施的名次相同，请给每项不同的名次"
    assert 'value="2"' in page.text  # what was typed is kept
    assert score_rows(db, case_id) == []
    # the same in English, once asked for
    client.post("/lang", data={"csrf": token, "lang": "en", "next": f"/cases/{case_id}"})
    page = client.post(f"/cases/{case_id}/score", data=bad)
    errors = dict(re.findall(r'id="error-([a-z0-9_]+)" role="alert">([^<]+)<', page.text))
    assert errors["s1_probability"] == "The probability must be above 0 and at most 1"
    assert errors["rationale"].startswith("The rationale is required")
    both = client.post(f"/cases/{case_id}/score",
                       data=valid_form(token, s1_probability="1/50"))
    assert "Use one way only" in both.text and score_rows(db, case_id) == []


def test_preview_shows_the_risk_level_from_the_matrix_and_stores_nothing(settings, db, portal):
    case_id, app, _ = portal
    client = client_for(settings, db, app, voters(db, case_id)[0], case_id)
    token = csrf(client.get(f"/cases/{case_id}").text)
    page = client.post(f"/cases/{case_id}/score", data=valid_form(
        token, s1_band=None, s1_steps="1/10\n1/2\n1/5", action="preview"))
    # 1/10 × 1/2 × 1/5 = 1/100: band "> 1/1 000"; severity 3 there is serious
    assert page.status_code == 200 and 'id="preview"' in page.text and "严重风险" in page.text
    assert score_rows(db, case_id) == []


def test_a_score_is_stored_revised_with_every_version_kept_and_an_identical_one_changes_nothing(
        settings, db, portal):
    case_id, app, started = portal
    client = client_for(settings, db, app, voters(db, case_id)[0], case_id)
    token = csrf(client.get(f"/cases/{case_id}").text)
    first = client.post(f"/cases/{case_id}/score", data=valid_form(token),
                        follow_redirects=False)
    assert first.headers["location"] == f"/cases/{case_id}?saved=new"
    assert "第 1 版" in client.get(first.headers["location"]).text
    revised = client.post(f"/cases/{case_id}/score", data=valid_form(token, s1_severity="4"),
                          follow_redirects=False)
    assert revised.headers["location"].endswith("saved=revised")
    same = client.post(f"/cases/{case_id}/score", data=valid_form(token, s1_severity="4"),
                       follow_redirects=False)
    assert same.headers["location"].endswith("saved=unchanged")
    rows = sorted(score_rows(db, case_id), key=lambda s: s.version)
    assert [(r.version, r.severity) for r in rows] == [(1, 3), (2, 4)]
    page = client.get(f"/cases/{case_id}").text
    assert 'id="versions"' in page and "第 2 版" in page
    assert 'value="4" checked' in page.replace("\n", " ") or 's1_severity_4" value="4" checked' \
        in page
    assert started == []


def test_nobody_sees_another_experts_score_in_an_open_round_through_any_route(
        settings, db, portal):
    case_id, app, _ = portal
    first, second = voters(db, case_id)[:2]
    secret = "只有第一位专家知道的理由XYZ"
    author = client_for(settings, db, app, first, case_id)
    token = csrf(author.get(f"/cases/{case_id}").text)
    assert author.post(f"/cases/{case_id}/score", data=valid_form(
        token, rationale=secret, s1_probability="1/777", s1_band=None),
        follow_redirects=False).status_code == 303
    reader = client_for(settings, db, app, second, case_id)
    token = csrf(reader.get("/").text)
    seen = [reader.get(path).text for path in ("/", f"/cases/{case_id}",
                                               f"/cases/{case_id}?saved=new")]
    seen.append(reader.post(f"/cases/{case_id}/score",
                            data=valid_form(token, action="preview")).text)
    seen.append(reader.post(f"/cases/{case_id}/score",
                            data=valid_form(token, rationale="")).text)
    for text in seen:
        assert secret not in text and "1/777" not in text and "第 1 版" not in text


def test_the_quorum_closes_the_round_and_hands_over_once_and_a_late_score_changes_nothing(
        settings, db, portal):
    case_id, app, started = portal
    panel = voters(db, case_id)
    for i, expert in enumerate(panel):
        client = client_for(settings, db, app, expert, case_id)
        token = csrf(client.get(f"/cases/{case_id}").text)
        done = client.post(f"/cases/{case_id}/score", data=valid_form(token),
                           follow_redirects=False)
        if i < 4:  # the protocol's quorum is 4 of 5
            assert done.status_code == 303
        else:
            assert done.status_code == 409 and "未能保存" in done.text
    assert len(started) == 1 and started[0].claimed and started[0].case_id == case_id
    assert store.get_case(db, case_id).state == "active"
    assert len(score_rows(db, case_id)) == 4


def test_declaring_a_conflict_gives_the_seat_to_a_reserve_who_is_mailed(settings, db, portal):
    case_id, app, _ = portal
    before = seats(db, case_id)
    expert, reserve = before["member"][0], before["reserve"][0]
    client = client_for(settings, db, app, expert, case_id)
    token = csrf(client.get(f"/cases/{case_id}").text)
    short = client.post(f"/cases/{case_id}/conflict", data={"csrf": token, "reason": "x"})
    assert short.status_code == 422 and seats(db, case_id) == before
    done = client.post(f"/cases/{case_id}/conflict",
                       data={"csrf": token, "reason": "我曾任该企业技术顾问（2024 年）"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/?conflict={case_id}"
    after = seats(db, case_id)
    assert expert not in after["member"] and reserve in after["member"]
    with db.read_session() as session:
        left = session.exec(select(PanelSeat).where(PanelSeat.case_id == case_id,
                                                    PanelSeat.expert_id == expert)).one()
        mails = session.exec(select(MailMessage).where(MailMessage.case_id == case_id,
                                                       MailMessage.kind == "reserve_called"))
        mails = list(mails.all())
    assert not left.active and "技术顾问" in left.left_reason
    assert [m.expert_id for m in mails] == [reserve] and "/e/" in mails[0].body
    assert client.get(f"/cases/{case_id}").status_code == 404
    assert "已退出：申报利益冲突（" in client.get("/").text and "技术顾问" in client.get("/").text
    assert (Path(settings.home) / "mail").is_dir()  # delivered to files: no SMTP configured
    called = client_for(settings, db, app, reserve, case_id)
    assert called.get(f"/cases/{case_id}").status_code == 200


def test_every_refusal_the_form_can_raise_is_translated_in_both_languages():
    from flows.web.views import locale

    source = (Path(__file__).parents[2] / "experts" / "scoring.py").read_text()
    types = set(re.findall(r'PydanticCustomError\(\s*(?:f?)"([a-z_{}.]+)"', source))
    types = {t for t in types if "{" not in t}
    types |= {f"probability_{c}" for c in ("empty", "band", "unreadable", "zero", "range")}
    assert len(types) > 15
    for lang in ("zh", "en"):
        keys = locale(lang).keys()
        missing = {t for t in types if f"error.{t}" not in keys}
        assert not missing, (lang, missing)


def test_a_form_loaded_in_round_one_and_posted_after_round_two_opened_is_refused(
        settings, db, portal):
    """The form names the round it answers: a late round-1 answer is never stored as a score
    for round 2, whose feedback its expert has not seen."""
    from cases.submissions import record_score
    from experts.scoring import ScoreForm

    case_id, app, _ = portal
    panel = voters(db, case_id)
    late = client_for(settings, db, app, panel[-1], case_id)
    page = late.get(f"/cases/{case_id}").text
    assert 'name="round" value="1"' in page
    far_apart = [(4, "> 1/2"), (1, "≤ 1/1 000 000"), (4, "> 1/10"), (1, "> 1/1 000 000")]
    for expert, (severity, band) in zip(panel[:4], far_apart, strict=True):  # no consensus
        form = ScoreForm.model_validate({"severity": severity, "probability": band,
                                         "measures": ["recall"], "rationale": "split panel"})
        record_score(db, case_id, expert, 1, form.to_record(), actor="t")
    gates.advance(settings, case_id)
    assert store.get_case(db, case_id).scoring_round == 2
    before = len(score_rows(db, case_id))
    refused = late.post(f"/cases/{case_id}/score", data=valid_form(csrf(page)))
    assert refused.status_code == 409 and "round 1 is closed; the open round is 2" in \
        refused.text
    missing = late.post(f"/cases/{case_id}/score", data=valid_form(csrf(page), round=None))
    assert missing.status_code == 409 and "未注明所答的评分轮次" in missing.text
    assert len(score_rows(db, case_id)) == before
