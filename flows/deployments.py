"""The deployments declared in prefect.yaml, and serving them on one machine.

prefect.yaml is the single list of deployments: `prefect deploy --all` registers it for work
pools at scale, and the local runner (flows/runner.py) builds the same deployments from it with
`serve()`, so names and descriptions cannot drift apart.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO_ROOT / "prefect.yaml"


SWEEP_SECONDS_ENV = "RISKGATE_SWEEP_SECONDS"  # the served sweeper's interval (tests shorten it)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # path/to/file.py:flow_function
    description: str
    tags: tuple[str, ...]
    interval: float | None = None  # seconds between scheduled runs, if scheduled
    concurrency: dict | None = None  # prefect.yaml's concurrency_limit (limit, strategy)
    cron: str | None = None  # a cron schedule instead (the bulletin: 1st and 16th)
    timezone: str | None = None  # the cron's time zone (IANA name)

    @property
    def module(self) -> str:
        path = self.entrypoint.partition(":")[0]
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.partition(":")[2]

    def load_flow(self):
        return getattr(importlib.import_module(self.module), self.function)

    @property
    def flow_name(self) -> str:
        """The flow's name, read from its `@flow(name=…)` without importing the module: the
        CLI starts runs by deployment name and should not pay for importing every gate."""
        path = REPO_ROOT / self.entrypoint.partition(":")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == self.function:
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Call) and getattr(decorator.func, "id",
                                                                   None) == "flow":
                        for keyword in decorator.keywords:
                            if keyword.arg == "name" and isinstance(keyword.value,
                                                                    ast.Constant):
                                return str(keyword.value.value)
        return str(self.load_flow().name)  # no literal name: ask the flow itself

    @property
    def full_name(self) -> str:
        """`flow-name/deployment-name`, as run_deployment wants it."""
        return f"{self.flow_name}/{self.name}"


def load_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = []
    for d in raw["deployments"]:
        intervals = [s["interval"] for s in d.get("schedules") or () if "interval" in s]
        crons = [s for s in d.get("schedules") or () if "cron" in s]
        specs.append(DeploymentSpec(name=d["name"], entrypoint=d["entrypoint"],
                                    description=" ".join(str(d.get("description", "")).split()),
                                    tags=tuple(d.get("tags", ())),
                                    interval=float(intervals[0]) if intervals else None,
                                    concurrency=d.get("concurrency_limit"),
                                    cron=str(crons[0]["cron"]) if crons else None,
                                    timezone=crons[0].get("timezone") if crons else None))
    return specs


def spec_for(entrypoint: str) -> DeploymentSpec:
    for spec in load_specs():
        if spec.entrypoint == entrypoint:
            return spec
    raise LookupError(f"prefect.yaml declares no deployment for {entrypoint}")


CASE_ENTRYPOINT = "flows/case_flow.py:advance_case"
SWEEP_ENTRYPOINT = "flows/sweep_flow.py:sweep"
ESCALATION_ENTRYPOINT = "flows/escalation_flow.py:escalation_watch"  # daily
BULLETIN_ENTRYPOINT = "flows/bulletin_flow.py:bulletin"  # the 1st and 16th


def case_deployment_name() -> str:
    return spec_for(CASE_ENTRYPOINT).full_name


def escalation_deployment_name() -> str:
    return spec_for(ESCALATION_ENTRYPOINT).full_name


def served_deployments() -> list:
    """RunnerDeployments for `serve()`, loaded by module path so the runner's cwd is irrelevant."""
    import os

    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    deployments = []
    for spec in load_specs():
        interval = spec.interval
        if interval is not None and os.environ.get(SWEEP_SECONDS_ENV) \
                and spec.entrypoint == SWEEP_ENTRYPOINT:
            interval = float(os.environ[SWEEP_SECONDS_ENV])
        limit = (ConcurrencyLimitConfig(**spec.concurrency) if spec.concurrency else None)
        cron = Cron(spec.cron, timezone=spec.timezone) if spec.cron else None
        deployments.append(spec.load_flow().to_deployment(
            name=spec.name, description=spec.description, tags=list(spec.tags),
            entrypoint_type=EntrypointType.MODULE_PATH, interval=interval, schedule=cron,
            concurrency_limit=limit))
    return deployments
