"""Task attempts and their recorded outcomes; the retry/time-limit policy of every task."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from models_registry import alerts
from models_registry.jobs import base, policy
from models_registry.jobs.base import MaintenanceTask, dispatch_on_commit
from models_registry.jobs.models import TaskRun
from models_registry.jobs.runner import jsonable, run_task
from models_registry.management.commands.run_maintenance import apply_once
from models_registry.schedules import SCHEDULES
from models_registry.tasks import prune_task_runs
from tests.maintenance.conftest import outcomes, runs
from versioning import tasks as versioning_tasks

PRUNE = "versioning.tasks.prune_versions"


@pytest.fixture
def prune_service(monkeypatch):
    """Replace ``versioning.services.versions_prune`` with a script of results/exceptions."""
    import versioning.services

    calls = []
    script = []

    def fake(**kwargs):
        calls.append(kwargs)
        step = script.pop(0) if script else 3
        if isinstance(step, BaseException):
            raise step
        return step

    monkeypatch.setattr(versioning.services, "versions_prune", fake)
    return calls, script


def test_a_successful_run_records_ok_with_its_result_and_duration(db, prune_service):
    result = versioning_tasks.prune_versions.apply()
    assert result.successful() and result.result == {"pruned": 3}
    (run,) = runs(PRUNE)
    assert run.outcome == TaskRun.Outcome.OK
    assert run.result == {"pruned": 3}
    assert run.task_id == result.id and run.attempt == 1
    assert run.finished_at >= run.started_at and run.duration_ms >= 0
    assert run.error == "" and run.hostname


def test_transient_errors_are_retried_and_each_attempt_recorded(db, prune_service):
    calls, script = prune_service
    script += [OperationalError("server closed the connection"), RedisConnectionError("refused"), 7]
    result = apply_once(versioning_tasks.prune_versions)
    assert result.successful() and result.result == {"pruned": 7}
    assert len(calls) == 3
    assert outcomes(PRUNE) == ["retrying", "retrying", "ok"]
    assert [r.attempt for r in runs(PRUNE)] == [1, 2, 3]
    assert {r.task_id for r in runs(PRUNE)} == {result.id}
    assert "OperationalError: server closed the connection" in runs(PRUNE)[0].error


def test_retries_stop_at_max_retries_and_the_last_attempt_fails(db, prune_service):
    calls, script = prune_service
    script += [RedisTimeoutError("slow")] * 50
    raised = []
    alerts.alert_raised.connect(lambda **kw: raised.append(kw), weak=False, dispatch_uid="t-retries")
    try:
        result = apply_once(versioning_tasks.prune_versions)
    finally:
        alerts.alert_raised.disconnect(dispatch_uid="t-retries")
    assert result.failed()
    max_retries = versioning_tasks.prune_versions.max_retries
    assert len(calls) == max_retries + 1
    assert outcomes(PRUNE) == ["retrying"] * max_retries + ["failed"]
    assert [a["kind"] for a in raised] == ["task_failed"]  # one alert, for the final failure only


def test_a_non_transient_error_fails_at_once_and_raises_an_alert(db, prune_service, caplog):
    calls, script = prune_service
    script.append(ValueError("bad data"))
    raised = []
    alerts.alert_raised.connect(lambda **kw: raised.append(kw), weak=False, dispatch_uid="t-fail")
    try:
        result = versioning_tasks.prune_versions.apply(throw=False)
    finally:
        alerts.alert_raised.disconnect(dispatch_uid="t-fail")
    assert result.failed() and isinstance(result.result, ValueError)
    assert len(calls) == 1
    (run,) = runs(PRUNE)
    assert run.outcome == "failed" and run.error == "ValueError: bad data"
    assert raised[0]["kind"] == "task_failed" and raised[0]["severity"] == "error"
    assert raised[0]["context"]["task"] == PRUNE and raised[0]["context"]["task_run"] == run.pk


def test_a_soft_time_limit_is_recorded_as_a_failure(db, prune_service):
    prune_service[1].append(SoftTimeLimitExceeded())
    result = versioning_tasks.prune_versions.apply(throw=False)
    assert result.failed()
    (run,) = runs(PRUNE)
    assert run.outcome == "failed" and run.error.startswith("SoftTimeLimitExceeded")


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.task)
def test_every_scheduled_task_has_the_policy(schedule):
    from django.utils.module_loading import import_string

    task = import_string(schedule.task)
    assert isinstance(task, MaintenanceTask)
    assert task.name == schedule.task
    for error in (OperationalError, RedisConnectionError, RedisTimeoutError):
        assert error in task.autoretry_for
    assert task.retry_backoff is True and task.retry_jitter is True
    assert task.retry_backoff_max == policy.retry_backoff_max() > 0
    assert task.max_retries == policy.max_retries() > 0
    assert 0 < task.soft_time_limit < task.time_limit == policy.time_limit()
    assert task.acks_late is True and task.ignore_result is True
    assert policy.lock_ttl() > task.time_limit  # a killed run's lock outlives no longer than needed


def test_the_backoff_is_exponential_capped_and_jittered():
    from celery.utils.time import get_exponential_backoff_interval

    cap = policy.retry_backoff_max()
    assert get_exponential_backoff_interval(1, 3, cap, full_jitter=False) == 8
    assert get_exponential_backoff_interval(1, 30, cap, full_jitter=False) == cap
    samples = {get_exponential_backoff_interval(1, 6, cap, full_jitter=True) for _ in range(50)}
    assert len(samples) > 1 and max(samples) <= 64


def test_run_task_called_directly_records_a_run(db):
    assert run_task(name="test.direct", fn=lambda *, n: {"n": n}, kwargs={"n": 2}) == {"n": 2}
    (run,) = runs("test.direct")
    assert run.outcome == "ok" and run.task_id.startswith("direct-")


def test_jsonable():
    @dataclass
    class Thing:
        price: Decimal
        when: dt.date

    class WithAsDict:
        def as_dict(self):
            return {"x": (1, 2)}

    assert jsonable({"a": [Thing(Decimal("1.50"), dt.date(2025, 1, 2))], 3: WithAsDict(), "s": {1}}) == {
        "a": [{"price": "1.50", "when": "2025-01-02"}],
        "3": {"x": [1, 2]},
        "s": [1],
    }


def test_dispatch_on_commit_sends_the_task_only_after_the_commit(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dispatch_on_commit(prune_task_runs)
        assert not TaskRun.objects.filter(name=prune_task_runs.name).exists()
    assert len(callbacks) == 1
    assert outcomes(prune_task_runs.name) == ["ok"]


def test_maintenance_task_registers_a_shared_task():
    def example():
        return {"ok": True}

    task = base.maintenance_task("tests.maintenance.example")(example)
    assert isinstance(task, MaintenanceTask) and task.name == "tests.maintenance.example"
    assert base.maintenance_task("tests.maintenance.lambda")(lambda: 1).name == "tests.maintenance.lambda"
