"""``manage.py run_maintenance``: every periodic task once, one line each, non-zero on failure."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from models_registry.jobs.lock import task_lock
from models_registry.jobs.models import TaskRun
from models_registry.schedules import SCHEDULES
from tests.maintenance.conftest import age


def _run(*args) -> list[str]:
    out = StringIO()
    call_command("run_maintenance", *args, stdout=out)
    return out.getvalue().splitlines()


def _outcome(line: str) -> str:
    return line.split()[1]


def test_runs_every_periodic_task_once_in_embedded_mode(db):
    from models_registry import services
    from tests.factories import AIModelFactory, ProviderFactory

    old = AIModelFactory(provider=ProviderFactory(slug="acme"), name="old")
    services.ai_model_deactivate(ai_model=old)
    age(old, 365)

    lines = _run()

    assert [line.split()[0] for line in lines] == [s.task for s in SCHEDULES]
    assert [_outcome(line) for line in lines] == ["ok"] * len(SCHEDULES), "\n".join(lines)
    assert TaskRun.objects.filter(outcome="ok").count() == len(SCHEDULES)
    purge = next(line for line in lines if line.startswith("models_registry.tasks.purge_deactivated_models"))
    assert '"purged": 1' in purge
    assert _outcome(_run("--task", "purge deactivated models")[0]) == "ok"  # idempotent


def test_a_failed_task_is_reported_and_the_exit_status_is_non_zero(db, monkeypatch):
    import versioning.services

    def broken(**kwargs):
        raise ValueError("retention misconfigured")

    monkeypatch.setattr(versioning.services, "versions_prune", broken)
    out = StringIO()
    with pytest.raises(CommandError, match="1 task\\(s\\) failed: versioning.tasks.prune_versions"):
        call_command("run_maintenance", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(SCHEDULES)  # the others still ran
    failed = [line for line in lines if _outcome(line) == "failed"]
    assert len(failed) == 1 and "ValueError: retention misconfigured" in failed[0]


def test_a_task_that_is_running_elsewhere_is_skipped_not_failed(db):
    with task_lock("models_registry.tasks.prune_task_runs"):
        (line,) = _run("--task", "prune task runs")
    assert _outcome(line) == "skipped"


def test_transient_errors_are_retried_at_once(db, monkeypatch):
    from django.db import OperationalError

    import versioning.services

    failures = [OperationalError("connection reset")]

    def flaky(**kwargs):
        if failures:
            raise failures.pop()
        return 0

    monkeypatch.setattr(versioning.services, "rollback_requests_expire", flaky)
    (line,) = _run("--task", "expire rollback requests")
    assert _outcome(line) == "ok"
    assert list(
        TaskRun.objects.filter(name="versioning.tasks.expire_rollback_requests")
        .order_by("pk")
        .values_list("outcome", "attempt")
    ) == [("retrying", 1), ("ok", 2)]


def test_list_and_unknown_names():
    lines = _run("--list")
    assert len(lines) == len(SCHEDULES) and "*/5 * * * *" in lines[0]
    with pytest.raises(CommandError, match="Unknown task 'nope'"):
        _run("--task", "nope")
