"""The guarded durable-rules engine: which rules fire for one fact set, in agenda order.

durable-rules 2.0.28 is unmaintained and has crash paths that ordinary calls hit
(../shared/notes/durable-rules-field-notes.md). This wrapper follows §4 of those notes:

* a private `Host` with no background threads (no dispatcher or timer ever runs an action on
  another thread, §2.4, §3.4);
* one fresh session (sid) per evaluation, always deleted afterwards, so the 1,024-live-session
  limit, its segfault on reuse (§1.6) and FNV sid collisions (at most one live sid) cannot occur;
* a hidden lowest-priority sink rule, so no fact is ever unhandled and `delete_state` never meets
  the unhandled-message segfault (§3.2);
* one lock around each evaluation (§3.4: free under the GIL, forbids same-sid interleavings);
* no exception is swallowed: durable's `Promise.run` catches every exception inside actions
  (§3.3), so this engine does not run Python actions inside durable at all.

Instead of durable's `Host.assert_fact` → `Closure` → `Promise` chain, the engine drives durable's
C agenda directly: assert the fact, then `start_action_for_state` / `complete_and_start_action`
until the agenda is empty, reading the rule name of each activation. Matching, priorities and
agenda order are all durable's; what is skipped is the per-firing `update_state`, which
serialises the session state and re-asserts it as a fact (the source of the §1.4 infinite
loops) and is only needed by rules on `s.` state, which rulebooks cannot express. Measured on
40 rules: 17,000 evaluations/s against 7,600 through the stock host (bench/rules.py has the
current figures).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import durable_rules_engine as dre
from durable import engine as durable_engine

from rules.limits import durable_error
from rules.rulebook import SINK_RULE, Rulebook, RulebookError

DURABLE_VERSION = "2.0.28"
_NOT_HANDLED, _OBSERVED = 1, 2


class RuleEngineError(RuntimeError):
    """durable-rules failed on a fact set that passed validation: a bug, never user input."""


class _PrivateHost(durable_engine.Host):
    """A durable Host that starts no dispatcher or timer threads and runs no Python actions."""

    def _run(self) -> None:  # the stock Host starts two never-ending timer threads here
        pass

    def get_action(self, action_name: str) -> Callable[[object], None]:
        return _no_action


def _no_action(c: object) -> None:
    """Registered because durable requires a `run` per rule; never called."""
    raise RuleEngineError("durable tried to run a Python action; the guarded engine drives the "
                          "agenda itself")


@dataclass(frozen=True)
class _Loaded:
    handle: int
    rule_ids: frozenset[str]
    fields: tuple[str, ...]  # what the conditions read; only these are sent


class RuleEngine:
    """Evaluates rulebooks through durable-rules. Thread-safe; one per process is enough."""

    def __init__(self) -> None:
        self._host = _PrivateHost()
        self._lock = threading.Lock()
        self._loaded: dict[str, _Loaded] = {}
        self._sids = itertools.count()
        self._prefix = f"{os.getpid()}-{id(self):x}-"

    def load(self, rulebook: Rulebook) -> None:
        """Register a rulebook version once (durable cannot replace or unregister one)."""
        with self._lock:
            self._load_locked(rulebook)

    def _load_locked(self, rulebook: Rulebook) -> _Loaded:
        name = rulebook.durable_name
        loaded = self._loaded.get(name)
        if loaded is None:
            definition = rulebook.durable_definition()
            for rule in definition.values():
                rule["run"] = "none"  # Host.register_rulesets demands one; see _no_action
            try:
                self._host.register_rulesets({name: definition})
            except Exception as exc:
                meaning = durable_error(str(exc))
                if meaning is None:
                    raise
                raise RulebookError(rulebook.source, meaning) from None
            handle = self._host.get_ruleset(name)._handle
            loaded = _Loaded(handle, frozenset(definition) - {SINK_RULE},
                             rulebook.tested_fields)
            self._loaded[name] = loaded
        return loaded

    def fire(self, rulebook: Rulebook, facts: dict) -> tuple[str, ...]:
        """Ids of the rules whose conditions hold for `facts`, in durable's agenda order
        (priority ascending, ties in definition order), each once.

        `facts` must come from rules.schema.validate_facts: durable coerces types loosely.
        """
        with self._lock:
            loaded = self._load_locked(rulebook)
            return self._fire_locked(loaded, facts)

    def _fire_locked(self, loaded: _Loaded, facts: dict) -> tuple[str, ...]:
        handle = loaded.handle
        sid = self._prefix + str(next(self._sids))
        try:
            fact = {name: facts[name] for name in loaded.fields}
        except KeyError as missing:
            raise RuleEngineError(f"fact {missing} missing: facts must come from "
                                  "rules.schema.validate_facts") from None
        fact["t"] = "case"
        fact["sid"] = sid
        # Default arguments: json.dumps then reuses its cached C encoder (facts are validated
        # codes, numbers and booleans, so ASCII escaping changes nothing).
        message = json.dumps(fact)
        code, state = dre.assert_fact(handle, message)
        if code == _NOT_HANDLED:
            # Unreachable with the sink rule. Deleting this session could segfault (§3.2), so it
            # is left in place and the evaluation fails loudly.
            raise RuleEngineError(f"durable did not handle the fact (sid {sid})")
        fired: list[str] = []
        try:
            if code == _OBSERVED:
                raise RuleEngineError(f"durable saw the fact before (sid {sid})")
            result = dre.start_action_for_state(handle, state)
            activation = result[1] if result else None
            while activation:
                # An activation is {"<rule id>": {"m": {...}}}; rule ids are [A-Z0-9_-] or
                # "$sink", so the id is the text between the first two quotes.
                rule_id = activation[2:activation.index('"', 2)]
                if rule_id != SINK_RULE and rule_id not in fired:
                    if rule_id not in loaded.rule_ids:
                        raise RuleEngineError(f"durable fired unknown rule {rule_id!r}")
                    fired.append(rule_id)
                activation = dre.complete_and_start_action(handle, state)
        except BaseException:
            if code != _OBSERVED:
                dre.abandon_action(handle, state)
            raise
        finally:
            dre.delete_state(handle, sid)
        return tuple(fired)


_default_engine: RuleEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> RuleEngine:
    """The process-wide engine (durable's C rulesets are process-global anyway)."""
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            _default_engine = RuleEngine()
        return _default_engine
