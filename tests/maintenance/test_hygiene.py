"""Cache hygiene against the real Redis: dangling index members dropped, valid ones kept, the
listed models warmed, a stats snapshot recorded."""

import pytest
from django.test import override_settings

from caching import keys as k
from caching.hygiene import cache_hygiene_run, cache_index_prune, cache_warm_popular, warm_keys
from caching.services import cache_has
from caching.tasks import cache_hygiene
from models_registry.selectors import ai_model_get_many
from tests.caching.conftest import cache_on, cache_settings, namespace  # noqa: F401 - fixtures
from tests.factories import AIModelFactory, ProviderFactory
from tests.maintenance.conftest import runs


def _members(redis_client, name: str) -> set[str]:
    return {m.decode() for m in redis_client.smembers(name)}


@pytest.mark.redis
def test_dangling_index_members_are_dropped_and_live_ones_kept(cache_on, redis_client):  # noqa: F811
    acme = ProviderFactory(slug="acme")
    models = [AIModelFactory(provider=acme, name=f"m{i}", tags=["fast"]) for i in range(5)]
    keys = [m.key for m in models]
    ai_model_get_many(keys=keys)  # fills L2 and the index sets
    gen = cache_on.gen
    provider_set, tag_set = k.provider_index_key(gen, "acme"), k.tag_index_key(gen, "fast")
    assert _members(redis_client, provider_set) == set(keys)

    redis_client.delete(k.value_key(gen, keys[0]))  # as if it expired
    cache_on.invalidate([keys[1]], reason="test")  # a single-model invalidation keeps the members

    result = cache_index_prune()
    assert result == {"sets": 2, "checked": 10, "removed": 4}
    assert _members(redis_client, provider_set) == set(keys[2:])
    assert _members(redis_client, tag_set) == set(keys[2:])
    assert cache_index_prune()["removed"] == 0  # idempotent


@pytest.mark.redis
def test_large_sets_are_checked_in_batches(cache_on, redis_client):  # noqa: F811
    gen = cache_on.remote.generation()
    name = k.provider_index_key(gen, "bulk")
    members = [f"bulk/m{i}" for i in range(1200)]
    redis_client.sadd(name, *members)
    for member in members[::2]:
        redis_client.set(k.value_key(gen, member), b"{}", ex=60)
    result = cache_index_prune(batch=100)
    assert result["checked"] == 1200 and result["removed"] == 600
    assert _members(redis_client, name) == set(members[::2])


@pytest.mark.redis
def test_warming_loads_the_listed_and_the_recently_updated_models(namespace, transactional_db):  # noqa: F811
    from caching.service import reset_model_cache

    acme = ProviderFactory(slug="acme")
    listed = AIModelFactory(provider=acme, name="listed")
    recent = [AIModelFactory(provider=acme, name=f"recent{i}") for i in range(3)]
    settings = cache_settings(namespace, WARM_KEYS=(listed.key, "acme/missing"), WARM_RECENT_COUNT=2)
    with override_settings(MODEL_REGISTRY=settings):
        reset_model_cache()
        try:
            assert warm_keys() == [listed.key, "acme/missing", recent[2].key, recent[1].key]
            assert cache_warm_popular() == {"requested": 4, "warmed": 3}
            for model in (listed, recent[2], recent[1]):
                assert cache_has(key=model.key)
            assert not cache_has(key=recent[0].key)
        finally:
            reset_model_cache()
            from tests.caching.conftest import _delete_namespace

            _delete_namespace(namespace)


@pytest.mark.redis
def test_the_hygiene_task_records_a_stats_snapshot(cache_on):  # noqa: F811
    AIModelFactory(provider=ProviderFactory(slug="acme"), name="snap")
    result = cache_hygiene.apply().result
    (run,) = runs(cache_hygiene.name)
    assert run.outcome == "ok" and run.result == result
    assert result["warm"]["warmed"] == 1
    stats = result["stats"]
    assert stats["l2"]["configured"] is True and stats["l2"]["keys"] == 1
    assert stats["l2"]["by_provider"] == {"acme": 1}
    assert set(result) == {"swept", "index", "warm", "stats"}


def test_without_redis_hygiene_is_a_no_op(db):
    result = cache_hygiene_run()
    assert result["index"] == {"sets": 0, "checked": 0, "removed": 0}
    assert result["warm"] == {"requested": 0, "warmed": 0}
    assert result["stats"]["enabled"] is False
