"""Concurrent writers on PostgreSQL (real transactions, several connections): version numbers stay
gap-free and unique, every change has its version, and at most one rollback request is open."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from models_registry import services
from models_registry.exceptions import ApplicationError
from tests.factories import AIModelFactory, UserFactory, grant
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning import services as vservices
from versioning.models import RollbackRequest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6
WRITES = 5


def _run(workers) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(workers))

    def wrap(work):
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    return errors


def test_concurrent_writers_keep_numbers_gap_free():
    model = AIModelFactory()

    def writer(n):
        def work():
            for i in range(WRITES):
                services.ai_model_update(ai_model=model.pk, data={"description": f"w{n}-{i}"}, source="api")
                services.ai_model_update(ai_model=model.pk, data={"context_window": 1000 + n * 100 + i})

        return work

    assert _run([writer(n) for n in range(THREADS)]) == []
    versions = versions_of(model)
    model.refresh_from_db()
    assert [v.number for v in versions] == list(range(1, 2 * THREADS * WRITES + 2))
    assert (
        [v.revision for v in versions] == [v.number for v in versions] == list(range(1, model.revision + 1))
    )
    assert snapshot_state(versions[-1]) == state_of(model)
    assert len({v.label for v in versions}) == len(versions)  # every label distinct: each one bumped


def test_concurrent_rollback_requests_leave_one_open():
    model = AIModelFactory()
    services.ai_model_update(ai_model=model.pk, data={"description": "changed"})
    users = [grant(UserFactory(username=f"u{i}"), "add_rollbackrequest") for i in range(THREADS)]
    outcomes: list[str] = []

    def requester(user):
        def work():
            try:
                vservices.rollback_request_create(
                    ai_model=model.pk, target_version=1, reason="race", actor=user
                )
                outcomes.append("created")
            except ApplicationError as exc:
                outcomes.append(str(exc.status_code))

        return work

    assert _run([requester(u) for u in users]) == []
    assert sorted(outcomes) == ["409"] * (THREADS - 1) + ["created"]
    assert RollbackRequest.objects.filter(status="pending").count() == 1


def test_change_feed_never_skips_a_change_committed_late():
    """A long transaction writes first and commits last; a client follows the feed meanwhile. The
    change committed early is held back until the long one commits, and then both arrive, in
    order: with plain id order the client would have moved past the late one for good.

    (PostgreSQL's horizon is cluster-wide, so unrelated transactions — other test runs on the
    server — may delay rows further; the test polls rather than assuming an idle server.)"""
    import time

    from django.db import transaction

    from versioning.selectors import change_feed

    slow_model, fast_model = AIModelFactory(), AIModelFactory()
    seen: list[tuple[int, int]] = []
    cursor = None

    def poll() -> None:
        nonlocal cursor
        page = change_feed(since=cursor, limit=500)
        seen.extend((v.ai_model_id, v.number) for v in page.versions)
        cursor = page.cursor

    written, go = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            services.ai_model_update(ai_model=slow_model.pk, data={"description": "slow"})
            written.set()
            go.wait(timeout=30)

    thread = threading.Thread(target=lambda: (slow_writer(), connection.close()))
    thread.start()
    try:
        assert written.wait(timeout=30)
        services.ai_model_update(ai_model=fast_model.pk, data={"description": "fast"})  # commits at once
        poll()
        assert (fast_model.pk, 2) not in seen  # held back behind the running slow transaction
    finally:
        go.set()
        thread.join(timeout=30)
    deadline = time.monotonic() + 20
    while not {(slow_model.pk, 2), (fast_model.pk, 2)} <= set(seen) and time.monotonic() < deadline:
        poll()
        time.sleep(0.05)
    ours = [item for item in seen if item[0] in (slow_model.pk, fast_model.pk) and item[1] == 2]
    assert ours == [(slow_model.pk, 2), (fast_model.pk, 2)]
