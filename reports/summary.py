"""A few lines of markdown per gate for the Prefect UI (an artifact), not for auditors.

The Word report is the record; this summary only makes a run readable where operators look.
"""

from __future__ import annotations

from typing import Any

from reports.i18n import Catalog


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items()) or "—"
    return "—" if value is None else str(value)


def gate_markdown(case_id: str, result, lang: str) -> str:
    """`result` is a flows.gates.StepResult (duck-typed to keep reports free of flows)."""
    t = Catalog.load(lang).t
    gate_name = t(f"gate.{result.gate}")
    lines = [f"### {case_id} · {gate_name}", ""]
    status = t("summary.completed") if result.completed else t("summary.waiting")
    lines.append(f"- **{t('summary.status')}**: {status} → {result.next_gate} ({result.state})")
    for key, value in result.summary.items():
        lines.append(f"- **{key}**: {_value(value)}")
    if result.report:
        lines.append(f"- **{t('summary.report')}**: `{result.report}`")
    return "\n".join(lines)
