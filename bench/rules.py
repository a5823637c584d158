"""Rule evaluation throughput: durable-rules (the production path) against the reference
interpreter, in one run, on one core.

    pip install -e '.[test]'    # the case generator and the oracle live in tests/
    python bench/rules.py [--cases 10000] [--seed 42] [--repeats 3]

Each case goes through triage and disposal with the full production path: fact validation,
durable-rules through the guarded engine, combination and the explanation trail. The baseline
is the plain-Python reference interpreter the tests use as an oracle (tests/rules/reference.py)
on the same cases. Passes alternate (durable, reference, durable, …) and the median of each is
reported. The process is pinned to one CPU.

Timed passes keep no results, as production does not: holding 10,000 decisions in a list makes
the cyclic garbage collector walk an ever larger heap and cost a third of the time (measured:
4,300 against 6,600 cases/s). Agreement of the two paths on every case is checked in a separate,
untimed pass; max RSS after the timed passes shows that durable sessions do not leak.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rules.decisions import decide_disposal, decide_triage  # noqa: E402
from rules.engine import RuleEngine  # noqa: E402
from rules.rulebook import RULEBOOK_DIR, current_rulebook  # noqa: E402

try:
    from tests.rules.generators import random_case
    from tests.rules.reference import ReferenceRulebook, comparable
except ModuleNotFoundError as missing:  # hypothesis comes with the test extras
    sys.exit(f"error: bench/rules.py needs the test extras ({missing}): pip install -e '.[test]'")

TARGET_CASES_PER_S = 5000
TARGET_RATIO = 0.25


def _durable(cases, triage, disposal, engine) -> int:
    """All cases through the production path; returns the rules fired (keeps nothing else)."""
    fired = 0
    for t, d in cases:
        fired += len(decide_triage(triage, t, engine).trail)
        fired += len(decide_disposal(disposal, d, engine).trail)
    return fired


def _reference(cases, ref_triage, ref_disposal) -> int:
    fired = 0
    for t, d in cases:
        fired += len(ref_triage.decide(t)["fired"]) + len(ref_disposal.decide(d)["fired"])
    return fired


def _timed(run) -> tuple[float, int]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    rng = random.Random(args.seed)
    cases = [random_case(rng) for _ in range(args.cases)]
    triage, disposal = current_rulebook("triage"), current_rulebook("disposal")
    ref_triage = ReferenceRulebook.from_path(RULEBOOK_DIR / "triage.yaml")
    ref_disposal = ReferenceRulebook.from_path(RULEBOOK_DIR / "disposal.yaml")
    engine = RuleEngine()
    _durable(cases[:300], triage, disposal, engine)  # warm-up: registration, caches
    _reference(cases[:300], ref_triage, ref_disposal)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    durable_times, reference_times = [], []
    for _ in range(args.repeats):
        seconds, fired = _timed(lambda: _durable(cases, triage, disposal, engine))
        durable_times.append(seconds)
        seconds, fired_reference = _timed(lambda: _reference(cases, ref_triage, ref_disposal))
        reference_times.append(seconds)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    mismatches = sum(
        comparable(decide_triage(triage, t, engine)) != ref_triage.decide(t)
        or comparable(decide_disposal(disposal, d, engine)) != ref_disposal.decide(d)
        for t, d in cases)
    assert fired == fired_reference or mismatches, "firing counts differ without a mismatch"
    firings = fired / len(cases)
    durable_rate = len(cases) / statistics.median(durable_times)
    reference_rate = len(cases) / statistics.median(reference_times)
    ratio = durable_rate / reference_rate

    print(f"cases: {len(cases)} (seed {args.seed}), rules: triage {len(triage.rules)}, "
          f"disposal {len(disposal.rules)}, {firings:.1f} rules fired per case")
    print(f"durable-rules path: {durable_rate:,.0f} cases/s "
          f"(passes: {', '.join(f'{t:.2f} s' for t in durable_times)})")
    print(f"reference interpreter: {reference_rate:,.0f} cases/s "
          f"(passes: {', '.join(f'{t:.2f} s' for t in reference_times)})")
    print(f"ratio durable/reference: {ratio:.2f}; mismatches: {mismatches}; "
          f"max RSS {rss_before:.0f} → {rss_after:.0f} MB")
    print(json.dumps({
        "cases": len(cases), "seed": args.seed, "repeats": args.repeats,
        "triage_rules": len(triage.rules), "disposal_rules": len(disposal.rules),
        "firings_per_case": round(firings, 2),
        "durable_cases_per_s": round(durable_rate), "reference_cases_per_s":
            round(reference_rate), "ratio": round(ratio, 3), "mismatches": mismatches,
        "max_rss_mb_before": round(rss_before, 1), "max_rss_mb_after": round(rss_after, 1),
        "target_durable_cases_per_s": TARGET_CASES_PER_S, "target_ratio": TARGET_RATIO,
        "meets_targets": durable_rate >= TARGET_CASES_PER_S and ratio >= TARGET_RATIO,
    }))


if __name__ == "__main__":
    main()
