"""The two-tier cache against real Redis and PostgreSQL: read-through, coherence, fill guard,
stampede, rollback, unsafe payloads, index invalidation."""

import os
import pickle
import threading

import pytest
from django.db import transaction

from caching import keys as k
from caching.coherence import wait_until
from caching.remote import encode
from caching.signals import cache_invalidated
from models_registry import selectors, services
from models_registry.records import record_from_instance
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = [pytest.mark.redis]


@pytest.fixture
def model(cache_on):
    provider = ProviderFactory(slug="openai")
    return AIModelFactory(provider=provider, name="gpt-4o", tags=["flagship"])


def _l2_value(redis_client, cache, key):
    return redis_client.get(k.value_key(cache.gen, key))


def test_read_through_fills_both_tiers(cache_on, model, redis_client, django_assert_num_queries):
    record = selectors.ai_model_get(key="openai/gpt-4o")
    assert record.context_window == 128_000
    assert _l2_value(redis_client, cache_on, "openai/gpt-4o") is not None
    with django_assert_num_queries(0):
        assert selectors.ai_model_get(key="openai/gpt-4o") is record  # L1: the same immutable object
    cache_on.local.clear()
    with django_assert_num_queries(0):
        again = selectors.ai_model_get(key="openai/gpt-4o")  # L2
    assert again == record
    with django_assert_num_queries(0):
        assert selectors.ai_model_get(id=model.pk) == record


def test_write_invalidates_after_commit(cache_on, model, redis_client):
    selectors.ai_model_get(key="openai/gpt-4o")
    services.ai_model_update(ai_model=model, data={"context_window": 256_000})
    assert _l2_value(redis_client, cache_on, "openai/gpt-4o") is None
    assert selectors.ai_model_get(key="openai/gpt-4o").context_window == 256_000


def test_rolled_back_transaction_invalidates_nothing(cache_on, model, redis_client):
    selectors.ai_model_get(key="openai/gpt-4o")
    fired = []
    cache_invalidated.connect(lambda **kw: fired.append(kw), weak=False, dispatch_uid="t-rollback")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.ai_model_update(ai_model=model, data={"context_window": 1})
            raise RuntimeError("abort")
    finally:
        cache_invalidated.disconnect(dispatch_uid="t-rollback")
    assert fired == []
    assert _l2_value(redis_client, cache_on, "openai/gpt-4o") is not None
    assert selectors.ai_model_get(key="openai/gpt-4o").context_window == 128_000


def test_stale_fill_is_refused(cache_on, model, redis_client):
    """A reader loads revision r from the database, pauses; a writer commits r+1; the reader's
    late fill must not land in either tier."""
    loaded = threading.Event()
    resume = threading.Event()
    result = {}

    def slow_loader(keys):
        records = selectors._load_records(keys)  # reads the old row
        loaded.set()
        resume.wait(5)
        return records

    def reader():
        result["record"] = cache_on.get("openai/gpt-4o", slow_loader)

    thread = threading.Thread(target=reader)
    thread.start()
    assert loaded.wait(5)
    services.ai_model_update(ai_model=model, data={"context_window": 64_000})  # commits, invalidates
    resume.set()
    thread.join(5)
    assert result["record"].context_window == 128_000  # the reader itself got what it read
    assert _l2_value(redis_client, cache_on, "openai/gpt-4o") is None  # …but could not store it
    assert cache_on.local.get(("m", "openai/gpt-4o")) is None
    assert selectors.ai_model_get(key="openai/gpt-4o").context_window == 64_000


def test_fifty_concurrent_cold_readers_cause_one_database_load(cache_on, model):
    calls = []
    barrier = threading.Barrier(50)
    gate = threading.Event()

    def loader(keys):
        calls.append(keys)
        gate.wait(2)  # keep the load in flight while the others arrive
        return selectors._load_records(keys)

    results = []

    def reader():
        barrier.wait()
        results.append(cache_on.get("openai/gpt-4o", loader))

    threads = [threading.Thread(target=reader) for _ in range(50)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(calls) >= 1, 5)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert len(results) == 50 and all(r.key == "openai/gpt-4o" for r in results)


