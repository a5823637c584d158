"""`riskgate demo` reuses a portal already on the port only if it serves the same store: a
portal left running for another RISKGATE_HOME (another case store) is refused with a clear
error instead of handing out links that lead into the wrong store."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from cases.config import load_settings
from flows.stack import StackError, ensure_web
from tests.conftest import REPO
from tests.flows.test_prefect_e2e import free_port
from tests.helpers import wait_until_answers


@pytest.fixture
def running_portal(tmp_path):
    port = free_port()
    env = {**os.environ, "RISKGATE_HOME": str(tmp_path / "a"), "RISKGATE_WEB_PORT": str(port)}
    env.pop("RISKGATE_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "flows.cli", "db", "upgrade"], env=env, cwd=REPO,
                   check=True, capture_output=True)
    web = subprocess.Popen([sys.executable, "-m", "flows.cli", "web"], env=env, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", web, "the portal", 60)
        yield env
    finally:
        web.terminate()
        web.wait(20)
        # `riskgate web` starts the local Prefect server and runner it hands scores over to
        subprocess.run([sys.executable, "-m", "flows.cli", "server", "stop"], env=env,
                       cwd=REPO, capture_output=True, timeout=60)


def test_the_same_store_reuses_the_portal_another_is_refused(running_portal, tmp_path):
    same = load_settings(running_portal)
    assert ensure_web(same) == "reused"
    other = load_settings({**running_portal, "RISKGATE_HOME": str(tmp_path / "b")})
    with pytest.raises(StackError, match="taken by another portal"):
        ensure_web(other)
    body = httpx.get(f"{same.public_url}/healthz", timeout=5).text
    assert body == f"ok {same.portal_identity()}" and str(tmp_path) not in body
