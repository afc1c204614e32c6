"""Fixtures for cache tests: the cache switched on, in a namespace of its own, with real commits."""

import uuid

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from caching.service import model_cache, reset_model_cache


def cache_settings(namespace: str, **extra) -> dict:
    """The test settings' ``MODEL_REGISTRY`` (throttling off, …) with the cache on in ``namespace``."""
    return {
        **django_settings.MODEL_REGISTRY,
        "CACHE_ENABLED": True,
        "CACHE_NAMESPACE": namespace,
        "L1_TTL": 5.0,
        "BREAKER_FAILURES": 3,
        "BREAKER_COOLDOWN": 0.3,
        **extra,
    }


@pytest.fixture
def namespace(settings):
    return f"{settings.TEST_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cache_on(namespace, transactional_db):
    """The two-tier cache on (L2 = the test Redis) with a fresh namespace; yields the process cache."""
    with override_settings(MODEL_REGISTRY=cache_settings(namespace)):
        reset_model_cache()
        cache = model_cache()
        yield cache
        reset_model_cache()
    _delete_namespace(namespace)


def _delete_namespace(namespace: str) -> None:
    import redis
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for name in client.scan_iter(match=f"mr:v1:{namespace}:*", count=1000):
            client.delete(name)
    finally:
        client.close()


@pytest.fixture
def cache_tx(namespace, db):
    """The cache on (L2 = the test Redis, a fresh namespace) inside the test's transaction, without
    the pub/sub subscriber: much faster than ``cache_on`` (no table flush, no subscriber to stop)
    for tests that do not need real commits or a second process. The process's own invalidations
    drop its L1 directly."""
    with override_settings(MODEL_REGISTRY=cache_settings(namespace)):
        reset_model_cache()
        cache = model_cache()
        cache.subscriber = None
        yield cache
        reset_model_cache()
    _delete_namespace(namespace)