def test_pickle_payload_in_redis_is_rejected_not_executed(cache_on, model, redis_client, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    cache_on._ensure_started()
    redis_client.set(k.value_key(cache_on.gen, "openai/gpt-4o"), pickle.dumps(Exploit()))
    record = selectors.ai_model_get(key="openai/gpt-4o")
    assert record.key == "openai/gpt-4o" and record.context_window == 128_000
    assert not marker.exists()


def test_get_many_uses_one_mget(cache_on, redis_client):
    provider = ProviderFactory(slug="acme")
    models = [AIModelFactory(provider=provider, name=f"m{i}") for i in range(20)]
    keys = [m.key for m in models] + ["acme/missing"]
    first = selectors.ai_model_get_many(keys=keys)
    assert first["acme/missing"] is None and first["acme/m3"].name == "m3"
    cache_on.local.clear()
    calls = []
    original = cache_on.remote.client.mget
    cache_on.remote.client.mget = lambda names: calls.append(len(names)) or original(names)
    try:
        again = selectors.ai_model_get_many(keys=keys)
    finally:
        cache_on.remote.client.mget = original
    assert len(calls) == 1
    assert {key: (r.revision if r else None) for key, r in again.items()} == {
        key: (r.revision if r else None) for key, r in first.items()
    }


def test_invalidate_provider_and_tags_use_index_sets(cache_on, redis_client):
    a = ProviderFactory(slug="a")
    b = ProviderFactory(slug="b")
    a1 = AIModelFactory(provider=a, name="one", tags=["x"])
    a2 = AIModelFactory(provider=a, name="two")
    b1 = AIModelFactory(provider=b, name="one", tags=["x"])
    b2 = AIModelFactory(provider=b, name="two")
    selectors.ai_model_get_many(keys=[a1.key, a2.key, b1.key, b2.key])
    members = cache_on.invalidate_indexes(providers=["a"])
    assert sorted(members) == ["a/one", "a/two"]
    assert _l2_value(redis_client, cache_on, "a/one") is None
    assert _l2_value(redis_client, cache_on, "b/one") is not None
    members = cache_on.invalidate_indexes(tags=["x"])
    assert "b/one" in members  # (a/one may linger in the tag set: dangling members are harmless)
    assert _l2_value(redis_client, cache_on, "b/two") is not None


def test_invalidate_all_only_touches_our_namespace(cache_on, model, redis_client):
    selectors.ai_model_get(key="openai/gpt-4o")
    foreign = "mr:v1:someone-else:0:m:openai/gpt-4o"
    redis_client.set(foreign, b"{}", ex=60)
    try:
        old_gen = cache_on.gen
        removed = cache_on.invalidate_all(reason="test")
        assert removed >= 1
        assert cache_on.gen == old_gen + 1
        assert redis_client.get(foreign) == b"{}"
        assert not list(redis_client.scan_iter(match=k.generation_pattern(old_gen)))
    finally:
        redis_client.delete(foreign)


def test_cache_disabled_reads_the_database(namespace, transactional_db, settings):
    from django.test import override_settings

    from caching.service import model_cache, reset_model_cache

    with override_settings(MODEL_REGISTRY={"CACHE_ENABLED": False, "CACHE_NAMESPACE": namespace}):
        reset_model_cache()
        model = AIModelFactory()
        assert selectors.ai_model_get(key=model.key).key == model.key
        assert len(model_cache().local) == 0
    reset_model_cache()


def test_alias_lookups(cache_on, model):
    from models_registry.models import ModelAlias

    ModelAlias.objects.create(alias="gpt4o", ai_model=model)
    assert selectors.ai_model_get(key="gpt4o").key == "openai/gpt-4o"
    assert selectors.ai_model_get(key="gpt4o").key == "openai/gpt-4o"  # from L1
    assert selectors.ai_model_get_many(keys=["gpt4o"])["gpt4o"].key == "openai/gpt-4o"


def test_negative_entries_are_dropped_when_the_model_appears(cache_on):
    provider = ProviderFactory(slug="late")
    with pytest.raises(selectors.ModelNotFound):
        selectors.ai_model_get(key="late/model")
    AIModelFactory(provider=provider, name="model")
    assert selectors.ai_model_get(key="late/model").name == "model"


def test_encode_is_json(model):
    payload = encode(record_from_instance(model))
    assert payload.startswith(b"{")
