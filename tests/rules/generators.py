"""Generated fact sets for the oracle tests (hypothesis) and the benchmark (seeded random).

Both draw every field of the input's table (rules/schema.py); counts cluster around the
thresholds the rulebooks use (0–3, 5, 9–11) so that rules fire often and boundaries are hit.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from rules.schema import FieldSpec, fields

COUNT_VALUES = (0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 9, 10, 11, 40)


def _int_values(spec: FieldSpec) -> list[int]:
    if spec.maximum <= 20:
        return list(range(spec.minimum, spec.maximum + 1))
    return sorted({max(v, spec.minimum) for v in COUNT_VALUES})


def strategy(spec: FieldSpec) -> st.SearchStrategy:
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "int":
        return st.one_of(st.sampled_from(_int_values(spec)),
                         st.integers(spec.minimum, min(spec.maximum, 1000)))
    if spec.kind == "enum":
        return st.sampled_from(spec.values)
    return st.lists(st.sampled_from(spec.values), max_size=4, unique=True)


def facts(kind: str) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({name: strategy(spec) for name, spec in fields(kind).items()})


def random_value(spec: FieldSpec, rng: random.Random):
    if spec.kind == "bool":
        return rng.random() < 0.5
    if spec.kind == "int":
        return rng.choice(_int_values(spec))
    if spec.kind == "enum":
        return rng.choice(spec.values)
    return rng.sample(spec.values, rng.choice((0, 1, 1, 1, 2, 2, 3)))


def random_case(rng: random.Random) -> tuple[dict, dict]:
    """(triage facts, disposal facts) of one case; fields they share have the same values."""
    triage = {name: random_value(spec, rng) for name, spec in fields("triage").items()}
    disposal = {name: triage[name] if name in triage else random_value(spec, rng)
                for name, spec in fields("disposal").items()}
    return triage, disposal
