"""The dry run of a mapping on a file (`riskgate intake check`): how the first rows map, and
which source words no value map covers, counted over the whole file.

Writing a mapping for a new feed is trial and error; this answers "what would the import do"
without storing anything, so the mapping is fixed before the first real run.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cases.feeds.mapping import Mapping
from cases.feeds.readers import file_format
from cases.feeds.stream import mapped_rows
from cases.text import neutralise

MAX_DISTINCT = 200  # unmapped words listed per field; the rest are counted together
_FIELD = re.compile(r" → ([^:]+):")


@dataclass(frozen=True)
class CheckRow:
    line: int
    reference: str
    fields: dict[str, Any]  # the signal's fields the mapping set (dotted paths), if accepted
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Unmapped:
    value: str
    count: int
    source: str  # the column (or key) it came from


@dataclass
class CheckReport:
    file: str
    mapping: str
    channel: str
    format: str
    rows: int = 0
    refused: int = 0
    samples: list[CheckRow] = field(default_factory=list)
    unmapped: dict[str, list[Unmapped]] = field(default_factory=dict)  # by signal field
    problems_by_field: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "mapping": self.mapping, "channel": self.channel,
            "format": self.format, "rows": self.rows, "refused": self.refused,
            "samples": [{"line": r.line, "reference": r.reference, "fields": r.fields,
                         "problems": list(r.problems)} for r in self.samples],
            "unmapped": {f: [{"value": u.value, "count": u.count, "source": u.source}
                             for u in values] for f, values in self.unmapped.items()},
            "problems_by_field": self.problems_by_field,
        }

    def render(self, console: _Console) -> None:
        render(self, console)

    def to_lines(self) -> list[str]:
        """The report as terminal lines, source text neutralised."""
        lines = [f"{self.file}: mapping {self.mapping} (channel {self.channel or 'per record'}"
                 f", {self.format}): {self.rows} rows, {self.refused} refused"]
        for sample in self.samples:
            state = "refused" if sample.problems else "ok"
            lines.append(f"line {sample.line} [{sample.reference or '-'}] {state}")
            lines += [f"    {p}" for p in sample.problems]
            for name, value in sample.fields.items():
                lines.append(f"    {name} = {_short(value)}")
        if self.problems_by_field:
            lines.append("problems by field (whole file):")
            lines += [f"    {name}: {count}" for name, count in self.problems_by_field.items()]
        if self.unmapped:
            lines.append("source values no value map covers (whole file):")
            for name, values in self.unmapped.items():
                lines.append(f"    {name}:")
                lines += [f"        {u.value!r} ×{u.count} ({u.source})" for u in values]
        return [neutralise(line) for line in lines]


class _Console(Protocol):
    def print(self, *objects: Any, markup: bool = ..., highlight: bool = ...) -> None: ...


def render(report: CheckReport, console: _Console) -> None:
    """Print the report on a rich console (no markup: the text is the source's)."""
    for line in report.to_lines():
        console.print(line, markup=False, highlight=False)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:99] + "…"


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            found.update(_flat(value, f"{prefix}{key}."))
        else:
            found[prefix + key] = value
    return found


def check(path: Path, mapping: Mapping, *, limit: int = 20) -> CheckReport:
    """Map the whole file without storing anything; detail the first `limit` rows."""
    report = CheckReport(file=str(path), mapping=mapping.name, channel=mapping.channel,
                         format=file_format(path, mapping.format))
    words: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    others: Counter[str] = Counter()
    by_field: Counter[str] = Counter()
    for mapped in mapped_rows(path, mapping):
        row = mapped.row
        report.rows += 1
        if row.signal is None:
            report.refused += 1
            for problem in row.problems:
                found = _FIELD.search(problem)
                by_field[found.group(1) if found else "(record)"] += 1
        for name, source, value in mapped.unmapped:
            counter = words[name]
            if (value, source) in counter or len(counter) < MAX_DISTINCT:
                counter[(value, source)] += 1
            else:
                others[name] += 1
        if len(report.samples) < limit:
            fields = (_flat(row.signal.model_dump(mode="json", exclude_unset=True))
                      if row.signal is not None else {})
            report.samples.append(CheckRow(row.line, row.reference, fields, row.problems))
    for name, counter in words.items():
        report.unmapped[name] = [Unmapped(v, n, s) for (v, s), n in counter.most_common()]
        if others[name]:
            report.unmapped[name].append(Unmapped("(other values)", others[name], ""))
    report.problems_by_field = dict(by_field.most_common())
    return report
