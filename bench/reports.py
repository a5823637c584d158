"""How long a gate report takes to render, against a python-docx document of the same size.

One case runs through every gate (no Prefect: gates.advance, with staff and experts played as
in the tests) and every report's context is kept as the gate gave it. Then, alternately in one
process: `render_report` of each gate from its kept context (template load, docxtpl, charts,
properties, reproducible zip, atomic write), and the baseline — python-docx building directly a
document with the same paragraphs and tables (the same text) and saving it. Medians over
`--runs`; the ratio compares the medians of all reports.

    python bench/reports.py [--runs 15] [--lang zh]

The last line is one JSON object: median_ms, baseline_median_ms, ratio, and per gate.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def kept_contexts(lang: str) -> list[tuple[str, dict, str]]:
    """(gate, context, lang) of every report of one case run through all gates."""
    from cases.config import load_settings
    from cases.db import database
    from flows import gates
    from flows.demo import seed_roster
    from flows.gates import common
    from tests.helpers import advance_with_people, archetypes, open_archetype

    kept: list[tuple[str, dict, str]] = []
    real = common.render_report

    def keep(name, context, *, lang, out_path, templates_dir=None):
        kept.append((name, dict(context), lang))
        return real(name, context, lang=lang, out_path=out_path, templates_dir=templates_dir)

    common.render_report = keep
    settings = load_settings()
    seed_roster(settings)
    db = database(settings.database_url)
    truth = archetypes()["toy_choking"].truth
    case_id, _ = open_archetype(db, "toy_choking", lang=lang, tag="bench")
    gates.advance(settings, case_id)
    advance_with_people(settings, db, case_id, truth)
    common.render_report = real
    return kept


def shape(path: Path) -> tuple[list[str], list[list[list[str]]]]:
    """The paragraphs' and tables' text of a rendered report (read once, outside the timing)."""
    from docx import Document

    source = Document(path)
    return ([p.text for p in source.paragraphs],
            [[[c.text for c in row.cells] for row in t.rows] for t in source.tables])


def baseline(content: tuple[list[str], list[list[list[str]]]], out: Path) -> None:
    """python-docx building the same paragraphs and tables directly, then saving."""
    from docx import Document

    paragraphs, tables = content
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    for rows in tables:
        table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
        for row, cells in zip(table.rows, rows, strict=True):
            for cell, text in zip(row.cells, cells, strict=False):
                cell.text = text
    buffer = io.BytesIO()
    document.save(buffer)
    out.write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lang", default="zh", choices=("zh", "en"))
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="riskgate-bench-reports-"))
    os.environ["RISKGATE_HOME"] = str(home)
    os.environ["RISKGATE_DATABASE_URL"] = f"sqlite:///{home / 'riskgate.db'}"
    os.environ["RISKGATE_PDF_ARCHIVE"] = "off"
    from reports.render import render_report

    contexts = kept_contexts(args.lang)
    out = home / "bench"
    out.mkdir()
    shapes = []
    for n, (gate, context, lang) in enumerate(contexts):
        render_report(gate, context, lang=lang, out_path=out / f"{n}.docx")
        shapes.append(shape(out / f"{n}.docx"))
    times: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for n, (gate, context, lang) in enumerate(contexts):
            key = f"{gate}#{n}" if sum(g == gate for g, _, _ in contexts) > 1 else gate
            target = out / f"{n}.docx"
            started = time.perf_counter()
            render_report(gate, context, lang=lang, out_path=target)
            times.setdefault(key, []).append(time.perf_counter() - started)
            started = time.perf_counter()
            baseline(shapes[n], out / f"{n}-baseline.docx")
            base.setdefault(key, []).append(time.perf_counter() - started)
    per_gate = {key: {"median_ms": round(statistics.median(v) * 1000, 1),
                      "baseline_median_ms": round(statistics.median(base[key]) * 1000, 1)}
                for key, v in times.items()}
    median = statistics.median(x for v in times.values() for x in v) * 1000
    base_median = statistics.median(x for v in base.values() for x in v) * 1000
    for key, row in per_gate.items():
        print(f"{key:<14} {row['median_ms']:>7.1f} ms   baseline {row['baseline_median_ms']:>7.1f}"
              " ms", file=sys.stderr)
    print(json.dumps({"median_ms": round(median, 1), "baseline_median_ms": round(base_median, 1),
                      "ratio": round(median / base_median, 2), "runs": args.runs,
                      "lang": args.lang, "reports": len(contexts), "per_gate": per_gate}))


if __name__ == "__main__":
    main()
