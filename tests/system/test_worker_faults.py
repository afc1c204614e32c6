"""A Celery worker killed (SIGKILL) in the middle of a task: no partial state, the task completes
on redelivery, nothing is done twice.

Real worker subprocesses (``tests.system.worker_fault_helpers``: prefork, one pool process) on
Redis database ``MR_TEST_FAULT_DB`` (default 13) as the broker, against this run's PostgreSQL test
database. Each task stops at a pause point with its writes done but not committed, and is killed
there:

1. a catalogue sync (LiteLLM 1.53.1 imported, the source at 1.74.0): the pool process is killed.
   The worker's main process sees the loss and, the tasks being ``acks_late`` with
   ``reject_on_worker_lost``, requeues the message; the new pool process runs it again.
2. a purge of deactivated models, killed at the 6th of 12 models (one transaction each): the
   whole worker is killed (main and pool process), so the message stays unacknowledged in the
   broker; a new worker gets it back once the (here 3-second) visibility timeout has passed.

A third test checks the bookkeeping on its own: a later sync marks ``failed`` only the runs whose
lock is free (their process is gone), never a live one; a task's next attempt marks ``failed``
the attempts left ``running``.

The Redis broker redelivers an unacknowledged message only after ``visibility_timeout`` (one hour
by default); the tasks' single-flight lock (a PostgreSQL session advisory lock, released when the
killed process's connection closes) keeps a redelivery that overlaps a live run from doing work.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db.models import Count, Max, Min

from config.celery import app
from models_registry import services
from models_registry.catalog import catalog_import
from models_registry.jobs.models import TaskRun
from models_registry.jobs.runner import ABANDONED as TASK_ABANDONED
from models_registry.models import AIModel
from models_registry.sync.models import CatalogSource, SyncChange, SyncRun
from models_registry.sync.services import ABANDONED as SYNC_ABANDONED
from models_registry.sync.services import sync_run
from models_registry.tasks import purge_deactivated_models, sync_catalogues
from tests.caching.helpers import database_url, wait_for
from tests.factories import AIModelFactory, ProviderFactory
from tests.maintenance.conftest import age
from versioning.models import ModelVersion

from .worker_fault_helpers import FaultyWorker, clean_broker

pytestmark = [pytest.mark.system, pytest.mark.redis, pytest.mark.postgres]

FAULT_DB = int(os.environ.get("MR_TEST_FAULT_DB", "13"))
CATALOGS = Path("/work/shared/catalogs")
BUNDLED = Path(__file__).resolve().parents[2] / "models_registry" / "data" / "litellm-1.74.0.json"


def _broker_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{FAULT_DB}", "", ""))


@pytest.fixture
def faults(transactional_db, tmp_path):
    """Start workers on one queue (``start(**env)``); stops them and cleans the broker after."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    queue = f"mrtest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    workers: list[FaultyWorker] = []
    marker = tmp_path / "paused"

    class Faults:
        broker_url = _broker_url()

        def __init__(self):
            self.queue = queue
            self.marker = marker

        def start(self, **env) -> FaultyWorker:
            worker = FaultyWorker(
                broker_url=self.broker_url,
                database_url=database_url(),
                redis_url=settings.REDIS_URL,
                queue=queue,
                log=tmp_path / "worker.log",
                MR_FAULT_MARKER=marker,
                **env,
            )
            workers.append(worker)
            assert wait_for(worker.ready, 40, interval=0.1), f"the worker did not start:\n{worker.output()}"
            return worker

        def send(self, task, **kwargs):
            with app.connection_for_write(self.broker_url) as connection:
                return task.apply_async(kwargs=kwargs, queue=queue, connection=connection)

        def paused_pid(self, worker: FaultyWorker, timeout: float = 90) -> int:
            def paused():
                worker.ready()  # raises if the worker died
                return marker.exists()

            assert wait_for(paused, timeout, interval=0.05), f"the task never paused:\n{worker.output()}"
            return int(marker.read_text())

    try:
        yield Faults()
    finally:
        app.conf.task_always_eager = previous
        for worker in workers:
            worker.stop()
        clean_broker(_broker_url(), queue)


