"""Staff, an approver and an auditor in a real headless browser (Debian's Chromium through
Playwright) against a running web app (`riskgate web`) and a real Prefect server and runner.

Staff signs in and opens a case by uploading a signal file; its flow runs to the panel; the
panel scores through the expert portal's own pages (simulated experts posting the form over
HTTP); an approver signs in and overrides one measure with a justification; staff complete the
follow-up actions from the case page; the case closes through its flow runs; an auditor signs
in, sees the closure report verified and downloads it. Screenshots of the console, the case
page and the auditor view (zh) are written to docs/ (console-*.png)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import httpx
import pytest

from flows.demo_staff import sample_update
from tests.conftest import REPO, SAMPLES
from tests.flows.test_prefect_e2e import Stack, free_port
from tests.helpers import wait_until_answers
from tests.web.test_browser import CHROMIUM, DOCS, _browser_available

pytestmark = pytest.mark.prefect
PASSWORD = "correct horse battery"
PEOPLE = {"wang": "staff", "zhao": "approver", "sun": "auditor"}


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory):
    if not _browser_available():
        import os

        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is missing (.ci/run installs it)")
        pytest.skip("chromium not installed")
    running = Stack(tmp_path_factory.mktemp("console") / "home", free_port())
    web_port = free_port()
    running.env.update({"RISKGATE_WEB_PORT": str(web_port)})
    running.cli("server", "start", timeout=240)
    running.add_people()
    running.cli("experts", "seed")
    for name, role in PEOPLE.items():  # the password on stdin, as an admin would give it
        added = subprocess.run([sys.executable, "-m", "flows.cli", "users", "add", name,
                                "--role", role, "--password-stdin"], input=PASSWORD + "\n",
                               env=running.env, cwd=REPO, capture_output=True, text=True,
                               timeout=60)
        assert added.returncode == 0, added.stderr
    web = subprocess.Popen([sys.executable, "-m", "flows.cli", "web"], env=running.env,
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{web_port}"
    wait_until_answers(f"{url}/healthz", web, "the web app", 60)
    yield running, url
    web.terminate()
    web.wait(timeout=20)
    running.cli("server", "stop", check=False)


def sign_in(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(f"{url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    return page


def expert_scores(stack: Stack, url: str, case_id: str, experts: list[str]) -> None:
    """Each expert opens their personal link and posts the score form, over HTTP: the portal's
    own pages and code path."""
    for expert in experts:
        link = stack.json("experts", "link", "--case", case_id, "--expert", expert)["url"]
        with httpx.Client(base_url=url, follow_redirects=True, timeout=30) as client:
            page = client.get(link.removeprefix(url))
            assert page.status_code == 200, page.text[:300]
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            posted = client.post(f"/cases/{case_id}/score", data={
                "csrf": token, "round": "1", "s1_severity": "4", "s1_probability": "1/50",
                "rank_recall": "1", "rank_delisting": "2", "rank_consumer_warning": "3",
                "rationale": "小珠子可致婴幼儿气道阻塞", "action": "submit"})
            assert posted.status_code == 200 and 'id="saved"' in posted.text


def test_staff_approver_and_auditor_take_a_case_from_signal_to_verified_closure(console_stack,
                                                                                tmp_path):
    from playwright.sync_api import sync_playwright

    stack, url = console_stack
    signal = json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8"))
    signal["reference"] = signal["product"]["model"] = "BROWSER-CONSOLE-1"
    upload = tmp_path / "signal.json"
    upload.write_text(json.dumps(signal, ensure_ascii=False), encoding="utf-8")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        staff = sign_in(browser, url, "wang")
        assert staff.url == f"{url}/console"
        staff.click("#open-case")
        staff.set_input_files("#signal_file", str(upload))
        assert staff.is_checked("#launch")
        staff.click("#open-button")
        staff.wait_for_selector("#done")
        case_id = re.search(r"/console/cases/(RG-[0-9A-Z-]+)", staff.url).group(1)
        assert "案件已受理，流程已启动" in staff.inner_text("#done")

        shown = stack.wait_for(case_id, "awaiting_scores", timeout=120)
        voting = sorted(p["expert_id"] for p in shown["panel"] if p["role"] != "reserve")
        staff.goto(f"{url}/console")
        assert case_id in staff.inner_text("#panels")  # who has not answered
        staff.screenshot(path=str(DOCS / "console-dashboard.png"), full_page=True)
        expert_scores(stack, url, case_id, voting[:4])
        stack.wait_for(case_id, "awaiting_approval", timeout=120)

        approver = sign_in(browser, url, "zhao")
        approver.goto(f"{url}/console/cases/{case_id}")
        proposed = approver.inner_text("#proposal")
        assert "产品召回" in proposed and "产品退市" in proposed
        approver.select_option("#rank_delisting", "")  # the override removes the delisting
        approver.click("#override-button")
        assert approver.is_visible("#error-justification")  # nothing stored without it
        assert stack.json("disposal", "show", case_id)["status"] == "pending"
        approver.select_option("#rank_delisting", "")
        approver.fill("#justification", "产品已全部下架，无需再责令退市；以召回和警示为主")
        approver.click("#override-button")
        approver.wait_for_selector("#done")
        decided = stack.json("disposal", "show", case_id)
        assert decided["status"] == "overridden" and "delisting" not in decided["measures"]
        assert decided["decided_by"] == "user:zhao"

        stack.wait_for(case_id, "awaiting_actions", timeout=120)
        staff.goto(f"{url}/console/cases/{case_id}")
        actions = json.loads(stack.cli("follow-up", "list", case_id, "--json").stdout)
        staff.screenshot(path=str(DOCS / "console-case.png"), full_page=True)
        for action in actions:
            number = action["number"]
            update = sample_update(action["measure"], "zh")
            for name, value in update["progress"].items():
                staff.fill(f"#a{number}-{name}", value)
            staff.select_option(f"#a{number}-status", "completed")
            staff.fill(f"#a{number}-outcome", update["outcome"])
            staff.click(f"#a{number}-save")
            staff.wait_for_selector("#done")
        closed = stack.wait_for(case_id, "closed", timeout=120)
        assert [r["gate"] for r in closed["reports"]][-1] == "closure"

        auditor = sign_in(browser, url, "sun")
        assert auditor.url == f"{url}/audit"
        auditor.click("#verify-button")  # a background job; its result shows when done
        for _ in range(120):
            if "全部一致" in auditor.inner_text("#runs"):
                break
            auditor.wait_for_timeout(500)
            auditor.goto(f"{url}/audit")
        assert "全部一致" in auditor.inner_text("#runs")
        auditor.goto(f"{url}/audit/cases/{case_id}")
        closure = auditor.locator('tr.report-status[data-gate="closure"]')
        assert "已验证" in closure.inner_text()
        auditor.screenshot(path=str(DOCS / "console-auditor.png"), full_page=True)
        with auditor.expect_download() as download:
            closure.locator("a.report-link").click()
        saved = tmp_path / "closure.docx"
        download.value.save_as(saved)
        browser.close()

    manifest = next(r for r in closed["reports"] if r["gate"] == "closure")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == manifest["sha256"]
    assert stack.json("audit", "verify")["ok"]
