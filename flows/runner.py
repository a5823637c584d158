"""The local runner: `python -m flows.runner` serves prefect.yaml's deployments.

Started in the background by `riskgate server start` (flows/stack.py). Each flow run executes in
its own subprocess, so a run killed mid-gate takes down only itself.
"""

from __future__ import annotations

from prefect import serve

from flows.deployments import served_deployments

# Enough for a handful of cases advancing at once on a 2-core machine; more only queue.
CONCURRENT_RUNS = 8


def main() -> None:
    serve(*served_deployments(), limit=CONCURRENT_RUNS)


if __name__ == "__main__":
    main()
