"""Moving a signal to another case and splitting a case (cases/regroup.py), on SQLite and
PostgreSQL: what moves, what is recomputed, what is audited, and every refusal changing
nothing."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from cases import audit, lease, outbox, store
from cases.accounts import Person, Refused
from cases.errors import CaseBusy, FieldErrors, NotFound, WrongState
from cases.intake import open_case
from cases.models import AuditEvent, Case, Signal
from cases.regroup import move_signal, split_case
from flows import gates
from tests.helpers import open_archetype, sample_signal

ALICE = Person("alice", frozenset({"staff"}))
CAROL = Person("carol", frozenset({"auditor"}))
REASON = "另一型号的产品，不是同一批次"


def signal(reference: str, *, model: str = "LT-R01", hazards: list[str] | None = None,
           name: str = "婴儿摇铃（牙胶款）"):
    base = sample_signal()
    product = base.product.model_copy(update={"model": model, "name": name}).model_dump()
    return sample_signal(reference=reference, product=product,
                         hazards=hazards if hazards is not None else ["choking"])


def take_in(db, *signals) -> tuple[str, list[int]]:
    """Open the signals (all on one product: one case); the case and the signal ids."""
    opened = [open_case(db, s, actor="staff:test", lang="zh") for s in signals]
    assert len({o.case_id for o in opened}) == 1
    return opened[0].case_id, [o.signal_id for o in opened]


def clean(db, settings) -> None:
    result = audit.verify(db, settings.home)
    assert result.ok, result.problems


def snapshot(db) -> tuple:
    with db.read_session() as session:
        signals = sorted((s.id, s.case_id, str(s.grouping)) for s in session.exec(select(Signal)))
        cases = sorted((c.id, c.gate, c.state, tuple(c.hazards))
                       for c in session.exec(select(Case)))
        events = session.exec(select(func.count()).select_from(AuditEvent)).one()
    return signals, cases, events


def test_a_signal_moves_to_an_open_case(db, settings):
    a, (first, second) = take_in(db, signal("A1"), signal("A2", hazards=["choking", "injuries"]))
    b, _ = take_in(db, signal("B1", model="LT-R02", hazards=["fire"]))
    done = move_signal(db, second, to_case=b, actor=ALICE, reason=REASON)
    assert (done.from_case, done.to_case, done.new_case, done.signal_ids) == (a, b, False,
                                                                                (second,))
    assert done.hazards == {a: ["choking"], b: ["choking", "injuries", "fire"]}  # in intake order
    assert not done.claims
    moved = next(r for r in store.load_dossier(db, b).signal_rows if r.id == second)
    assert moved.grouping["how"] == "moved" and moved.grouping["from"] == a
    assert (moved.grouping["by"], moved.grouping["reason"]) == ("user:alice", REASON)
    assert [r.id for r in store.load_dossier(db, a).signal_rows] == [first]
    with db.read_session() as session:
        events = session.exec(select(AuditEvent).where(
            AuditEvent.action.in_(("signal.moved_out", "signal.moved_in")))  # type: ignore[attr-defined]
            .order_by(AuditEvent.seq)).all()
    assert [(e.case_id, e.action, e.actor) for e in events] == [
        (a, "signal.moved_out", "user:alice"), (b, "signal.moved_in", "user:alice")]
    assert events[0].detail["reason"] == REASON and f"signal:{second}" in \
        events[1].detail["records"]
    clean(db, settings)


def test_a_signal_moves_to_a_new_case_opened_as_intake_opens_one(db, settings):
    a, (_, second) = take_in(db, signal("A1"), signal("A2", hazards=["choking", "injuries"]))
    done = move_signal(db, second, to_case=None, actor=ALICE, reason=REASON)
    new = store.get_case(db, done.to_case)
    assert done.new_case and new.id != a and new.id.startswith("RG-")
    assert (new.gate, new.state, new.opened_by, new.lang) == ("intake", "active",
                                                              "user:alice", "zh")
    assert new.hazards == ["choking", "injuries"] and new.category == "toys"
    assert new.product_key == store.get_case(db, a).product_key  # the same product, as intake
    # the new case's only signal stays: a case keeps at least one signal
    with pytest.raises(FieldErrors, match="only signal of case"):
        move_signal(db, second, to_case=a, actor=ALICE, reason="放错了，移回原案件")
    clean(db, settings)


def test_a_case_is_split_into_one_new_case(db, settings):
    a, ids = take_in(db, signal("A1"), signal("A2"), signal("A3", hazards=["choking", "fire"]))
    done = split_case(db, a, [ids[2], ids[1], ids[2]], actor=ALICE, reason=REASON)
    assert done.how == "split" and done.signal_ids == (ids[1], ids[2]) and done.new_case
    assert [r.id for r in store.load_dossier(db, done.to_case).signal_rows] == ids[1:]
    assert done.hazards == {a: ["choking"], done.to_case: ["choking", "fire"]}
    rows = store.load_dossier(db, done.to_case).signal_rows
    assert {r.grouping["how"] for r in rows} == {"split"}
    with db.read_session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(
            AuditEvent.actor == "user:alice").order_by(AuditEvent.seq))]
    assert actions == ["case.split", "case.opened"]
    clean(db, settings)


def test_a_triaged_case_whose_signals_change_goes_back_to_triage(db, settings):
    vague = sample_signal(reference="vague-1")
    vague = vague.model_copy(update={"product": vague.product.model_copy(update={"name": ""})})
    info = open_case(db, vague, actor="staff:t", lang="zh").case_id
    assert gates.advance(settings, info).state == "awaiting_information"
    _, (_, second) = take_in(db, signal("A1"), signal("A2"))
    done = move_signal(db, second, to_case=info, actor=ALICE, reason="这是同一产品的补充投诉")
    case = store.get_case(db, info)
    assert (case.gate, case.state) == ("triage", "active")
    assert done.back_to_triage == (info,) and done.claims[0].key == f"{info}:triage:r2"
    assert [o.key for o in outbox.of_case(db, info)] == [f"{info}:triage:r2"]
    clean(db, settings)
    again = gates.advance(settings, info)  # triage runs again, on both signals
    assert store.load_dossier(db, info).decision("triage").round == 2, again
    clean(db, settings)


def test_refusals_change_nothing(db, settings):
    a, (first, second) = take_in(db, signal("A1"), signal("A2"))
    _, (only,) = take_in(db, signal("L1", model="LT-X"))
    closed, _ = open_archetype(db, "out_of_scope_food")
    assert gates.advance(settings, closed).state == "closed"
    before = snapshot(db)
    refusals = [
        (lambda: move_signal(db, second, to_case=closed, actor=ALICE, reason=REASON),
         WrongState, "closed"),
        (lambda: move_signal(db, only, to_case=a, actor=ALICE, reason=REASON),
         FieldErrors, "only signal of case"),
        (lambda: split_case(db, a, [first, second], actor=ALICE, reason=REASON),
         FieldErrors, "all the signals"),
        (lambda: split_case(db, a, [], actor=ALICE, reason=REASON), FieldErrors, "choose"),
        (lambda: split_case(db, a, [only], actor=ALICE, reason=REASON), FieldErrors,
         "not in case"),
        (lambda: move_signal(db, 999_999, to_case=a, actor=ALICE, reason=REASON),
         FieldErrors, "no signal 999999"),
        (lambda: move_signal(db, second, to_case="RG-NOPE", actor=ALICE, reason=REASON),
         FieldErrors, "no case RG-NOPE"),
        (lambda: move_signal(db, second, to_case=a, actor=ALICE, reason=REASON),
         FieldErrors, "already"),
        (lambda: move_signal(db, second, to_case=" ", actor=ALICE, reason=REASON),
         FieldErrors, "give the id"),
        (lambda: split_case(db, "RG-NOPE", [first], actor=ALICE, reason=REASON),
         NotFound, "no case"),
        (lambda: move_signal(db, second, to_case=None, actor=ALICE, reason="  "),
         FieldErrors, "at least 4"),
        (lambda: move_signal(db, second, to_case=None, actor=ALICE, reason="x" * 1001),
         FieldErrors, "at most 1000"),
        (lambda: move_signal(db, second, to_case=None, actor=ALICE, reason="bad\x1b[31m"),
         FieldErrors, "control character"),
        (lambda: move_signal(db, second, to_case=None, actor=CAROL, reason=REASON),
         Refused, "needs the role staff"),
    ]
    for attempt, error, words in refusals:
        with pytest.raises(error, match=words):
            attempt()
        assert snapshot(db) == before, words
    clean(db, settings)


def test_a_case_past_triage_or_being_advanced_is_refused(db, settings, roster):
    a, (_, second) = take_in(db, signal("A1"), signal("A2"))
    assessed, _ = open_archetype(db, "toy_choking")
    assert gates.advance(settings, assessed).state == "awaiting_scores"
    assessed_signal = store.load_dossier(db, assessed).signal_rows[0].id
    with pytest.raises(WrongState, match="at gate assessment: signals move only while"):
        move_signal(db, second, to_case=assessed, actor=ALICE, reason=REASON)
    with pytest.raises(WrongState, match="at gate assessment"):
        move_signal(db, assessed_signal, to_case=a, actor=ALICE, reason=REASON)
    with lease.leased(db, a), pytest.raises(CaseBusy, match="being advanced by a flow run"):
        move_signal(db, second, to_case=None, actor=ALICE, reason=REASON)
    assert move_signal(db, second, to_case=None, actor=ALICE, reason=REASON).new_case
    clean(db, settings)


def test_a_signal_moved_outside_riskgate_is_still_caught(db, settings):
    _, (_, second) = take_in(db, signal("A1"), signal("A2"))
    b, _ = take_in(db, signal("B1", model="LT-R02"))
    with db.session() as session:  # an edit of the store, with no audit event
        row = session.get(Signal, second)
        row.case_id = b
        session.add(row)
    problems = audit.verify(db, settings.home).problems
    assert any(f"signal {second}" in p and "case_id differs" in p for p in problems), problems
