"""API rate limits: scopes, 429 with Retry-After, the sliding window, proxies, and the store's
outages (fail open for ordinary requests, 503 for token and approval endpoints) against real
Redis servers the tests stop and blackhole."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from django.conf import settings
from django.test import override_settings
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from models_registry.api import throttling
from models_registry.api.throttling import RegistryRateThrottle, retry_after, store_health, throttle_cache
from tests.caching.helpers import BlackholeProxy, RedisServer
from tests.factories import ProviderFactory, UserFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PROVIDERS = "/api/v1/providers/"
TOKEN = "/api/v1/auth/token/"


def throttled(**extra):
    """Rate limits on, with ``extra`` MODEL_REGISTRY settings (everything else as configured)."""
    return override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "THROTTLE_ENABLED": True, **extra})


def rates(anon="1000/min", user="1000/min", sensitive="1000/min") -> dict:
    return {"anon": anon, "user": user, "sensitive": sensitive}


def client_ip() -> str:
    """An address of its own for each test: counters of earlier tests never interfere."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def anonymous(ip: str | None = None, **extra) -> APIClient:
    return APIClient(REMOTE_ADDR=ip or client_ip(), **extra)


def signed_in(user, ip: str | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=ip or client_ip())
    client.force_authenticate(user)
    return client


def errors_total(scope: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "model_registry_throttle_errors_total", {"scope": scope, "outcome": outcome}
    )
    return value or 0.0


def throttle_caches(url: str, timeout: float = 0.2) -> dict:
    """``settings.CACHES`` with the throttle alias on the Redis at ``url``."""
    return {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"{settings.TEST_KEY_PREFIX}-throttle-own",
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": timeout,
                "SOCKET_TIMEOUT": timeout,
                "IGNORE_EXCEPTIONS": False,
            },
        },
    }


@pytest.fixture(autouse=True)
def _fresh_store_health():
    store_health.reset()
    yield
    store_health.reset()


@pytest.fixture
def superuser(db):
    return UserFactory(username=f"root-{uuid.uuid4().hex[:6]}", is_staff=True, is_superuser=True)


def assert_throttled(response) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled" and "throttled" in body["detail"].lower()
    wait = int(response["Retry-After"])
    assert wait >= 1
    return wait


# -- scopes ----------------------------------------------------------------------------------


def test_throttling_is_off_in_the_test_settings_and_the_alias_is_its_own():
    assert settings.MODEL_REGISTRY["THROTTLE_ENABLED"] is False
    assert settings.CACHES["throttle"]["KEY_PREFIX"] != settings.CACHES["default"].get("KEY_PREFIX")
    assert settings.CACHES["throttle"]["OPTIONS"]["IGNORE_EXCEPTIONS"] is False
    client = anonymous()
    with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "ALLOW_ANONYMOUS_READS": True}):
        assert all(client.get(PROVIDERS).status_code == 200 for _ in range(5))


def test_anonymous_requests_are_limited_per_ip(redis_client):
    ProviderFactory(slug="acme")
    ip = client_ip()
    with throttled(ALLOW_ANONYMOUS_READS=True, THROTTLE_RATES=rates(anon="3/min")):
        assert [anonymous(ip).get(PROVIDERS).status_code for _ in range(3)] == [200, 200, 200]
        wait = assert_throttled(anonymous(ip).get(PROVIDERS))
        assert wait <= 120
        assert anonymous().get(PROVIDERS).status_code == 200  # another address has its own allowance
    # the counters live in Redis under the throttle alias's own prefix
    assert list(redis_client.scan_iter(match=f"{settings.TEST_KEY_PREFIX}-throttle:*throttle:anon:*"))


def test_authenticated_requests_are_limited_per_user_whatever_the_address():
    alice, bob = UserFactory(), UserFactory()
    with throttled(THROTTLE_RATES=rates(user="3/min", anon="1/min")):
        assert [signed_in(alice).get(PROVIDERS).status_code for _ in range(3)] == [200, 200, 200]
        assert_throttled(signed_in(alice).get(PROVIDERS))  # a new address does not help
        assert signed_in(bob).get(PROVIDERS).status_code == 200


def test_token_endpoint_is_in_the_sensitive_scope():
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:6]}")
    ip = client_ip()
    with throttled(THROTTLE_RATES=rates(sensitive="2/min")):
        for _ in range(2):
            assert (
                anonymous(ip).post(TOKEN, {"username": user.username, "password": "guess"}).status_code == 400
            )
        # even the right password is refused now: guessing cannot continue
        assert_throttled(anonymous(ip).post(TOKEN, {"username": user.username, "password": "pass-word-123"}))
        ok = anonymous().post(TOKEN, {"username": user.username, "password": "pass-word-123"})
        assert ok.status_code == 200 and ok.json()["token"]


