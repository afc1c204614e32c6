"""Invariant 3 against real failures: a Redis server of the test's own, on a spare port, that is
killed, blackholed (connections hang behind a proxy that stops forwarding) or out of memory.

Whatever Redis does, every read equals the database, no exception escapes, writes commit; the
breaker opens after ``BREAKER_FAILURES`` failures so an outage costs a few timeouts, not one
per read, and closes after ``BREAKER_COOLDOWN``; entries written before the outage are not
served after it (the namespace generation is bumped on recovery).
"""

import time

import pytest
import redis

from caching import keys as k
from caching.breaker import CLOSED, OPEN
from caching.service import ModelCache, reset_model_cache
from models_registry import selectors, services
from tests.caching.helpers import BlackholeProxy, FailureLog, RedisServer, cache_at, wait_for
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = [pytest.mark.redis]

SOCKET_TIMEOUT = 0.25  # helpers.caches_for
COOLDOWN = 1.0


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def proxy(redis_server):
    proxy = BlackholeProxy(redis_server.port)
    yield proxy
    proxy.close()


def _models(n: int = 20) -> list[str]:
    provider = ProviderFactory(slug="faults")
    return [AIModelFactory(provider=provider, name=f"m{i}", tags=["t"]).key for i in range(n)]


def _from_db(key: str):
    return selectors._load_records([key])[key]


def _cold_read(cache: ModelCache, key: str):
    """A read that cannot be answered by this process's L1."""
    cache.local.clear()
    return selectors.ai_model_get(key=key)


def _value_in_l2(client, cache: ModelCache, gen: int, key: str):
    return client.get(k.value_key(gen, key))


def _print(capsys, text: str) -> None:
    with capsys.disabled():
        print("\n" + text)


def test_redis_killed_mid_run(namespace, transactional_db, redis_server, capsys):
    with cache_at(redis_server.url, namespace, BREAKER_COOLDOWN=COOLDOWN) as cache:
        keys = _models()
        warm = selectors.ai_model_get_many(keys=keys)
        assert all(warm[key] == _from_db(key) for key in keys)
        raw = redis_server.client()
        gen_before = cache.gen
        assert _value_in_l2(raw, cache, gen_before, keys[0]) is not None
        raw.close()
        failures = FailureLog(cache.breaker)

        redis_server.kill()
        for key in keys[:3]:  # every read still answers, from the database; the first few fail fast
            assert _cold_read(cache, key) == _from_db(key)
        assert cache.breaker.state == OPEN
        opened_after = len(failures)
        assert opened_after == cache.breaker.failures_to_open
        for key in keys:
            assert _cold_read(cache, key) == _from_db(key)

        # a write during the outage commits, and is read back at once
        services.ai_model_update(ai_model=_from_db(keys[0]).id, data={"context_window": 7})
        assert _cold_read(cache, keys[0]).context_window == 7
        assert selectors.ai_model_get_many(keys=keys[:3])[keys[0]].context_window == 7

        # while the breaker is open, reads do not pay for Redis
        started = time.perf_counter()
        for i in range(200):
            assert _cold_read(cache, keys[i % len(keys)]).key == keys[i % len(keys)]
        elapsed = time.perf_counter() - started
        during_reads = len(failures) - opened_after
        assert during_reads <= 1 + elapsed / COOLDOWN  # at most one trial call per cool-down

        # Redis comes back (empty: a killed server keeps nothing); the breaker closes again
        redis_server.start()
        closed = wait_for(
            lambda: _cold_read(cache, keys[1]) == _from_db(keys[1]) and cache.breaker.state == CLOSED,
            timeout=COOLDOWN + 3,
        )
        assert closed, cache.breaker.state
        for key in keys:
            assert _cold_read(cache, key) == _from_db(key)
        raw = redis_server.client()
        try:
            assert int(raw.get(k.namespace_generation_key())) == cache.gen >= 1  # bumped on recovery
            assert _value_in_l2(raw, cache, cache.gen, keys[2]) is not None  # L2 is filled again
        finally:
            raw.close()
        _print(
            capsys,
            f"killed Redis: {opened_after} failed calls opened the breaker; 200 cold reads while open "
            f"took {elapsed * 1000:.0f} ms ({elapsed / 200 * 1e6:.0f} us/read) and {during_reads} more "
            f"failed Redis calls; total failed calls {len(failures)}",
        )


