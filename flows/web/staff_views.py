"""What the console's and the auditor's pages show, as plain values for the templates: names of
codes in the page's language, times in the centre's zone, each gate's decision in a line, the
form choices. No storage here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.case_file import CaseFile, GateStep
from cases.lifecycle import GATES, STATES
from cases.regroup import regroupable
from experts.notices import when
from rules.domain import Lang, domain
from rules.risk_matrix import LEVEL_NAMES, LEVELS
from rules.rulebook import current_rulebook

VOCABULARIES = ("channels", "categories", "hazards", "target_users", "sale_channels",
                "credit_classes", "measures", "authorities", "progress", "action_statuses",
                "scopes", "industries")


def shown_lang(lang: str) -> Lang:
    return "en" if lang == "en" else "zh"


class Names:
    """Names of codes in one language, for the templates: `names.of("measures", code)`."""

    def __init__(self, lang: str) -> None:
        self.lang: Lang = shown_lang(lang)
        self.vocab = domain()

    def of(self, kind: str, code: str | None) -> str:
        if code is None or code == "":
            return "—"
        return self.vocab.vocabulary(kind).name(code, self.lang)

    def all(self, kind: str, codes: list[str] | None) -> str:
        separator = "、" if self.lang == "zh" else ", "
        return separator.join(self.of(kind, c) for c in codes or []) or "—"

    def choices(self, kind: str) -> list[tuple[str, str]]:
        vocabulary = self.vocab.vocabulary(kind)
        return [(code, vocabulary.name(code, self.lang)) for code in vocabulary.codes()]

    def level(self, code: str | None) -> str:
        return LEVEL_NAMES[code][self.lang] if code in LEVEL_NAMES else "—"

    def levels(self) -> list[tuple[str, str]]:
        return [(code, LEVEL_NAMES[code][self.lang]) for code in LEVELS]

    def progress_fields(self, measure: str) -> list[tuple[str, str, str]]:
        """(name, label, kind) of a measure's progress fields."""
        return [(f, self.of("progress", f), self.vocab.progress.attr(f, "kind"))
                for f in self.vocab.progress_fields(measure)]

    @staticmethod
    def kv(mapping: dict[str, Any] | None) -> str:
        """`field=value; …` as the reports print a rule's tested values and outcome."""
        def plain(value: Any) -> str:
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, list | tuple):
                return ", ".join(plain(v) for v in value) or "—"
            return "—" if value is None else str(value)
        return "; ".join(f"{k}={plain(v)}" for k, v in (mapping or {}).items()) or "—"

    def rule_title(self, rule_id: str) -> str:
        for kind in ("triage", "disposal"):
            rule = current_rulebook(kind).by_id.get(rule_id)
            if rule is not None:
                return str(rule.title.get(self.lang, rule_id))
        return rule_id


def moment(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return when(value)


def gate_line(step: GateStep, names: Names, t: Any) -> str:
    """One gate's decision in a line, in the page's language."""
    o = step.outcome
    if step.gate == "intake":
        return t("case.line.intake", signals=o.get("signals", 1),
                 channel=names.of("channels", o.get("channel")))
    if step.gate == "triage":
        return t("case.line.triage", priority=o.get("priority") or "—",
                 risk=names.level(o.get("risk")), next=t(f"next_gate.{o.get('next_gate')}"))
    if step.gate == "lab_test":
        return t("case.line.lab", evidence=o.get("evidence", "—"), results=o.get("results", 0))
    if step.gate == "panel":
        return t("case.line.panel", members=len(o.get("panel", [])))
    if step.gate == "assessment":
        return t("case.line.assessment", level=names.level(o.get("risk_level")),
                 consensus=t("ui.answer_yes") if o.get("consensus") else t("ui.answer_no"),
                 rounds=o.get("rounds", 1))
    if step.gate == "disposal":
        approval = o.get("approval") or {}
        return t("case.line.disposal",
                 measures=names.all("measures", [m["code"] for m in o.get("measures", [])]),
                 status=t(f"approval.{approval.get('status', 'approved')}"))
    if step.gate == "follow_up":
        rows = o.get("actions", [])
        return t("case.line.follow_up", done=sum(1 for a in rows if a["status"] == "completed"),
                 total=len(rows))
    if step.gate == "closure":
        return t("case.line.closure", level=names.level(o.get("risk_level")))
    return ""


def grouping_words(grouping: dict[str, Any] | None, t: Any) -> str:
    """Why a signal is in its case, in the page's language (`grouping.<how>`; a similar
    product or a near-duplicate with its score, a move or split with who, whence and why)."""
    found = grouping or {}
    how = str(found.get("how") or "unknown")
    params = {"score": found.get("score", "—"), "from_case": found.get("from", "—"),
              "by": found.get("by", "—"), "reason": found.get("reason", "")}
    try:
        return str(t(f"grouping.{how}", **params))
    except KeyError:  # a kind this page has no words for: the text stored with it
        return str(found.get("why") or how)


def case_context(file: CaseFile, lang: str, t: Any) -> dict[str, Any]:
    """Everything the case page shows."""
    names = Names(lang)
    d = file.dossier
    triage = d.decision("triage")
    triage_record = d.gate_record("triage")
    rounds = [{"round_no": r.round_no, "status": r.status, "quorum": r.quorum,
               "deadline": moment(r.deadline_at), "opened": moment(r.opened_at),
               "closed": moment(r.closed_at), "result": r.result or {},
               "submitted": len(d.scores_of(r.round_no))}
              for r in sorted(d.rounds, key=lambda r: r.round_no)]
    return {
        "file": file, "case": d.case, "names": names, "moment": moment,
        "timeline": [{"step": s, "line": gate_line(s, names, t)} for s in file.timeline],
        "signals": [{"row": row, "signal": sig, "why": grouping_words(row.grouping, t)}
                    for row, sig in zip(d.signal_rows, d.signals, strict=True)],
        "can_regroup": regroupable(d.case) and len(d.signal_rows) > 1,
        "triage": triage, "credit_evidence": (triage_record.outcome.get("credit_file")
                                              if triage_record else None),
        "seats": d.seats, "rounds": rounds, "lab": d.lab_evidence(),
        "review": file.review, "actions": file.actions, "notices": file.notices,
        "scenarios": file.scenarios, "events": list(reversed(file.events)),
        "credit": file.credit_file, "links": file.links,
        "can_describe": d.case.gate in ("intake", "triage", "lab_test", "panel"),
        "gates": GATES, "states": STATES,
    }


def signal_form_choices(lang: str) -> dict[str, Any]:
    names = Names(lang)
    return {"names": names, "channels": names.choices("channels"),
            "categories": names.choices("categories"), "hazards": names.choices("hazards"),
            "target_users": names.choices("target_users"),
            "sale_channels": names.choices("sale_channels"),
            "credit_classes": names.choices("credit_classes")}
