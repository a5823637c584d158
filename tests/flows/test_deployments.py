"""prefect.yaml is the one list of deployments; names read from it match the flows."""

from __future__ import annotations

from flows.deployments import load_specs


def test_flow_names_read_without_import_match_the_flows():
    specs = load_specs()
    assert {s.name for s in specs} == {"riskgate", "sweeper", "escalation-watch", "bulletin"}
    for spec in specs:
        assert spec.flow_name == spec.load_flow().name
    sweeper = next(s for s in specs if s.name == "sweeper")
    assert sweeper.interval == 60
    assert sweeper.concurrency == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    watch = next(s for s in specs if s.name == "escalation-watch")
    assert watch.interval == 86400 and watch.full_name == "escalation-watch/escalation-watch"
    assert watch.concurrency == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    bulletin = next(s for s in specs if s.name == "bulletin")
    assert (bulletin.cron, bulletin.timezone, bulletin.interval) == (
        "0 8 1,16 * *", "Asia/Shanghai", None)
    assert bulletin.full_name == "bulletin/bulletin"


def test_served_bulletin_runs_on_the_1st_and_16th_in_beijing():
    from flows.deployments import served_deployments

    served = {d.name: d for d in served_deployments()}
    schedule = served["bulletin"].schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 8 1,16 * *", "Asia/Shanghai")
    assert served["sweeper"].schedules[0].schedule.interval.total_seconds() == 60
