"""Fuzzing the three ways data comes in: signal files, score submissions, rulebooks.

Each input goes through the real CLI, in-process. The contract for every one of them: success,
or one line on stderr with exit 2 (4 for a score the case's state refuses) — never the exit 70
of an internal error, never a hang (hypothesis's deadline), and nothing stored changed when it
was refused. Bounded for CI by example counts and deadlines; `FUZZ_EXAMPLES` raises the count.
"""

from __future__ import annotations

import json
import os
import string
import sys
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.signals import SignalIn
from flows import gates
from tests.conftest import SAMPLES
from tests.flows.test_cli import run, stored
from tests.helpers import open_archetype

SCALE = int(os.environ.get("FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=150 * SCALE, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow], derandomize=False)
SAMPLE = json.loads((SAMPLES / "signal.json").read_text(encoding="utf-8"))
RAN: dict[str, dict[int, int]] = {"signals": {}, "scores": {}, "rulebooks": {}}


def counted(kind: str, code: int) -> None:
    RAN[kind][code] = RAN[kind].get(code, 0) + 1


@pytest.fixture
def database_url(tmp_path):  # the contract is the same on every store; fuzz on one
    return f"sqlite:///{tmp_path / 'riskgate.db'}"


def check_refusal(code: int, err: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, f"exit {code}: {err}"
    if code != 0:
        assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
        assert "internal error" not in err


# -- values that have broken parsers before: huge and odd numbers, control characters, bidi,
#    full-width digits, deep nesting, dates that overflow

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable + "\x00\x1b\u202e\u200b１２３　（）", max_size=60),
    st.sampled_from(["1e999999999", "1e-99999999", "inf", "-inf", "NaN", "0x10", "１/５０",
                     "> 1/1 000", "≤ 1/1 000 000", "1/0", "9" * 5000, "", " ", "[/bold]",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                     "2026-13-45T99:99:99", "1700000000", "\x1b]8;;http://x\x1b\\"]))
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30,
                                                           max_value=10**30),
                      st.floats(allow_nan=False, allow_infinity=False), nasty_text)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
FIELDS = tuple(SignalIn.model_fields)


