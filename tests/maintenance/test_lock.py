"""Single flight: each lock backend refuses a second holder and frees the lock on release."""

import threading
import time

import pytest
from django.test import override_settings

from models_registry.jobs import lock
from models_registry.jobs.lock import advisory_key, task_lock, task_lock_held
from models_registry.jobs.models import TaskLock
from tests.maintenance.conftest import Worker, registry


def _try_in_other_thread(name: str) -> bool:
    worker = Worker(lambda: task_lock_held(name))
    worker.start()
    worker.join(10)
    assert worker.error is None, worker.error
    return not worker.result  # True: the other thread could take it


def test_advisory_key_is_a_stable_signed_64_bit_integer():
    key = advisory_key("caching.tasks.cache_hygiene")
    assert key == advisory_key("caching.tasks.cache_hygiene")
    assert key != advisory_key("caching.tasks.evaluate_invalidation_rules")
    assert -(2**63) <= key < 2**63


def test_a_held_lock_refuses_another_holder_until_released(lock_backend, transactional_db):
    name = f"test.lock.{lock_backend}"
    with task_lock(name) as acquired:
        assert acquired
        assert lock.backend() == lock_backend
        assert not _try_in_other_thread(name)
    assert _try_in_other_thread(name)


def test_the_same_thread_cannot_take_a_lock_twice(lock_backend, transactional_db):
    name = f"test.reentry.{lock_backend}"
    with task_lock(name) as outer:
        with task_lock(name) as inner:
            assert outer and not inner
        assert not _try_in_other_thread(name)  # the refused inner attempt did not release it
    assert _try_in_other_thread(name)


@pytest.mark.postgres
def test_auto_uses_the_postgres_advisory_lock(transactional_db):
    assert lock.backend() == "postgres"
    with task_lock("test.auto") as acquired:
        assert acquired
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 1


@pytest.mark.redis
def test_a_redis_lock_expires_after_its_ttl(transactional_db):
    name = "test.redis.expiry"
    with override_settings(MODEL_REGISTRY=registry(TASK_LOCK_BACKEND="redis", TASK_LOCK_TTL=0.2)):
        held = threading.Event()
        done = threading.Event()

        def holder():
            with task_lock(name) as acquired:
                assert acquired
                held.set()
                done.wait(5)  # "killed": holds past the TTL

        worker = Worker(holder)
        worker.start()
        assert held.wait(5)
        assert task_lock_held(name)
        time.sleep(0.35)
        assert not task_lock_held(name)  # expired: a new run may start
        done.set()
        worker.join(5)
        assert worker.error is None


def test_a_db_lock_row_past_its_expiry_is_taken_over(db):
    from datetime import timedelta

    from django.utils import timezone

    name = "test.db.expiry"
    with override_settings(MODEL_REGISTRY=registry(TASK_LOCK_BACKEND="db")):
        TaskLock.objects.create(name=name, token="dead", expires_at=timezone.now() - timedelta(seconds=1))
        with task_lock(name) as acquired:
            assert acquired
            assert TaskLock.objects.get(name=name).token != "dead"
        assert not TaskLock.objects.filter(name=name).exists()


def test_an_unknown_backend_is_a_configuration_error(db):
    with override_settings(MODEL_REGISTRY=registry(TASK_LOCK_BACKEND="zookeeper")):
        with pytest.raises(ValueError, match="TASK_LOCK_BACKEND"):
            with task_lock("test.bad"):
                pass
