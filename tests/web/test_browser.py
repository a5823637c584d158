"""The expert's main path in a real headless browser (Debian's Chromium through Playwright)
against a running portal (`riskgate web`) and a real Prefect server and runner: the expert opens
the link they were e-mailed, fills the form with an error, sees it beside the field, corrects
it and submits; the quorum is in, and the case moves on through the real flow to closure.

Screenshots of the dossier and the form (zh) are written to docs/ (portal-*.png)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from experts.roster import DEMO_ROSTER, load_roster
from tests.conftest import REPO
from tests.flows.test_prefect_e2e import Stack, free_port, open_sample, score, voting_panel
from tests.helpers import wait_until_answers

pytestmark = pytest.mark.prefect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = REPO / "docs"


def _browser_available() -> bool:
    return Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
def portal_stack(tmp_path_factory):
    if not _browser_available():
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is missing (.ci/run installs it)")
        pytest.skip("chromium not installed")
    running = Stack(tmp_path_factory.mktemp("portal") / "home", free_port())
    web_port = free_port()
    running.env.update({"RISKGATE_WEB_PORT": str(web_port)})
    running.cli("server", "start", timeout=240)
    running.add_people()
    running.cli("experts", "seed")
    web = subprocess.Popen([sys.executable, "-m", "flows.cli", "web"], env=running.env,
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{web_port}"
    wait_until_answers(f"{url}/healthz", web, "the portal", 60)
    yield running, url
    web.terminate()
    web.wait(timeout=20)
    running.cli("server", "stop", check=False)


def mailed_link(home: Path, address: str) -> str:
    """The link in the invitation mailed to an address (written to files: no SMTP set)."""
    for path in sorted((home / "mail").glob("*-seated.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == address:
            return next(w for w in message.get_content().split() if "/e/" in w)
    raise AssertionError(f"no invitation mailed to {address}: "
                         f"{sorted(p.name for p in (home / 'mail').glob('*'))}")


def test_an_expert_scores_in_the_browser_and_the_case_moves_on_through_the_flow(portal_stack):
    from playwright.sync_api import sync_playwright

    stack, url = portal_stack
    case_id = open_sample(stack, "browser-1")
    waiting = stack.json("case", "run", case_id)
    assert waiting["state"] == "awaiting_scores"
    voting = voting_panel(waiting)
    for expert in voting[:3]:
        score(stack, case_id, expert)
    stack.cli("sweep")  # delivers the mail outbox (the served sweeper does it every minute)
    person = voting[3]
    emails = {e.id: e.email for e in load_roster(DEMO_ROSTER)}
    link = mailed_link(stack.home, emails[person])
    assert link.startswith(f"{url}/e/")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="zh-CN")
        page.goto(link)
        assert page.url == f"{url}/cases/{case_id}"  # the token left the address bar
        assert page.locator("#dossier").is_visible() and page.locator("#triage").count() == 1
        page.screenshot(path=str(DOCS / "portal-dossier.png"), full_page=False)

        page.check("#s1_severity_4")
        page.fill("#s1_probability", "2")  # not a probability
        page.select_option("#rank_recall", "1")
        page.select_option("#rank_consumer_warning", "2")
        page.fill("#rationale", "小珠子可致婴幼儿气道阻塞")
        page.click("#submit-button")
        error = page.locator("#error-s1_probability")
        assert error.is_visible(), page.content()[:3000]
        assert error.inner_text() == "概率必须在 0 与 1 之间（大于 0，不超过 1）"
        assert page.input_value("#rationale") == "小珠子可致婴幼儿气道阻塞"  # kept
        page.locator("#score").screenshot(path=str(DOCS / "portal-form-error.png"))
        shown = stack.json("case", "show", case_id)
        assert shown["state"] == "awaiting_scores"  # nothing stored from the bad form

        page.fill("#s1_probability", "1/50")
        page.click("#submit-button")
        page.wait_for_selector("#saved")
        assert "已达到法定人数" in page.inner_text("#saved")
        browser.close()

    closed = stack.approve_and_follow_up(case_id, timeout=120)
    assert closed["risk_level"] == "serious" and "recall" in closed["measures"]
    keys = [r["idempotency_key"].removeprefix(f"{case_id}:") for r in stack.runs_of(case_id)]
    assert keys == ["launch", "scores:r1", "disposal:decided", "follow_up:done"]
    assert stack.json("audit", "verify")["ok"]