def test_blackholed_redis(namespace, transactional_db, redis_server, proxy, capsys):
    """Connections hang: reads pay at most a few socket timeouts, then none; after the network
    heals, entries written before the outage are not served."""
    with cache_at(proxy.url, namespace, BREAKER_COOLDOWN=COOLDOWN) as cache:
        keys = _models()
        selectors.ai_model_get_many(keys=keys)
        raw = redis_server.client()  # straight to the server, not through the proxy
        gen_before = cache.gen
        stale_payload = _value_in_l2(raw, cache, gen_before, keys[0])
        assert stale_payload is not None
        failures = FailureLog(cache.breaker)
        resyncs_before = cache.subscriber.resyncs

        proxy.blackhole()
        latencies = []
        for key in keys[:8]:
            started = time.perf_counter()
            assert _cold_read(cache, key) == _from_db(key)
            latencies.append(time.perf_counter() - started)
        assert cache.breaker.state == OPEN
        timeouts_to_open = len(failures)
        assert timeouts_to_open == cache.breaker.failures_to_open
        assert all(name == "TimeoutError" for _, name, _ in failures.calls), failures.calls
        # a read pays at most two socket timeouts (generation sync, MGET), the first few reads only
        assert max(latencies) < 2 * SOCKET_TIMEOUT + 0.2, latencies
        assert sum(latencies) < (timeouts_to_open + 1) * SOCKET_TIMEOUT + 0.5, latencies

        started = time.perf_counter()
        services.ai_model_update(ai_model=_from_db(keys[0]).id, data={"context_window": 9})  # commits
        write_seconds = time.perf_counter() - started
        assert _cold_read(cache, keys[0]).context_window == 9

        started = time.perf_counter()
        for i in range(200):
            _cold_read(cache, keys[i % len(keys)])
        open_elapsed = time.perf_counter() - started
        during_reads = len(failures) - timeouts_to_open
        assert during_reads <= 1 + open_elapsed / COOLDOWN

        # the network heals; the server still holds the entry written before the outage
        proxy.restore()
        assert raw.get(k.value_key(gen_before, keys[0])) == stale_payload
        # this process owes Redis an invalidation: it must pay it back (one generation bump) on its
        # own, without waiting for a read of its own, since other processes read L2 meanwhile
        assert wait_for(lambda: int(raw.get(k.namespace_generation_key()) or 0) > gen_before, COOLDOWN + 3)
        other = ModelCache()  # a process with no trouble of its own (its breaker never opened)
        try:
            assert other.get(keys[0], selectors._load_records).context_window == 9
        finally:
            other.close()
        for key in keys:
            assert _cold_read(cache, key) == _from_db(key)
        assert cache.breaker.state == CLOSED
        raw.close()
        _print(
            capsys,
            f"blackholed Redis (socket timeout {SOCKET_TIMEOUT}s): {timeouts_to_open} timeouts opened the "
            f"breaker; first reads {[round(x * 1000) for x in latencies]} ms; write during the outage "
            f"{write_seconds * 1000:.0f} ms; 200 cold reads while open {open_elapsed * 1000:.0f} ms "
            f"({open_elapsed / 200 * 1e6:.0f} us/read), {during_reads} more timeouts; subscriber "
            f"resyncs during the blackhole: {cache.subscriber.resyncs - resyncs_before}",
        )