def test_approval_endpoints_are_in_the_sensitive_scope_but_reads_are_not(superuser):
    ip = client_ip()
    with throttled(THROTTLE_RATES=rates(sensitive="2/min")):
        client = signed_in(superuser, ip)
        assert client.post("/api/v1/rollbacks/999999/approve/", {}).status_code == 404
        assert client.post("/api/v1/sync/changes/999999/reject/", {"comment": "no"}).status_code == 404
        assert_throttled(client.post("/api/v1/rollbacks/999999/reject/", {"comment": "no"}))
        assert_throttled(client.post("/api/v1/sync/changes/999999/approve/", {}))
        assert [client.get(PROVIDERS).status_code for _ in range(4)] == [200] * 4


def test_sensitive_views_are_chosen_by_url_name():
    with throttled(
        THROTTLE_RATES=rates(sensitive="1/min"),
        THROTTLE_SENSITIVE_VIEWS=("models_registry_api:provider-list",),
    ):
        client = signed_in(UserFactory())
        assert client.get(PROVIDERS).status_code == 200
        assert_throttled(client.get(PROVIDERS))


def test_x_forwarded_for_is_ignored_unless_proxies_are_configured():
    ip = client_ip()
    with throttled(ALLOW_ANONYMOUS_READS=True, THROTTLE_RATES=rates(anon="2/min")):
        spoofed = [
            anonymous(ip, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").get(PROVIDERS).status_code for n in range(3)
        ]
        assert spoofed == [200, 200, 429]
        behind_proxy = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
        with override_settings(REST_FRAMEWORK=behind_proxy):
            # the proxy (REMOTE_ADDR, already over its allowance) appends the client's address
            codes = [
                anonymous(ip, HTTP_X_FORWARDED_FOR=f"forged, 198.51.100.{n}").get(PROVIDERS).status_code
                for n in range(3)
            ]
            assert codes == [200, 200, 200]
            same_client = [
                anonymous(ip, HTTP_X_FORWARDED_FOR=f"forged-{n}, 198.51.100.77").get(PROVIDERS).status_code
                for n in range(3)
            ]
            assert same_client == [200, 200, 429]


# -- the sliding window ----------------------------------------------------------------------


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_sliding_window_counts_the_previous_window_by_its_overlap(monkeypatch):
    clock = Clock(60 * 10**8)  # the start of a window, far from the real clock's keys
    monkeypatch.setattr(RegistryRateThrottle, "timer", staticmethod(clock))
    client = signed_in(UserFactory())
    with throttled(THROTTLE_RATES=rates(user="10/min")):
        assert [client.get(PROVIDERS).status_code for _ in range(10)] == [200] * 10
        wait = assert_throttled(client.get(PROVIDERS))
        assert wait == 66  # the full window ends in 60 s; its weight must then fall below 9/10
        clock.now += 60  # next window: the previous one still counts fully
        assert_throttled(client.get(PROVIDERS))
        clock.now += 30  # half of it overlaps now: 5 of the 10 count
        assert [client.get(PROVIDERS).status_code for _ in range(6)] == [200] * 5 + [429]
        clock.now += 60  # the window of those 5 is now the previous one, 30 s of it overlap
        codes = [client.get(PROVIDERS).status_code for _ in range(9)]
        assert codes == [200] * 7 + [429] * 2  # 5 * 0.5 + 7 = 9.5 <= 10 < 5 * 0.5 + 8


def test_retry_after_is_when_the_next_request_fits(monkeypatch):
    clock = Clock(60 * 10**8 + 12)
    monkeypatch.setattr(RegistryRateThrottle, "timer", staticmethod(clock))
    client = signed_in(UserFactory())
    with throttled(THROTTLE_RATES=rates(user="4/min")):
        assert [client.get(PROVIDERS).status_code for _ in range(4)] == [200] * 4
        wait = assert_throttled(client.get(PROVIDERS))
        clock.now += wait - 1
        assert_throttled(client.get(PROVIDERS))  # refusals are not counted: the wait did not grow
        clock.now += 1
        assert client.get(PROVIDERS).status_code == 200


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "expected"),
    [
        (0, 10, 0.0, 66.0),  # current window full: it must end and decay to 9/10
        (10, 0, 0.0, 6.0),  # previous window full: its weight must fall to 9/10
        (10, 5, 30.0, 6.0),  # 10 * w + 5 + 1 <= 10 → w <= 0.4: 36 s into the window
        (4, 4, 50.0, 0.0),  # fits now
    ],
)
def test_retry_after_formula(previous, current, elapsed, expected):
    got = retry_after(previous=previous, current=current, limit=10, period=60, elapsed=elapsed)
    assert got == pytest.approx(expected)


