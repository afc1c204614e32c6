"""Coherence across OS processes: a write committed in this process is seen by a reader in
another process (``child_reader.py``) that holds the model in its L1.

The documented bound: pub/sub delivery (milliseconds) while the subscriber works; at most
``L1_TTL`` when messages are lost. The first test gives the child an L1_TTL of 30 s, so only
pub/sub can explain seeing a write within a second; the second makes the child's subscriber deaf
and checks that the L1 TTL cap alone bounds the staleness.
"""

import statistics
import time

import pytest
from django.test import override_settings

from caching.service import model_cache, reset_model_cache
from caching.signals import cache_invalidated
from models_registry import services
from tests.caching.conftest import _delete_namespace, cache_settings
from tests.caching.helpers import ChildReader
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

KEY = "xproc/reader-model"


@pytest.fixture
def parent_cache(namespace, transactional_db):
    """This process's cache on (L2 = the test Redis) in a fresh namespace; yields the model."""
    with override_settings(MODEL_REGISTRY=cache_settings(namespace, L1_TTL=30.0)):
        reset_model_cache()
        model_cache()
        yield AIModelFactory(provider=ProviderFactory(slug="xproc"), name="reader-model")
        reset_model_cache()
    _delete_namespace(namespace)


@pytest.fixture
def start_child(namespace):
    children = []

    def start(**options) -> ChildReader:
        child = ChildReader(key=KEY, namespace=namespace, **options)
        children.append(child)
        ready = child.wait_for(lambda e: e["event"] == "ready", timeout=20)
        assert ready is not None, f"child reader did not start:\n{child.stderr}"
        return child

    yield start
    for child in children:
        child.stop()


def _write(model_pk: int, value: int) -> tuple[float, float]:
    """Commit a change; returns (when the write started, when its invalidation was published)."""
    published = []

    def on_invalidated(**kwargs):
        published.append(time.monotonic())

    cache_invalidated.connect(on_invalidated, weak=False, dispatch_uid="test-processes-write")
    try:
        started = time.monotonic()
        services.ai_model_update(ai_model=model_pk, data={"context_window": value}, source="api")
    finally:
        cache_invalidated.disconnect(dispatch_uid="test-processes-write")
    assert len(published) == 1
    return started, published[0]


def test_write_is_seen_by_another_process_through_pubsub(parent_cache, start_child, capsys):
    model = parent_cache
    child = start_child(l1_ttl=30.0)
    latencies, after_publish, delivery = [], [], []
    for i in range(10):
        value = 200_000 + i
        started, published = _write(model.pk, value)
        seen = child.wait_for(lambda e, v=value: e["event"] == "seen" and e["value"] == v, timeout=1.0)
        assert seen is not None, f"write {i} not seen by the other process within 1 s (L1_TTL is 30 s)"
        latencies.append(seen["t"] - started)
        after_publish.append(seen["t"] - published)
        delivery.append(seen["message_t"] - published)
        assert seen["received"] >= i + 1  # it was the invalidation message, not a TTL expiry
    seen_events = [e for e in child.events if e["event"] == "seen"]
    assert [e["value"] for e in seen_events] == [200_000 + i for i in range(10)]  # never an old value back
    # one database load per write: between writes the child answered from its L1
    loads = [e["db_loads"] for e in seen_events]
    assert all(b - a == 1 for a, b in zip(loads, loads[1:], strict=False))
    with capsys.disabled():
        print(
            f"\ncross-process invalidation latency (write start -> other process sees it), 10 writes: "
            f"p50 {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms; "
            f"from the post-commit publish: p50 {statistics.median(after_publish) * 1000:.1f} ms, "
            f"max {max(after_publish) * 1000:.1f} ms; pub/sub delivery alone: "
            f"p50 {statistics.median(delivery) * 1000:.2f} ms, max {max(delivery) * 1000:.2f} ms"
        )


def test_lost_messages_staleness_is_bounded_by_l1_ttl(parent_cache, start_child, capsys):
    model = parent_cache
    l1_ttl = 0.5
    child = start_child(l1_ttl=l1_ttl, deaf=True)
    staleness = []
    for i in range(4):
        value = 300_000 + i
        started, _ = _write(model.pk, value)
        seen = child.wait_for(
            lambda e, v=value: e["event"] == "seen" and e["value"] == v, timeout=l1_ttl + 1.0
        )
        assert seen is not None, f"write {i} not seen within L1_TTL ({l1_ttl} s) + 1 s"
        assert seen["received"] == 0  # the child got no message: only the TTL cap explains it
        staleness.append(seen["t"] - started)
        time.sleep(0.1)
    # the cap, plus the time of one read loop and one database load
    assert max(staleness) <= l1_ttl + 0.4, staleness
    with capsys.disabled():
        print(
            f"\nstaleness with a deaf subscriber (L1_TTL {l1_ttl} s), 4 writes: "
            f"max {max(staleness) * 1000:.0f} ms, all {[round(s * 1000) for s in staleness]} ms"
        )
