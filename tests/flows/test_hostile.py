"""What probing as an attacker and as a careless user found, each reproduced: pid files that
pointed at other processes, a data directory readable by everyone, an error log full of
payloads, exit 70 where the contract says 2 or 5, and a few odd arguments."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from cases.config import load_settings
from flows.cli import main
from flows.processes import pid_file, started_at
from tests.conftest import SAMPLES


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return done.value.code, out, err


def one_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def bystander():
    """A process that is not RiskGate's: nothing may signal it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                               start_new_session=True)
    yield process
    process.kill()
    process.wait()


def write_record(settings, name: str, pid: int, **extra) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    pid_file(settings, name).write_text(json.dumps({"pid": pid, **extra}))


def test_a_stale_pid_file_never_makes_server_stop_kill_another_process(capsys, settings,
                                                                       bystander):
    # the pid was reused: same pid, but not the process the file recorded
    write_record(settings, "prefect-server", bystander.pid, started="1", port=4200)
    write_record(settings, "runner", bystander.pid, started=started_at(bystander.pid))
    code, out, _ = run(capsys, "server", "stop")
    assert code == 0 and "nothing was running" in out
    time.sleep(0.2)
    assert bystander.poll() is None  # still alive
    assert not pid_file(settings, "prefect-server").exists()


@pytest.fixture
def our_server_elsewhere(settings):
    """A live process this home's pid file rightly names as its Prefect server, on a port
    other than the one the next command asks for."""
    process = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(120)",
                                "prefect server start"], start_new_session=True)
    time.sleep(0.2)
    write_record(settings, "prefect-server", process.pid, started=started_at(process.pid),
                 port=4999)
    yield process
    process.kill()
    process.wait()


def test_another_port_never_overwrites_the_record_of_a_live_server(capsys, settings,
                                                                   our_server_elsewhere,
                                                                   monkeypatch):
    before = pid_file(settings, "prefect-server").read_text()
    monkeypatch.setenv("RISKGATE_PREFECT_PORT", "4998")
    code, _, err = run(capsys, "server", "start")
    assert code == 5
    assert "this RISKGATE_HOME's Prefect server runs on port 4999, not 4998" in one_line(err)
    monkeypatch.setenv("RISKGATE_PREFECT_PORT", "42x")
    code, _, err = run(capsys, "server", "start")
    assert code == 2 and "RISKGATE_PREFECT_PORT='42x': expected a port number" in one_line(err)
    assert pid_file(settings, "prefect-server").read_text() == before
    assert our_server_elsewhere.poll() is None


def test_the_data_directory_and_the_store_are_the_owners_only(capsys, cli_user, settings):
    settings.home.mkdir(parents=True)
    settings.home.chmod(0o755)  # as an older RiskGate left it
    code, _, _ = run(capsys, "case", "open", str(SAMPLES / "signal.json"))
    assert code == 0
    assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
    if settings.database_url.startswith("sqlite"):
        store = settings.database_url.removeprefix("sqlite:///")
        assert stat.S_IMODE(os.stat(store).st_mode) & 0o077 == 0


def test_the_error_log_keeps_no_payload_and_rotates(capsys, cli_user, settings, monkeypatch):
    from flows.cli import case_cmd

    secret = "患者张三 13812345678 " * 50

    def broken(*_args, **_kw):
        raise ValueError(f"unexpected content {secret}")

    monkeypatch.setattr(case_cmd, "read_signal_file", broken)
    for _ in range(40):
        code, _, err = run(capsys, "case", "open", str(SAMPLES / "signal.json"), "--as",
                           cli_user)
        assert code == 70 and "internal error: ValueError" in one_line(err)
    logs = sorted(load_settings().logs_dir.glob("cli-errors.log*"))
    assert logs and len(logs) <= 4
    text = "".join(p.read_text(encoding="utf-8") for p in logs)
    assert "ValueError" in text and "case_cmd.py" in text  # where, for developers
    assert "13812345678" not in text and "患者" not in text and cli_user not in text
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in logs)


@pytest.mark.parametrize(("content", "message"), [
    ("[" * 100_000 + "]" * 100_000, "JSON nested 100000 deep; at most 64"),
    ('{"reference": ' + "1" * 5000 + "}", "Exceeds the limit (4300 digits)"),
    ('{"channel": NaN}', "NaN is not a number JSON allows"),
    ('{"channel": "complaint_12365", "hazards": ["choking"], "hazards": []}',
     "key 'hazards' appears twice in one object"),
])
def test_hostile_json_is_a_one_line_refusal(capsys, cli_user, db, tmp_path, content, message):
    path = tmp_path / "signal.json"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "case", "open", str(path))
    assert (code, out) == (2, "") and message in one_line(err)


