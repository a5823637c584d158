"""Which tags each report's template may use and must carry: one table, checked both ways.

`render_report` refuses a context key that is not listed here (so the table cannot fall behind
the code), and `check_templates` refuses a template that uses a tag not listed or lacks one every
report must carry, naming the template file and the tag. A centre's restyled template is checked
at start (`riskgate report templates`, and every command that starts the server and the
runner), and rendered with a real report's data (reports/samples/), not at the first case that
reaches its gate.
"""

from __future__ import annotations

# Given by the gate step to every gate report (flows/gates/common.write_report).
GATE_COMMON = frozenset({"case", "case_id", "gate", "round", "generated_at", "actor",
                         "launched_by"})
# Added by the renderer to every report (reports/render.py).
RENDERER = frozenset({"template_version", "gate_name", "report_title", "issuer", "issued_on",
                      "report_identity", "data_hash", "renderer", "lang", "t"})
PERIODIC_COMMON = frozenset({"case_id", "gate", "generated_at", "generated_by"})

CONTEXT: dict[str, frozenset[str]] = {
    "intake": GATE_COMMON | {"signals", "profile", "escalation"},
    "triage": GATE_COMMON | {"decision", "rulebook", "resolution", "credit_file"},
    "lab_test": GATE_COMMON | {"commissioned", "results", "evidence"},
    "panel": GATE_COMMON | {"protocol", "selection", "experts", "request"},
    "assessment": GATE_COMMON | {"protocol", "rounds", "scores", "outcome_step", "history"},
    "disposal": GATE_COMMON | {"decision", "final", "rulebook", "assessment", "comparison"},
    "follow_up": GATE_COMMON | {"actions", "notices", "closed_by_staff"},
    "closure": GATE_COMMON | {"gates", "reports", "final", "signals", "actions", "approval"},
    "catalogue": PERIODIC_COMMON | {"c", "budget", "rules", "categories", "pairs", "plan"},
    "bulletin": PERIODIC_COMMON | {"b", "breakdown", "escalations"},
    "special": PERIODIC_COMMON | {"s", "cases"},
}

# Drawn by the renderer from a report's data (reports/figures.py), never stored: the data stays
# plain JSON, and a figure is the same whenever it is drawn from the same data.
DERIVED: dict[str, frozenset[str]] = {"assessment": frozenset({"matrix", "charts"}),
                                      "bulletin": frozenset({"charts"})}

# Every report must show these (DESIGN.md, "What every gate report carries"): whose case, which
# report, when, which template; gate reports also who acted and the hash of their data.
REQUIRED_ALL = frozenset({"case_id", "report_title", "generated_at", "template_version",
                          "report_identity"})
REQUIRED: dict[str, frozenset[str]] = {
    name: REQUIRED_ALL | ({"actor", "data_hash"} if "actor" in keys else set())
    for name, keys in CONTEXT.items()
}


def supplied(name: str) -> frozenset[str]:
    """Every tag a template of report `name` may use."""
    try:
        return CONTEXT[name] | RENDERER | DERIVED.get(name, frozenset())
    except KeyError:
        raise ValueError(f"no report named {name!r}; known: {', '.join(sorted(CONTEXT))}") \
            from None
