"""`riskgate server …`: the local Prefect server and runner."""

from __future__ import annotations

import typer

from flows.cli.common import console, prefect_ready, print_json, settings

app = typer.Typer(no_args_is_help=True)


@app.command("start")
def start() -> None:
    """Start (or reuse) the Prefect server and the runner that serves the deployments."""
    stack = prefect_ready(settings())
    console.print(f"Prefect server {stack.server}, runner {stack.runner}; UI: {stack.ui_url}")


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