def test_files_that_are_not_files(capsys, cli_user, db, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    run(capsys, "case", "open", str(tmp_path / "missing.json"))  # imports and the store, once
    for path, message in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                          (tmp_path, "is a directory")):
        started = time.monotonic()
        code, _, err = run(capsys, "case", "open", str(path))
        assert code == 2 and message in one_line(err) and time.monotonic() - started < 5
    latin = tmp_path / "case.json"
    latin.write_bytes(b"\xff\xfe{}")
    code, _, err = run(capsys, "rules", "eval", str(latin))
    assert code == 2 and "not UTF-8 text" in one_line(err)
    code, _, err = run(capsys, "rules", "eval", str(tmp_path))
    assert code == 2 and "is a directory, not a case file" in one_line(err)


@pytest.mark.parametrize(("probability", "message"), [
    ("1e999999999", "cannot read probability '1e999999999'"),
    ("1e-99999999", "cannot read probability '1e-99999999'"),
    ("inf", "cannot read probability 'inf'"),
])
def test_huge_exponents_are_refused_at_once(capsys, probability, message):
    started = time.monotonic()
    code, _, err = run(capsys, "risk", "level", "--severity", "3", "--probability", probability)
    assert code == 2 and message in one_line(err) and time.monotonic() - started < 2


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://u:secret@h:abc/db", "is not a database URL"),
    ("postgresql+pg8000://u@h/db", "install it with `pip install -e '.[postgres]'`"),
])
def test_bad_database_urls(capsys, monkeypatch, url, message):
    monkeypatch.setenv("RISKGATE_DATABASE_URL", url)
    code, _, err = run(capsys, "case", "list")
    assert code == 2 and message in one_line(err) and "secret" not in err


def test_a_prefect_server_that_stops_answering_mid_command_is_exit_5(capsys, cli_user, db,
                                                                      monkeypatch):
    """The client's error when the server is killed while a command talks to it (httpx's
    ConnectError, as prefect's client raises it) is exit 5 with where, not an internal error."""
    import httpx

    from flows import sweep
    from flows.cli import sweep_cmd

    def server_killed(_settings):
        raise httpx.ConnectError("All connection attempts failed", request=httpx.Request(
            "POST", "http://127.0.0.1:4200/api/flow_runs/filter"))

    monkeypatch.setattr(sweep_cmd, "prefect_ready", lambda _settings: None)
    monkeypatch.setattr(sweep, "sweep_once", server_killed)
    code, out, err = run(capsys, "sweep")
    assert (code, out) == (5, "")
    assert one_line(err) == ("error: http://127.0.0.1:4200/api/flow_runs/filter stopped "
                             "answering (ConnectError); is the Prefect server running? "
                             "(`riskgate server status`)\n")


def test_odd_arguments(capsys, cli_user, db):
    code, _, err = run(capsys, "case", "run", "RG-X", "--timeout", "-1")
    assert code == 2 and "--timeout" in one_line(err)
    code, _, err = run(capsys, "case", "explain", "RG-X", "--gate", "../../x")
    assert code == 2 and "choose triage or disposal" in one_line(err)
    code, _, err = run(capsys, "case", "open", str(SAMPLES / "signal.json"), "--as",
                       "x" * 100_000)
    assert code == 2 and "at most 64" in one_line(err)
    code, _, err = run(capsys, "case", "open", str(SAMPLES / "signal.json"), "--as",
                       "riskgate")
    assert code == 2 and "the system's own" in one_line(err)
    code, _, err = run(capsys, "case", "open", str(SAMPLES / "signal.json"), "--as",
                       "line\nbreak")
    assert code == 2 and "use lower-case letters" in one_line(err)


def test_case_run_on_a_case_another_run_is_advancing_is_refused_not_reported_done(
        capsys, cli_user, db, monkeypatch):
    """Issue 9 (14): the flow run `case run` started finds the case held by another run and
    ends; the command says so (exit 4) instead of printing an intermediate state with exit 0."""
    from cases import lease
    from cases.submissions import Claim
    from flows import launcher, submissions
    from flows.submissions import Submitted
    from tests.helpers import open_archetype

    case_id, _ = open_archetype(db, "toy_choking")
    other = lease.new_owner("22222222-2222-2222-2222-222222222222")
    lease.acquire(db, case_id, other)  # another run holds the case and advances it
    from types import SimpleNamespace

    def started(settings, case_id, *, actor, prepare):
        prepare()
        return Submitted(Claim(case_id, True, f"{case_id}:launch", 1),
                         "11111111-1111-1111-1111-111111111111")

    monkeypatch.setattr(submissions, "launch_case", started)
    monkeypatch.setattr(launcher, "wait_for_run", lambda run_id, timeout: launcher.RunOutcome(
        run_id, "Completed", ""))  # that run found the case taken and ended quietly
    monkeypatch.setattr("flows.cli.case_cmd.prefect_ready",
                        lambda current: SimpleNamespace(ui_url="http://127.0.0.1:4200"))
    code, out, err = run(capsys, "case", "run", case_id)
    assert (code, out) == (4, "")
    last = err.splitlines()[-1]  # after the line naming the flow run it started
    assert last.startswith("error: ") and f"case {case_id} is being advanced by another run" \
        in last
