"""The expert portal from the command line: serve it, hand out and revoke personal links,
describe scenarios, give a stalled round more time."""

from __future__ import annotations

from typing import Annotated

import typer

from cases import links, panel_changes, scenarios
from cases.errors import InvalidInput
from cases.roles import Action
from flows.cli.case_cmd import app as case_app
from flows.cli.case_cmd import experts_app
from flows.cli.common import (
    AsUser,
    acting,
    console,
    db,
    prefect_ready,
    print_json,
    settings,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def web(
    port: Annotated[int | None, typer.Option(min=1, max=65535,
                                             help="Port (default RISKGATE_WEB_PORT, 8000).")]
    = None,
    host: Annotated[str | None, typer.Option(help="Address (default RISKGATE_WEB_HOST, "
                                                  "127.0.0.1).")] = None,
) -> None:
    """Serve the expert portal (FastAPI under uvicorn) until interrupted."""
    import uvicorn

    current = settings()
    if port is not None or host is not None:
        from dataclasses import replace

        chosen_host, chosen_port = host or current.web_host, port or current.web_port
        public = current.public_url
        if public == f"http://{current.web_host}:{current.web_port}":
            public = f"http://{chosen_host}:{chosen_port}"
        current = replace(current, web_host=chosen_host, web_port=chosen_port,
                          public_url=public)
    prefect_ready(current)  # a closed round starts its continuation on this stack
    from flows.web.app import create_app

    console.print(f"expert portal on {current.public_url} (Ctrl-C stops it)", markup=False)
    uvicorn.run(create_app(current), host=current.web_host, port=current.web_port,
                log_level="warning", proxy_headers=bool(current.web_trusted_proxy),
                forwarded_allow_ips=current.web_trusted_proxy or None)


@experts_app.command("link")
def experts_link(
    case_id: Annotated[str, typer.Option("--case", help="Case id.")],
    expert_id: Annotated[str, typer.Option("--expert", help="Expert id.")],
    days: Annotated[int | None, typer.Option(min=1, max=90, help="Valid for (default 14).")]
    = None,
    as_json: JsonFlag = False,
    as_user: AsUser = None,
) -> None:
    """Print a new personal link of an expert seated on a case (the full URL)."""
    current = settings()
    person = acting(as_user, Action.MANAGE_PANEL, current)
    database = db(current)
    from cases.portal import seat_of

    with database.read_session() as session:
        seat_of(session, case_id, expert_id)  # refuses a reserve, a seat left, no seat
    link = links.create_link(database, current, expert_id=expert_id, case_id=case_id,
                             by=person.actor, days=days)
    if as_json:
        print_json({"url": link.url, "link": link.id, "expert_id": expert_id,
                    "case_id": case_id, "expires_at": link.expires_at.isoformat()})
        return
    console.print(link.url, markup=False, soft_wrap=True)


@experts_app.command("revoke")
def experts_revoke(
    expert_id: Annotated[str | None, typer.Option("--expert", help="Every live link of this "
                                                                   "expert.")] = None,
    link_id: Annotated[str | None, typer.Option("--link", help="One link, by its id.")] = None,
    as_user: AsUser = None,
) -> None:
    """Revoke personal links; the expert's open portal sessions end too."""
    person = acting(as_user, Action.MANAGE_PANEL)
    revoked, ended = links.revoke(db(), by=person.actor, link_id=link_id,
                                  expert_id=expert_id)
    console.print(f"{revoked} link(s) revoked, {ended} session(s) ended", markup=False)


@case_app.command("scenario")
def case_scenario(
    case_id: str,
    description: Annotated[str, typer.Option(help="What happens, to whom, how they are hurt.")],
    population: Annotated[str, typer.Option(help="Who is hurt: a target_users code.")]
    = "general",
    as_user: AsUser = None,
) -> None:
    """Describe an injury scenario for the panel to score (before the panel sits)."""
    person = acting(as_user, Action.DESCRIBE_SCENARIOS)
    number = scenarios.add(db(), case_id, description=description, population=population,
                           by=person.actor)
    console.print(f"{case_id}: scenario {number} described", markup=False)


@case_app.command("seat")
def case_seat(case_id: str, as_json: JsonFlag = False, as_user: AsUser = None) -> None:
    """Seat experts from the roster on a round that can no longer reach its quorum: as many
    as it lacks, the best-ranked eligible experts not yet on this panel (each is mailed)."""
    current = settings()
    person = acting(as_user, Action.MANAGE_PANEL, current)
    change = panel_changes.seat_more(db(current), current, case_id, by=person.actor)
    from cases import mail

    sent = mail.deliver(db(current), current)
    if as_json:
        print_json({"case_id": case_id, "seated": change.called, "mail_sent": sent.sent})
        return
    console.print(f"{case_id}: seated {', '.join(change.called)}; the round waits for scores "
                  f"again; {sent.sent} mail(s) sent", markup=False)


@case_app.command("extend")
def case_extend(
    case_id: str,
    days: Annotated[int, typer.Option(help="New deadline: this many days from now.")] = 7,
    as_user: AsUser = None,
) -> None:
    """Give a round that can no longer reach its quorum more time (the panel is mailed)."""
    if days < 1:
        raise InvalidInput(f"--days {days}: give 1 to 90 days")
    current = settings()
    person = acting(as_user, Action.MANAGE_PANEL, current)
    panel_changes.extend_round(db(current), current, case_id, days=days, by=person.actor)
    from cases import mail

    sent = mail.deliver(db(current), current)
    console.print(f"{case_id}: round extended by {days} days; {sent.sent} mail(s) sent",
                  markup=False)