def _finished(task_id: str, worker: FaultyWorker, timeout: float = 90) -> TaskRun:
    def done():
        return TaskRun.objects.filter(task_id=task_id, outcome=TaskRun.Outcome.OK).first()

    if not wait_for(done, timeout, interval=0.1):  # say what the sessions wait on: a lock, or nothing
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 200), now() - query_start"
                " FROM pg_stat_activity WHERE datname = current_database()"
            )
            activity = cursor.fetchall()
        raise AssertionError(f"task {task_id} did not complete:\n{activity}\n{worker.output()}")
    return done()


def _assert_history_intact() -> None:
    """Versions gap-free per model (1..n), each model's newest version matches its row; every
    version the import, the sync or the purge wrote has an actor and a reason."""
    per_model = ModelVersion.objects.values("ai_model").annotate(
        n=Count("pk"), low=Min("number"), high=Max("number")
    )
    gaps = [row for row in per_model if not (row["low"] == 1 and row["high"] == row["n"])]
    assert gaps == []
    newest = dict(per_model.values_list("ai_model", "high"))
    for pk, revision, version in AIModel.objects.values_list("pk", "revision", "version"):
        latest = ModelVersion.objects.filter(ai_model_id=pk, number=newest.get(pk, 0)).first()
        assert latest is not None, f"model {pk} has no version"
        assert (latest.revision, latest.label) == (revision, version), pk
    written_by_tasks = ModelVersion.objects.filter(source__in=["import", "sync", "system"])
    assert written_by_tasks.exists()
    assert not written_by_tasks.filter(created_by__isnull=True).exists()
    assert not written_by_tasks.filter(reason="").exists()


def _task_runs(task_id: str) -> list[TaskRun]:
    return list(TaskRun.objects.filter(task_id=task_id).order_by("pk"))


def test_a_sync_killed_mid_transaction_leaves_nothing_and_completes_once_on_redelivery(faults):
    old = CATALOGS / "litellm-1.53.1.json"
    if not old.exists():
        pytest.skip(f"{old} not found (the shared LiteLLM snapshots)")
    catalog_import(source=str(old), fmt="litellm")
    source = CatalogSource.objects.create(
        name="litellm", format="litellm", location=str(BUNDLED), policy=CatalogSource.Policy.APPLY_ALL
    )
    clean = sync_run(source=source, dry_run=True)  # what one clean run does
    assert clean.status == SyncRun.Status.OK and clean.applied > 500
    before = dict(AIModel.objects.values_list("key", "revision"))
    versions_before = ModelVersion.objects.count()

    worker = faults.start(MR_FAULT_HOOK="sync")
    sent = faults.send(sync_catalogues)
    pid = faults.paused_pid(worker)

    # Paused with every model written but not committed: nothing of it is visible.
    killed_run = SyncRun.objects.get(source=source, dry_run=False)
    assert killed_run.status == SyncRun.Status.RUNNING
    assert ModelVersion.objects.count() == versions_before
    assert dict(AIModel.objects.values_list("key", "revision")) == before
    os.kill(pid, signal.SIGKILL)  # the pool process only: the worker requeues the message

    run = _finished(sent.id, worker)
    assert [r.outcome for r in _task_runs(sent.id)] == [TaskRun.Outcome.FAILED, TaskRun.Outcome.OK]
    assert _task_runs(sent.id)[0].error == TASK_ABANDONED
    assert run.result == {"litellm": "ok"}, worker.output()

    killed_run.refresh_from_db()
    assert (killed_run.status, killed_run.error) == (SyncRun.Status.FAILED, SYNC_ABANDONED)
    assert not killed_run.changes.exists()
    done = SyncRun.objects.get(source=source, dry_run=False, status=SyncRun.Status.OK)
    assert (done.created, done.applied, done.unchanged) == (clean.created, clean.applied, clean.unchanged)

    # Exactly one sync version per model the run wrote; nothing from the killed attempt.
    sync_versions = ModelVersion.objects.filter(source="sync")
    assert sync_versions.count() == done.applied
    assert ModelVersion.objects.count() == versions_before + done.applied
    assert not sync_versions.filter(reason__contains=f"run #{killed_run.pk})").exists()
    assert sync_versions.filter(reason__contains=f"run #{done.pk})").count() == done.applied
    written = set(done.changes.filter(state=SyncChange.State.APPLIED).values_list("model_key", flat=True))
    assert len(written) == done.applied
    after = dict(AIModel.objects.values_list("key", "revision"))
    assert {k for k in after if after[k] != before.get(k)} == written
    assert all(after[k] == before[k] + 1 for k in written if k in before)
    assert AIModel.objects.count() == len(before) + done.created
    _assert_history_intact()

    # The next run finds nothing left to do.
    again = sync_run(source=source)
    assert (again.status, again.applied, again.created) == (SyncRun.Status.OK, 0, 0)


