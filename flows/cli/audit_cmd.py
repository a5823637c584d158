"""`riskgate audit …`: prove nothing in the trail, the records or the reports changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cases.audit import head as chain_head
from cases.audit import verify as verify_trail
from cases.errors import InvalidInput, RiskGateError
from cases.inputs import read_text
from flows.cli.common import console, db, print_json, settings

app = typer.Typer(no_args_is_help=True)


class AuditFailed(RiskGateError):
    exit_code = 7


ANCHOR_FILE_BYTES = 4_096  # `riskgate audit anchor --out` writes one line of ~90 bytes
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@app.command("verify")
def verify(
    as_json: JsonFlag = False,
    anchor: Annotated[str | None, typer.Option(
        help="A chain head recorded earlier (SEQ:SHA256 from `riskgate audit anchor`), or "
             "@FILE.")] = None,
) -> None:
    """Check the hash chain, every record against it, and every report file."""
    current = settings()
    if anchor is not None and anchor.startswith("@"):
        # bounded like every file RiskGate reads: a FIFO or /dev/zero is refused unread
        words = read_text(Path(anchor[1:]), ANCHOR_FILE_BYTES, what="anchor file").split()
        if not words:
            raise InvalidInput(f"--anchor {anchor[:80]}: the anchor file is empty")
        anchor = words[0]
    result = verify_trail(db(current), current.home, anchor=anchor)
    if as_json:
        print_json({"ok": result.ok, "events": result.events, "records": result.records,
                    "reports": result.reports, "pdfs": result.pdfs, "data": result.data,
                    "head": result.head,
                    "problems": result.problems})
    else:
        console.print(f"{result.events} audit events, {result.records} records, "
                      f"{result.reports} reports ({result.pdfs} with a PDF copy, "
                      f"{result.data} with their data) checked")
        for problem in result.problems:
            console.print(f"✗ {problem}", style="red", markup=False, highlight=False)
    if not result.ok:
        raise AuditFailed(f"{len(result.problems)} problem(s): {result.problems[0]}")
    if not as_json:
        console.print("✓ chain intact, every record matches it, every report matches its "
                      "manifest entry" + (f"; anchor {anchor[:20]}… holds" if anchor else ""),
                      style="green", markup=False)


@app.command("anchor")
def anchor(
    out: Annotated[Path | None, typer.Option(help="Also write the anchor to this file.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the chain head (SEQ:SHA256) to record outside the system."""
    found = chain_head(db())
    if found is None:
        raise InvalidInput("the audit log is empty: nothing to anchor yet")
    if out is not None:
        try:
            out.write_text(found["anchor"] + "\n", encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"{out}: cannot write ({exc.strerror})") from None
    if as_json:
        print_json(found)
    else:
        print(found["anchor"])


@app.command("rerender")
def rerender(
    case_ids: Annotated[list[str] | None, typer.Argument(
        metavar="[CASE]...", help="Cases whose reports to render again (default: all).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Render every report again from the data stored beside it and check it is the same file
    (the manifest's SHA-256); a template changed since is said, not counted."""
    from flows.rerender import PROBLEMS, SAME
    from flows.rerender import rerender as render_again

    current = settings()
    found = render_again(current, db(current), case_ids or [])
    problems = [r for r in found if r.status in PROBLEMS]
    if as_json:
        print_json({"ok": not problems, "reports": [r.to_dict() for r in found]})
    else:
        for r in found:
            style = "red" if r.status in PROBLEMS else None
            console.print(f"{r.case_id}  {r.report}  {r.status}"
                          + (f"  ({r.detail})" if r.detail else ""), style=style,
                          markup=False, highlight=False)
        console.print(f"{len(found)} reports: "
                      + ", ".join(f"{sum(r.status == s for r in found)} {s}"
                                  for s in sorted({r.status for r in found})), markup=False)
    if problems:
        raise AuditFailed(f"{len(problems)} report(s) not the rendering of their data: "
                          f"{problems[0].report} {problems[0].status}")
    if found and not any(r.status == SAME for r in found):
        raise AuditFailed(f"none of {len(found)} report(s) could be compared "
                          f"({found[0].status}: {found[0].detail}); nothing was proved")
