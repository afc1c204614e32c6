"""Two concurrent runs of the same task do the work once: the second records ``skipped``.

Two threads (two database sessions) apply the same task; the first is held inside its service
until the second has finished. Run with each lock backend on PostgreSQL (the worker test in
``test_worker.py`` covers two OS processes)."""

import threading

import pytest

from models_registry.jobs.models import TaskRun
from tests.maintenance.conftest import Worker, outcomes, runs
from versioning import tasks as versioning_tasks

pytestmark = pytest.mark.postgres

NAME = "versioning.tasks.expire_rollback_requests"


@pytest.fixture
def blocking_service(monkeypatch):
    """``rollback_requests_expire`` replaced by one that counts calls and waits to be released."""
    import versioning.services

    state = {"calls": 0, "entered": threading.Event(), "release": threading.Event()}

    def slow_expire(**kwargs):
        state["calls"] += 1
        state["entered"].set()
        assert state["release"].wait(10), "never released"
        return 4

    monkeypatch.setattr(versioning.services, "rollback_requests_expire", slow_expire)
    return state


def test_two_overlapping_runs_do_the_work_once(lock_backend, transactional_db, blocking_service):
    task = versioning_tasks.expire_rollback_requests
    first = Worker(lambda: task.apply(throw=False))
    first.start()
    assert blocking_service["entered"].wait(10), "the first run never started its work"

    second = Worker(lambda: task.apply(throw=False))
    second.start()
    second.join(10)
    assert second.error is None and second.result.successful()
    assert second.result.result == {"skipped": True}
    assert outcomes(NAME) == ["running", "skipped"]  # the first is still working

    blocking_service["release"].set()
    first.join(10)
    assert first.error is None and first.result.result == {"expired": 4}

    assert blocking_service["calls"] == 1
    ok, skipped = runs(NAME)
    assert (ok.outcome, skipped.outcome) == ("ok", "skipped")
    assert skipped.result == {"skipped": "another run of this task holds the lock"}
    assert skipped.started_at >= ok.started_at

    # The lock is free again: the next run does the work.
    blocking_service["release"].set()
    assert task.apply().result == {"expired": 4}
    assert blocking_service["calls"] == 2
    assert TaskRun.objects.filter(name=NAME, outcome="ok").count() == 2