@st.composite
def signal_files(draw) -> bytes:
    """A signal file: the sample with fields replaced, dropped or added; sometimes raw bytes,
    repeated keys or very deep nesting."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "raw", "duplicate", "deep"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.integers(min_value=50, max_value=5000))
        return ("[" * depth + "]" * depth).encode()
    data = json.loads(json.dumps(SAMPLE))
    data["reference"] = f"fuzz-{draw(st.integers(0, 10**9))}"
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        action = draw(st.sampled_from(["replace", "drop", "nested"]))
        if action == "drop":
            data.pop(field, None)
        elif action == "nested" and isinstance(data.get(field), dict):
            key = draw(st.sampled_from(sorted(data[field]) or ["x"]))
            data[field][key] = draw(json_value)
        else:
            data[field] = draw(json_value)
    if draw(st.booleans()):
        data[draw(st.text(max_size=10))] = draw(json_value)
    text = json.dumps(data, ensure_ascii=False)
    if kind == "duplicate":
        text = text[:-1] + ', "hazards": []}'
    return text.encode("utf-8", errors="surrogatepass")


@FUZZ
@given(raw=signal_files())
def test_signal_files(capsys, cli_user, db, tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "signal.json"
    path.write_bytes(raw)
    before = stored(db)
    code, _, err = run(capsys, "case", "open", str(path))
    counted("signals", code)
    check_refusal(code, err)
    if code != 0:
        assert stored(db) == before


@pytest.fixture
def waiting_case(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    from cases import store

    panel = sorted(s.expert_id for s in store.load_dossier(db, case_id).voting_seats())
    return case_id, panel[:2]  # two experts only: the quorum (4) is never reached here


score_option = st.one_of(nasty_text, st.integers(-10, 10).map(str))


def mostly(valid, strategy=score_option):
    """A valid value most of the time, so that accepted submissions are fuzzed too."""
    return st.integers(0, 4).flatmap(lambda i: strategy if i == 0 else st.sampled_from(valid))


@FUZZ
@given(data=st.data())
def test_score_submissions(capsys, cli_user, db, waiting_case, data):
    case_id, experts = waiting_case
    expert = data.draw(mostly(experts, nasty_text), label="expert")
    args = ["score", "submit", "--case", case_id, "--expert", expert,
            "--round", data.draw(mostly(["1"]), label="round"),
            "--severity", data.draw(mostly(["1", "2", "3", "4"]), label="severity"),
            "--probability", data.draw(mostly(["0.002", "1/500", "> 1/10", "3e-4"]),
                                       label="probability"),
            "--measures", data.draw(mostly(["recall,consumer_warning", "delisting"], st.one_of(
                nasty_text, st.lists(st.sampled_from(["recall", "delisting", "bribe", ""]),
                                     max_size=7).map(",".join))), label="measures"),
            "--rationale", data.draw(mostly(["beads can block an airway"], nasty_text),
                                     label="rationale"),
            "--confidence", data.draw(mostly(["1", "3", "5"]), label="confidence")]
    before = stored(db)
    code, _, err = run(capsys, *args)
    counted("scores", code)
    if os.environ.get("FUZZ_DEBUG"):
        sys.__stderr__.write(f"{code} {err[:90]}\n")
    check_refusal(code, err, allowed=(0, 2, 3, 4))
    if code != 0:
        assert stored(db) == before


TRIAGE = (SAMPLES.parent.parent / "rules" / "rulebooks" / "triage.yaml").read_text(
    encoding="utf-8")
conditions = st.recursive(
    st.one_of(st.just("always"), st.builds(
        lambda f, op, v: f"{{{f}: {{{op}: {v}}}}}",
        st.sampled_from(["injuries", "hazards", "category", "imported", "severity",
                         "nope", "id", "t"]),
        st.sampled_from(["eq", "ne", "lt", "gte", "in", "not_in", "has", "has_any", "bogus"]),
        st.one_of(st.integers(-5, 10**6).map(str), st.sampled_from(
            ["[choking, fire]", "toys", "true", "[]", "[1, 2, 3]", "{a: 1}", "'x'"])))),
    lambda inner: st.lists(inner, min_size=1, max_size=3).map(
        lambda items: "{all: [" + ", ".join(items) + "]}")
    | st.lists(inner, min_size=1, max_size=3).map(
        lambda items: "{any: [" + ", ".join(items) + "]}"),
    max_leaves=6)


@st.composite
def rulebooks(draw) -> str:
    text = TRIAGE
    mode = draw(st.sampled_from(["conditions", "conditions", "text", "truncate"]))
    if mode == "text":
        position = draw(st.integers(0, len(text)))
        return text[:position] + draw(nasty_text) + text[position:]
    if mode == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    extra = "".join(
        f"  - id: F{i:03d}\n    title: {{zh: 模糊{i}, en: fuzz {i}}}\n"
        f"    priority: {draw(st.integers(-3, 70000))}\n    when: {draw(conditions)}\n"
        f"    then: {{priority: P3}}\n    rationale: {{zh: 理由, en: why}}\n"
        for i in range(draw(st.integers(1, 4))))
    return text.rstrip("\n") + "\n" + extra


@settings(max_examples=40 * SCALE, deadline=timedelta(seconds=15),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=rulebooks())
def test_rulebooks(capsys, tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "triage.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, _, err = run(capsys, "rules", "check", str(path))
    counted("rulebooks", code)
    check_refusal(code, err)


def test_report_how_many_inputs_ran(capsys):
    """Inputs run and their exits (printed with -s); the closing notes quote it."""
    with capsys.disabled():
        print(f"\nfuzz (exit code: inputs): {RAN}")
