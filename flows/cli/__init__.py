"""The `riskgate` command line: staff, experts and auditors drive cases from here.

Every failure a user can cause prints exactly one line, `error: …`, on stderr and exits
non-zero; bad arguments included (click's usage errors are caught and shortened). Commands
that need Prefect start or reuse the local stack first; the others never import Prefect, so
`riskgate rules …` and `riskgate case show` answer in well under a second.
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime

import typer

from cases.errors import InvalidRows, RiskGateError
from cases.text import neutralise
from flows.cli import (
    audit_cmd,
    case_cmd,
    db_cmd,
    decisions_cmd,
    demo_cmd,
    intake_cmd,
    portal_cmd,
    regroup_cmd,
    report_cmd,
    rules_cmd,
    server_cmd,
    sweep_cmd,
    users_cmd,
)
from reports.render import TemplateError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="RiskGate: rule-based expert risk assessment.")
app.add_typer(case_cmd.app, name="case", help="Open, run and inspect risk cases.")
regroup_cmd.register(case_cmd.app)  # case move-signal, case split
app.add_typer(case_cmd.score_app, name="score", help="Expert scores.")
app.add_typer(case_cmd.lab_app, name="lab", help="Laboratory results.")
app.add_typer(case_cmd.experts_app, name="experts", help="The expert roster.")
app.add_typer(decisions_cmd.disposal_app, name="disposal",
              help="Approve or override a proposed disposal (four-eyes).")
app.add_typer(decisions_cmd.follow_up_app, name="follow-up",
              help="Follow-up actions: progress, completion, closing with a reason.")
app.add_typer(decisions_cmd.enterprise_app, name="enterprise", help="Enterprise credit files.")
app.add_typer(users_cmd.app, name="users", help="Accounts of staff, approvers, auditors, admins.")
app.add_typer(rules_cmd.app, name="rules", help="Rulebooks: check, evaluate, print.")
app.add_typer(rules_cmd.risk_app, name="risk", help="The severity × probability matrix.")
app.add_typer(server_cmd.app, name="server", help="The local Prefect server and runner.")
app.add_typer(audit_cmd.app, name="audit", help="Verify the audit trail and reports.")
app.add_typer(db_cmd.app, name="db", help="The case store's schema (migrations).")
app.add_typer(intake_cmd.app, name="intake",
              help="Import signal files at volume, check mappings, launch the queue.")
app.add_typer(report_cmd.app, name="report",
              help="Catalogue, semi-monthly bulletin, special report; PDF copies, templates.")
app.command(name="sweep")(sweep_cmd.sweep)
app.command(name="demo")(demo_cmd.demo)
app.command(name="web")(portal_cmd.web)


def _fail(message: str | list[str], code: int) -> None:
    """On stderr: one line, whitespace collapsed and control characters shown, not obeyed; or,
    for several problems (InvalidRows), one such line each."""
    lines = [message] if isinstance(message, str) else message
    shown = [neutralise(" ".join(line.split())) for line in lines]
    print("error: " + "\n  ".join(shown), file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="riskgate", standalone_mode=False)
    except InvalidRows as exc:
        _fail(exc.lines, exc.exit_code)
    except RiskGateError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # typer's (vendored click's) usage errors
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help(), file=sys.stderr)
            sys.exit(2)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        _fail(where + exc.format_message(), getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except TemplateError as exc:  # a centre's report template (RISKGATE_TEMPLATES): its file
        _fail(f"report template refused: {exc}", 2)
    except Exception as exc:
        unreachable = _unreachable(exc)
        if unreachable is None:
            _internal(exc)
        else:
            _fail(unreachable, 5)
    sys.exit(code if isinstance(code, int) else 0)


def _unreachable(exc: Exception) -> str | None:
    """A server that stopped answering mid-command (Prefect killed, the network down) is not
    a bug: exit 5 with what could not be reached."""
    import httpx

    if isinstance(exc, httpx.TransportError):
        where = getattr(getattr(exc, "request", None), "url", "a server")
        return f"{where} stopped answering ({type(exc).__name__}); is the Prefect server " \
               "running? (`riskgate server status`)"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if type(exc).__name__ == "PrefectHTTPStatusError" and status in (502, 503, 504):
        return f"the Prefect server answered {status}; try again when it is up"
    return None


def _internal(exc: Exception) -> None:
    """A bug or a broken dependency: one line here, where in the code in the log."""
    if os.environ.get("RISKGATE_DEBUG") == "1":
        raise exc
    _fail(f"internal error: {type(exc).__name__}: {str(exc)[:200]} (where it happened: "
          f"{_log_traceback(exc)}; RISKGATE_DEBUG=1 shows the traceback here)", 70)


ERROR_LOG_BYTES, ERROR_LOG_KEPT = 1_000_000, 3


def _log_traceback(exc: Exception) -> str:
    """Where the failure happened, for developers: the command's words (no option values),
    the exception's type and the frames (file, line, function) — no messages, which can carry
    signal texts or rationales. The log rotates (1 MB, three kept) and is owner-only."""
    import logging
    from logging.handlers import RotatingFileHandler

    from cases.config import load_settings

    try:
        path = load_settings().logs_dir / "cli-errors.log"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        logger = logging.getLogger("riskgate.cli.errors")
        logger.propagate = False
        handlers = [h for h in logger.handlers if isinstance(h, RotatingFileHandler)
                    and h.baseFilename == str(path)]
        if not handlers:  # first failure of this process, or another RISKGATE_HOME
            for old in list(logger.handlers):
                logger.removeHandler(old)
                old.close()
            logger.addHandler(RotatingFileHandler(path, maxBytes=ERROR_LOG_BYTES,
                                                  backupCount=ERROR_LOG_KEPT,
                                                  encoding="utf-8"))
        words = [a for a in sys.argv[1:3] if a.isidentifier()]
        frames = "".join(f"  {f.filename}:{f.lineno} in {f.name}\n"
                         for f in traceback.extract_tb(exc.__traceback__))
        logger.error("--- %s riskgate %s: %s\n%s", datetime.now(UTC).isoformat(),
                     " ".join(words), type(exc).__name__, frames.rstrip("\n"))
        for handler in logger.handlers:
            handler.flush()
        return str(path)
    except Exception:  # never fail while reporting a failure
        return "(could not write the log)"
