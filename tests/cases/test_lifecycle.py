"""The lifecycle is one declared table, enforced in code and in the database."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from cases import lifecycle, store
from cases.commits import GateCommit, commit_gate
from cases.lifecycle import TRANSITIONS, Event, IllegalTransition
from cases.models import AuditEvent, GateRecord
from cases.submissions import claim
from flows import gates
from rules.rulebook import NEXT_GATES
from tests.conftest import REPO
from tests.helpers import open_archetype


def test_the_diagram_in_docs_is_generated_from_the_table():
    written = (REPO / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    assert written == lifecycle.document(), \
        "docs/lifecycle.md is stale: run `python -m cases.lifecycle > docs/lifecycle.md`"


def test_the_table_is_whole():
    pairs = set(lifecycle.pairs())
    assert {s for _, s in pairs} <= set(lifecycle.STATES)
    assert {g for g, _ in pairs} <= set(lifecycle.GATES)
    assert len({(t.source, t.event) for t in TRANSITIONS}) == len(TRANSITIONS)
    assert {t.event for t in TRANSITIONS} == set(Event)
    # every pair is reachable from intake, and closure is reachable from every pair
    graph: dict = {}
    for t in TRANSITIONS:
        graph.setdefault(t.source, set()).add(t.target)

    def reach(start) -> set:
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    assert reach(("intake", "active")) == pairs
    for pair in pairs:
        assert ("closed", "closed") in reach(pair), f"{pair} is a dead end"
    # the rulebooks' routes are exactly the lifecycle's triage transitions
    assert set(NEXT_GATES) == set(lifecycle.TRIAGE_ROUTES)
    assert [r for r in NEXT_GATES if lifecycle.routes_to_assessment(r)] == [
        "lab_test", "fast_track", "expert_panel"]


def test_gate_code_names_events_never_states():
    """A new wait is a row in the table: gate modules name events, never a state."""
    states = set(lifecycle.STATES)
    for path in sorted((REPO / "flows" / "gates").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in states:
                pytest.fail(f"{path.relative_to(REPO)}:{node.lineno}: state {node.value!r} "
                            "as a literal; use a lifecycle event")


def test_an_undeclared_transition_is_refused_and_nothing_written(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    with db.read_session() as s:
        before = (s.exec(select(func.count()).select_from(AuditEvent)).one(),
                  s.exec(select(func.count()).select_from(GateRecord)).one())
    from cases import lease

    with lease.leased(db, case_id) as owner, pytest.raises(IllegalTransition, match=(
            "disposal.done is not a transition of a case at gate intake in state active "
            r"\(declared from there: intake.done, case.runs_failed\)")):
        commit_gate(db, settings, GateCommit(case_id=case_id,
                                                  event=Event.DISPOSAL_DONE,
                                                  owner=owner, actor="t",
                                                  case_fields={"risk_level": "low"}))
    with db.read_session() as s:
        assert (s.exec(select(func.count()).select_from(AuditEvent)).one(),
                s.exec(select(func.count()).select_from(GateRecord)).one()) == before
    case = store.get_case(db, case_id)
    assert (case.gate, case.state, case.risk_level) == ("intake", "active", None)


def test_only_who_the_table_names_may_cause_a_transition(settings, db, roster):
    case_id, _ = open_archetype(db, "toy_choking")
    gates.advance(settings, case_id)
    with db.session() as session:
        case = store.require_case(session, case_id)
        with pytest.raises(IllegalTransition,
                           match=r"scores\.quorum is caused by expert or sweeper, not by staff"):
            claim(session, case, Event.SCORES_QUORUM, "staff")
    assert store.get_case(db, case_id).state == "awaiting_scores"


def test_the_database_refuses_states_and_gates_outside_the_lifecycle(db):
    from cases.intake import open_case
    from tests.helpers import sample_signal

    case_id = open_case(db, sample_signal(), actor="staff:t", lang="zh").case_id
    for column, value in (("state", "in_limbo"), ("gate", "appeal")):
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(sa.text(f'UPDATE "case" SET {column} = :v WHERE id = :i'),
                         {"v": value, "i": case_id})
    assert store.get_case(db, case_id).state == "active"


def test_gate_steps_cover_the_work_gates():
    assert tuple(gates.GATE_STEPS) == lifecycle.WORK_GATES
    assert all(Path(REPO / "flows" / "gates" / f"{g}.py").is_file() for g in gates.GATE_STEPS)


def test_the_database_constraints_list_exactly_the_lifecycles_states_and_gates(db):
    """Alembic's comparison does not see check constraints: compare them here, so a state
    added to the table without its migration fails this test, not a commit in production."""
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            ddl = conn.execute(sa.text(
                "SELECT sql FROM sqlite_master WHERE name = 'case'")).scalar_one()
            checks = {name: body for name, body in re.findall(
                r"CONSTRAINT (ck_case_\w+) CHECK \((.*?)\)(?:,|\n)", ddl)}
        else:
            checks = dict(conn.execute(sa.text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname IN ('ck_case_state', 'ck_case_gate')")).all())

    def listed(body: str) -> set[str]:
        return set(re.findall(r"'([a-z_]+)'", body))

    assert listed(checks["ck_case_state"]) == set(lifecycle.STATES)
    assert listed(checks["ck_case_gate"]) == set(lifecycle.GATES)
