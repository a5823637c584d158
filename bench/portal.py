"""Score submissions through the expert portal under load, against a bare FastAPI endpoint of
the same shape measured in the same run.

The portal runs under uvicorn in a child process on a fresh store (SQLite by default, or
--database-url); 50 simulated experts, each with their own browser session (opened from a
personal link), post the score form concurrently over loopback: valid forms (each a new
version) and, one in four, an invalid one (refused with 422, nothing stored). Per case only
three of its five voting experts take part, so no round reaches its quorum and every valid post
is a stored version. The baseline is a bare FastAPI app under uvicorn that reads the same form
and answers 303, driven by the same 50 clients in the same pattern.

Every expert opens their link first; the posting starts once all are signed in, so the
sign-in burst (page renders) is not counted as submission latency. Each expert pauses
`--think-s` (default 2 s) between posts: 50 experts then offer about 25
posts a second, a morning's rush of a whole panel pool at once. `--think-s 0` posts back to
back and measures saturation instead (latency is then queueing: 50 / throughput).

    python bench/portal.py [--experts 50] [--posts 8] [--think-s 2]

Last line: one JSON object with submit_p95_ms, baseline_p95_ms, ratio, lost, duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PORTAL_SERVER = '''
import sys, uvicorn
from cases.config import load_settings
from flows.web.app import create_app
app = create_app(load_settings(), start=lambda settings, claim: None)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
'''

BARE_SERVER = '''
import sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
app = FastAPI()
FORM = '<form><input type="hidden" name="csrf" value="bare-token"></form>'
@app.get("/e/{token}")
def opened(token: str):
    return RedirectResponse("/cases/c", status_code=303)
@app.get("/cases/{case_id}")
def case(case_id: str):
    return HTMLResponse(FORM)
@app.post("/cases/{case_id}/score")
async def score(case_id: str, request: Request):
    form = await request.form()
    if not form.get("rationale"):
        return HTMLResponse("invalid", status_code=422)
    return RedirectResponse(f"/cases/{case_id}?saved=new", status_code=303)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(experts: int) -> tuple[list[tuple[str, str, str]], object]:
    """Cases waiting for scores and one personal link per simulated expert."""
    from cases import links, store
    from cases.config import load_settings
    from cases.db import database
    from cases.intake import open_case
    from experts.panel import ExpertProfile
    from flows import gates
    from tests.helpers import sample_signal

    settings = load_settings()
    db = database(settings.database_url)
    roster = [ExpertProfile(id=f"B{i:03d}", name=f"Bench expert {i}", affiliation=f"Lab {i}",
                            seniority=5 + i % 20, categories=("toys",),
                            hazards=("choking",), email=f"b{i}@bench.example")
              for i in range(60)]
    store.upsert_experts(db, roster, actor="bench")
    invites: list[tuple[str, str, str]] = []
    number = 0
    while len(invites) < experts:
        signal = sample_signal(reference=f"bench-{number}")
        signal = signal.model_copy(update={"product": signal.product.model_copy(
            update={"model": f"B-{number}"})})
        number += 1
        case_id = open_case(db, signal, actor="staff:bench", lang="zh").case_id
        if gates.advance(settings, case_id).state != "awaiting_scores":
            raise SystemExit(f"bench case {case_id} did not reach its panel")
        voting = sorted(s.expert_id for s in store.load_dossier(db, case_id).voting_seats())
        for expert_id in voting[:3]:  # below the quorum of 4: every valid post is stored
            link = links.create_link(db, settings, expert_id=expert_id, case_id=case_id,
                                     by="bench")
            invites.append((case_id, expert_id, link.url.removeprefix(settings.public_url)))
    return invites[:experts], db


def form(csrf: str, version: int, valid: bool) -> dict[str, str]:
    return {"csrf": csrf, "round": "1", "s1_severity": str(1 + version % 4),
            "s1_band": "> 1/100", "rank_recall": "1", "rank_consumer_warning": "2",
            "confidence": "3",
            "rationale": f"第 {version} 版：小零件可致窒息" if valid else "", "action": "submit"}


async def sign_in(client: httpx.AsyncClient, path: str) -> str:
    """Open the personal link (a session cookie) and read the form's CSRF token."""
    page = await client.get(path, follow_redirects=True)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