def test_recovering_reader_does_not_serve_entries_from_before_the_outage(
    namespace, transactional_db, redis_server, proxy
):
    """A reader whose breaker opened during the outage, while a writer elsewhere lost its
    invalidation (and exited before Redis came back): the reader's first Redis call after the
    cool-down must not hand out the pre-outage entry."""
    with cache_at(proxy.url, namespace, BREAKER_COOLDOWN=COOLDOWN):
        keys = _models(4)
        reader = ModelCache()  # another process: a reader only
        try:
            for key in keys:
                assert reader.get(key, selectors._load_records) == _from_db(key)
            raw = redis_server.client()
            gen_before = int(raw.get(k.namespace_generation_key()) or 0)
            stale_payload = raw.get(k.value_key(gen_before, keys[0]))
            assert stale_payload is not None

            proxy.blackhole()
            for key in keys:
                reader.local.clear()
                assert reader.get(key, selectors._load_records) == _from_db(key)
            assert reader.breaker.state == OPEN
            services.ai_model_update(ai_model=_from_db(keys[0]).id, data={"context_window": 5})  # commits
            reset_model_cache()  # the writer process exits; its invalidation is lost for good

            proxy.restore()
            assert raw.get(k.value_key(gen_before, keys[0])) == stale_payload
            deadline = time.monotonic() + COOLDOWN + 2
            seen, after_close = set(), 0
            while time.monotonic() < deadline and after_close < 20:
                reader.local.clear()
                seen.add(reader.get(keys[0], selectors._load_records).context_window)
                after_close += reader.breaker.state == CLOSED
                time.sleep(0.005)
            assert seen == {5}
            assert reader.breaker.state == CLOSED
            assert int(raw.get(k.namespace_generation_key())) > gen_before
            raw.close()
        finally:
            reader.close()


def test_redis_out_of_memory(namespace, transactional_db, redis_server):
    with cache_at(redis_server.url, namespace) as cache:
        keys = _models(10)
        cached, uncached = keys[:5], keys[5:]
        selectors.ai_model_get_many(keys=cached)
        raw = redis_server.client()
        try:
            gen = cache.gen
            assert all(_value_in_l2(raw, cache, gen, key) is not None for key in cached)
            used = int(raw.info("memory")["used_memory"])
            raw.config_set("maxmemory-policy", "noeviction")
            raw.config_set("maxmemory", used - 64 * 1024)  # already over: every write is refused
            with pytest.raises(redis.ResponseError, match="maxmemory"):
                raw.set("probe", "x")

            failures = FailureLog(cache.breaker)
            for key in uncached:  # fills fail, silently; reads are right
                assert _cold_read(cache, key) == _from_db(key)
                assert _value_in_l2(raw, cache, gen, key) is None
            assert selectors.ai_model_get_many(keys=keys) == {key: _from_db(key) for key in keys}
            for key in cached:  # reads of what was cached before still come from L2
                assert _cold_read(cache, key) == _from_db(key)

            # an invalidation still removes a cached model (invalidate.lua is allow-oom)
            model_id = _from_db(cached[0]).id
            services.ai_model_update(ai_model=model_id, data={"context_window": 11})
            assert _value_in_l2(raw, cache, gen, cached[0]) is None
            assert _cold_read(cache, cached[0]).context_window == 11
            assert selectors.ai_model_get_many(keys=cached)[cached[0]].context_window == 11
            assert cache.breaker.state == CLOSED, failures.calls

            # a blip opens the breaker while Redis is still out of memory, and a write meanwhile
            # cannot reach Redis: the recovery (generation bump) must work under OOM too, or the
            # entry from before the blip would be served again
            for _ in range(cache.breaker.failures_to_open):
                cache.breaker.failure(ConnectionError("blip"), "test")
            assert cache.breaker.state == OPEN
            services.ai_model_update(ai_model=_from_db(cached[1]).id, data={"context_window": 12})
            assert _value_in_l2(raw, cache, gen, cached[1]) is not None  # the stale entry is there
            time.sleep(cache.breaker.cooldown)
            for _ in range(3):
                assert _cold_read(cache, cached[1]).context_window == 12
            assert int(raw.get(k.namespace_generation_key())) > gen

            # memory is back: fills work again, with the new value
            raw.config_set("maxmemory", 0)
            assert _cold_read(cache, cached[0]).context_window == 11
            assert _value_in_l2(raw, cache, cache.gen, cached[0]) is not None
            cache.local.clear()
            assert selectors.ai_model_get(key=cached[0]).context_window == 11
        finally:
            raw.close()