def test_a_purge_killed_with_its_worker_resumes_on_redelivery_and_purges_each_model_once(faults):
    provider = ProviderFactory(slug="acme")
    retired, predecessors = [], []
    for i in range(12):
        model = AIModelFactory(provider=provider, name=f"retired-{i:02d}")
        predecessors.append(AIModelFactory(provider=provider, name=f"uses-{i:02d}", successor=model))
        services.ai_model_deactivate(ai_model=model, reason="retired")
        retired.append(age(model, 365))
    versions_before = {m.pk: m.versions.count() for m in predecessors}

    worker = faults.start(MR_FAULT_HOOK="purge", MR_FAULT_AFTER=6)
    sent = faults.send(purge_deactivated_models)
    faults.paused_pid(worker)

    # Five purged (committed one by one); the sixth deleted and its predecessor detached, not committed.
    purged = [m for m in retired if not AIModel.objects.filter(pk=m.pk).exists()]
    assert len(purged) == 5
    sixth = next(m for m in sorted(retired, key=lambda m: (m.updated_at, m.pk)) if m not in purged)
    sixth_predecessor = predecessors[retired.index(sixth)]
    sixth_predecessor.refresh_from_db()
    assert sixth_predecessor.successor_id == sixth.pk
    assert sixth_predecessor.versions.count() == versions_before[sixth_predecessor.pk]
    worker.kill_all()  # main and pool process: the message stays unacknowledged in the broker

    # No pause point; restores unacknowledged messages older than 3 s (a visibility timeout that
    # short would only be safe in production for tasks that short: here the task is dead).
    replacement = faults.start(MR_FAULT_VISIBILITY=3)
    run = _finished(sent.id, replacement)
    assert [r.outcome for r in _task_runs(sent.id)] == [TaskRun.Outcome.FAILED, TaskRun.Outcome.OK]
    assert _task_runs(sent.id)[0].error == TASK_ABANDONED
    assert run.result["purged"] == 7 and run.result["errors"] == []

    assert not AIModel.objects.filter(pk__in=[m.pk for m in retired]).exists()
    for predecessor in predecessors:  # detached exactly once each
        predecessor.refresh_from_db()
        assert predecessor.successor_id is None
        assert predecessor.versions.count() == versions_before[predecessor.pk] + 1
        assert predecessor.versions.filter(reason__endswith="purged", source="system").count() == 1
    _assert_history_intact()


def test_only_runs_whose_process_is_gone_are_marked_abandoned(transactional_db):
    """The next sync tells a dead run (its lock free) from a live one (its lock held by another
    connection); the next attempt of a task marks the attempts left ``running`` as failed."""
    import threading

    from django.db import connections

    from models_registry.jobs.lock import task_lock
    from models_registry.jobs.runner import run_task
    from models_registry.sync.services import _close_abandoned, _run_lock_name

    source = CatalogSource.objects.create(name="litellm", format="litellm", location=str(BUNDLED))
    live, dead = (SyncRun.objects.create(source=source, policy=source.policy) for _ in range(2))
    holding, release = threading.Event(), threading.Event()

    def live_run():
        try:
            with task_lock(_run_lock_name(live.pk)) as acquired:
                assert acquired
                holding.set()
                release.wait(20)
        finally:
            connections.close_all()

    thread = threading.Thread(target=live_run, daemon=True)
    thread.start()
    try:
        assert holding.wait(20)
        assert _close_abandoned(source) == 1
    finally:
        release.set()
        thread.join(20)
    live.refresh_from_db()
    dead.refresh_from_db()
    assert live.status == SyncRun.Status.RUNNING
    assert (dead.status, dead.error) == (SyncRun.Status.FAILED, SYNC_ABANDONED)

    lost = TaskRun.objects.create(name="t.lost", task_id="x", started_at=dead.started_at)
    assert run_task(name="t.lost", fn=lambda: {"done": 1}) == {"done": 1}
    lost.refresh_from_db()
    assert (lost.outcome, lost.error) == (TaskRun.Outcome.FAILED, TASK_ABANDONED)
    assert TaskRun.objects.filter(name="t.lost", outcome=TaskRun.Outcome.OK).count() == 1
