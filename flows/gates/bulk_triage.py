"""Triage of an import's new cases in bulk: one pass over the batch, plain Python.

For each case at its first gate: its signals merged (intake), its facts decided by the triage
rulebook through durable-rules (triage) — exactly the functions the two gates use — and all of
a chunk's decisions recorded in one transaction (cases/bulk_commit.py). The two gates' reports
are rendered by the case's first flow run (flows/gates/owed.py), so a year's import is not
held up by thousands of Word documents. The Prefect flow `triage-intake` (flows/intake_flow.py)
runs this as one flow run over the import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cases import credit, intake_queue, lifecycle, store
from cases.bulk_commit import Decided, commit_intake_and_triage
from cases.commits import check_rulebook_version
from cases.config import Settings
from cases.db import database
from cases.facts import merge_signals
from cases.history import HistoryIndex
from flows.gates import intake, triage
from rules.rulebook import current_rulebook

CHUNK = 250  # cases decided, then recorded in one transaction


@dataclass
class BulkTriaged:
    priorities: dict[str, str] = field(default_factory=dict)  # case -> priority
    skipped: list[str] = field(default_factory=list)  # no longer at their first gate

    def by_priority(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for priority in self.priorities.values():
            counts[priority] = counts.get(priority, 0) + 1
        return dict(sorted(counts.items()))


def triage_cases(settings: Settings, case_ids: Iterable[str], *,
                 flow_run_id: str | None = None,
                 on_chunk: Callable[[int], None] | None = None) -> BulkTriaged:
    db = database(settings.database_url)
    rulebook = current_rulebook("triage")
    check_rulebook_version(db, rulebook.name, rulebook.version, rulebook.sha256)
    result = BulkTriaged()
    history, files = HistoryIndex.load(db), credit.FileKeys.load(db)
    pending = list(case_ids)
    for _attempt in range(2):  # a case whose signals changed meanwhile is decided once more
        changed: list[str] = []
        for start in range(0, len(pending), CHUNK):
            decided = []
            for d in store.load_dossiers(db, pending[start:start + CHUNK]):
                if (d.case.gate, d.case.state) != lifecycle.INITIAL:
                    result.skipped.append(d.case.id)
                    continue
                triaged = triage.decide(db, rulebook, d, history.of(d.case), files)
                decided.append(Decided(
                    d.case.id, d.case.opened_by, intake.outcome_of(d, merge_signals(d.signals)),
                    triaged.gate_commit(rulebook, d.case.id, owner="",
                                        flow_run_id=flow_run_id), len(d.signals)))
            recorded = commit_intake_and_triage(db, decided, flow_run_id=flow_run_id)
            result.priorities.update(recorded)
            changed += [d.case_id for d in decided if d.case_id not in recorded]
            if on_chunk:
                on_chunk(len(result.priorities) + len(result.skipped))
        pending = changed
        if not pending:
            break
    result.skipped += pending
    intake_queue.settle_triaged(db, [c for c in result.skipped if c not in pending])
    return result