# -- the store's outages ---------------------------------------------------------------------


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.close()


def test_redis_down_fails_open_for_reads_and_closed_for_token_and_approvals(own_redis, superuser, caplog):
    ProviderFactory(slug="acme")
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:6]}")
    with (
        override_settings(CACHES=throttle_caches(own_redis.url)),
        throttled(ALLOW_ANONYMOUS_READS=True, THROTTLE_RETRY_AFTER=0.0, THROTTLE_LOG_INTERVAL=3600),
    ):
        reader, admin = anonymous(), signed_in(superuser)
        assert reader.get(PROVIDERS).status_code == 200
        assert own_redis.client().dbsize() > 0  # counters were written to this server
        own_redis.kill()
        opened_before = errors_total("anon", "allowed") + errors_total("user", "allowed")
        refused_before = errors_total("sensitive", "refused")
        with caplog.at_level(logging.WARNING, logger="models_registry.throttling"):
            assert [reader.get(PROVIDERS).status_code for _ in range(3)] == [200] * 3
            assert admin.get(PROVIDERS).status_code == 200
            token = anonymous().post(TOKEN, {"username": user.username, "password": "pass-word-123"})
            approval = admin.post("/api/v1/rollbacks/999999/approve/", {})
        for response in (token, approval):
            assert response.status_code == 503, response.content
            assert response.json()["code"] == "throttle_unavailable"
            assert "rate limit" in response.json()["detail"]
            assert int(response["Retry-After"]) >= 1
        assert errors_total("anon", "allowed") + errors_total("user", "allowed") - opened_before >= 4
        assert errors_total("sensitive", "refused") - refused_before == 2
        warnings = [r for r in caplog.records if r.name == "models_registry.throttling"]
        assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()

        own_redis.start()  # back on the same port: the token endpoint works again
        ok = anonymous().post(TOKEN, {"username": user.username, "password": "pass-word-123"})
        assert ok.status_code == 200, ok.content


def test_a_blackholed_redis_costs_one_socket_timeout_then_nothing_for_the_cool_down(own_redis, superuser):
    proxy = BlackholeProxy(own_redis.port)
    failures = []
    original = store_health.failed
    try:
        with (
            override_settings(CACHES=throttle_caches(proxy.url, timeout=0.5)),
            throttled(THROTTLE_RETRY_AFTER=30.0),
        ):
            client = signed_in(superuser)
            assert client.get(PROVIDERS).status_code == 200  # the pool holds a live connection now
            proxy.blackhole()
            store_health.failed = lambda exc: (failures.append(exc), original(exc))
            started = time.monotonic()
            assert client.get(PROVIDERS).status_code == 200  # fails open after the socket timeout
            first = time.monotonic() - started
            assert 0.45 <= first < 1.5  # one 0.5 s timeout, not one per retry or per Redis call
            codes = [client.get(PROVIDERS).status_code for _ in range(5)]
            refused = client.post("/api/v1/rollbacks/999999/approve/", {})
            assert codes == [200] * 5 and refused.status_code == 503
            assert len(failures) == 1  # within the cool-down the store is not tried again
            assert 25 <= int(refused["Retry-After"]) <= 30
    finally:
        store_health.failed = original
        proxy.close()


def test_without_redis_the_counters_are_in_process_memory():
    with (
        override_settings(
            CACHES={
                **settings.CACHES,
                "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            }
        ),
        throttled(THROTTLE_RATES=rates(user="2/min")),
    ):
        assert "LocMemCache" in type(throttle_cache()).__name__
        client = signed_in(UserFactory())
        assert [client.get(PROVIDERS).status_code for _ in range(2)] == [200, 200]
        assert_throttled(client.get(PROVIDERS))


def test_a_scope_left_out_of_the_rates_keeps_its_default_and_none_is_unlimited():
    with throttled(THROTTLE_RATES={"user": None}):
        assert throttling.UserThrottle().rate is None
        assert throttling.SensitiveThrottle().rate == "10/min"
        client = signed_in(UserFactory())
        assert all(client.get(PROVIDERS).status_code == 200 for _ in range(5))


def test_unknown_alias_falls_back_to_the_default_cache():
    with throttled(THROTTLE_CACHE_ALIAS="no-such-alias"):
        assert throttle_cache() is throttling.caches["default"]
