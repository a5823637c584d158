"""`riskgate server …`: the local Prefect server and runner."""

from __future__ import annotations

import typer

from cases.errors import InvalidInput
from flows.cli.common import console, prefect_ready, print_json, settings

app = typer.Typer(no_args_is_help=True)


@app.command("start")
def start() -> None:
    """Start (or reuse) the Prefect server and the runner that serves the deployments."""
    current = settings()
    stack = prefect_ready(current)
    console.print(f"Prefect server {stack.server}, runner {stack.runner}; UI: {stack.ui_url}")
    if not current.prefect_api_url:
        console.print(f"the UI and API require this home's secret: sign in with the line in "
                      f"{current.prefect_auth_file} (`riskgate server auth` prints it)")


@app.command("auth")
def auth() -> None:
    """Print the local Prefect server's credentials (user:password) to sign in to the UI."""
    from flows.stack import api_secret

    current = settings()
    if current.prefect_api_url:
        raise InvalidInput("PREFECT_API_URL is set: that server's credentials are yours "
                           "(PREFECT_API_AUTH_STRING), not this home's")
    print(api_secret(current))


@app.command("stop")
def stop() -> None:
    """Stop the server and runner this RISKGATE_HOME started."""
    from flows.stack import stop_stack

    stopped = stop_stack(settings())
    console.print("stopped: " + (", ".join(stopped) or "nothing was running"))


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Whether the server answers and the runner is alive."""
    from flows.stack import stack_status

    data = stack_status(settings())
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")