async def expert(client: httpx.AsyncClient, csrf: str, case_id: str, posts: int,
                 latencies: list[float], outcome: dict[str, int], think: float,
                 index: int) -> int:
    """One expert's posts; returns how many valid posts were answered as stored (303)."""
    stored = 0
    await asyncio.sleep(think * (index % 10) / 10)  # experts do not all start at once
    for i in range(posts):
        valid = i % 4 != 3
        started = time.perf_counter()
        answer = await client.post(f"/cases/{case_id}/score", data=form(csrf, i, valid),
                                   headers={"Origin": str(client.base_url).rstrip("/")})
        elapsed = (time.perf_counter() - started) * 1000
        if valid:
            latencies.append(elapsed)
            stored += answer.status_code == 303
        outcome[str(answer.status_code)] = outcome.get(str(answer.status_code), 0) + 1
        await asyncio.sleep(think)
    return stored


async def load(base: str, invites: list[tuple[str, str, str]], posts: int,
               think: float) -> dict:
    """Every expert signs in first (a burst of page loads that is not what is measured),
    then all post concurrently."""
    latencies: list[float] = []
    outcome: dict[str, int] = {}
    clients = [httpx.AsyncClient(base_url=base, timeout=60) for _ in invites]
    try:
        tokens = await asyncio.gather(*(sign_in(client, path)
                                        for client, (_, _, path) in zip(clients, invites,
                                                                       strict=True)))
        started = time.perf_counter()
        stored = await asyncio.gather(*(
            expert(client, csrf, case_id, posts, latencies, outcome, think, i)
            for i, (client, csrf, (case_id, _, _)) in enumerate(
                zip(clients, tokens, invites, strict=True))))
        wall = time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()
    return {"latencies": latencies, "outcome": outcome, "stored": list(stored), "wall": wall}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def serve(code: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", code, str(port)], env=env, cwd=REPO)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/cases/x", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("a bench server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=50)
    parser.add_argument("--posts", type=int, default=8)
    parser.add_argument("--think-s", type=float, default=2.0,
                        help="Each expert's pause between posts (0: back to back).")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="riskgate-bench-portal-"))
    os.environ["RISKGATE_HOME"] = str(home)
    if args.database_url:
        os.environ["RISKGATE_DATABASE_URL"] = args.database_url
    invites, db = prepare(args.experts)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    port = free_port()
    bare = serve(BARE_SERVER, port, env)
    try:
        baseline = asyncio.run(load(f"http://127.0.0.1:{port}",
                                    [(c, e, "/e/x") for c, e, _ in invites], args.posts,
                                    args.think_s))
    finally:
        bare.terminate()
        bare.wait()

    port = free_port()
    os.environ["RISKGATE_WEB_PORT"] = str(port)
    env["RISKGATE_WEB_PORT"] = str(port)
    env["RISKGATE_WEB_URL"] = f"http://127.0.0.1:{port}"
    portal = serve(PORTAL_SERVER, port, env)
    try:
        measured = asyncio.run(load(f"http://127.0.0.1:{port}", invites, args.posts,
                                    args.think_s))
    finally:
        portal.terminate()
        portal.wait()

    from sqlmodel import func, select

    from cases.models import Score

    expected = sum(measured["stored"])
    with db.read_session() as session:
        stored_rows = session.exec(select(func.count()).select_from(Score)).one()
        distinct = session.exec(select(func.count()).select_from(
            select(Score.case_id, Score.expert_id, Score.version).distinct().subquery())).one()
    valid_posts = len(measured["latencies"])
    figures = {
        "experts": len(invites), "posts_per_expert": args.posts, "think_s": args.think_s,
        "valid_posts": valid_posts, "answers": measured["outcome"],
        "submit_p50_ms": round(statistics.median(measured["latencies"]), 1),
        "submit_p95_ms": round(p95(measured["latencies"]), 1),
        "baseline_p50_ms": round(statistics.median(baseline["latencies"]), 1),
        "baseline_p95_ms": round(p95(baseline["latencies"]), 1),
        "submits_per_s": round(valid_posts / measured["wall"], 1),
        "lost": max(0, valid_posts - stored_rows),
        "duplicated": max(0, stored_rows - distinct) + max(0, stored_rows - expected),
        "store": "postgresql" if args.database_url.startswith("postgresql") else "sqlite",
    }
    figures["ratio"] = round(figures["submit_p95_ms"] / figures["baseline_p95_ms"], 2)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
