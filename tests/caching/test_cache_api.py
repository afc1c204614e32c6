"""Cache API and admin dashboard: figures, invalidation (recorded), permissions, bad input."""

import pytest
from rest_framework.test import APIClient

from caching import keys as k
from caching.models import InvalidationEvent
from models_registry import selectors
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant

pytestmark = [pytest.mark.redis]


@pytest.fixture
def operator(cache_on):
    user = UserFactory(username="operator", is_staff=True)
    return grant(user, "invalidate_cache")


@pytest.fixture
def warm(cache_on):
    acme = ProviderFactory(slug="acme")
    other = ProviderFactory(slug="other")
    models = [
        AIModelFactory(provider=acme, name="a", tags=["beta"]),
        AIModelFactory(provider=acme, name="b"),
        AIModelFactory(provider=other, name="c", tags=["beta"]),
    ]
    selectors.ai_model_get_many(keys=[m.key for m in models])
    return models


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_stats_report_tiers_indexes_and_breaker(cache_on, warm, operator):
    selectors.ai_model_get(key="acme/a")
    body = _client(operator).get("/api/v1/cache/stats/").json()
    assert body["enabled"] is True and body["breaker"] == "closed"
    assert body["l1"]["entries"] >= 3 and 0 < body["l1"]["bytes"] <= body["l1"]["max_bytes"]
    assert body["l1"]["hits"] >= 1
    assert body["l2"]["keys"] == 3
    assert body["l2"]["by_provider"] == {"acme": 2, "other": 1}
    assert body["l2"]["by_tag"] == {"beta": 2}


def test_invalidate_by_provider_tags_models_and_all(cache_on, warm, operator, redis_client):
    client = _client(operator)
    response = client.post(
        "/api/v1/cache/invalidate/", {"providers": ["acme"], "reason": "price update"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2 and response.json()["scope"] == "provider"
    assert redis_client.get(k.value_key(cache_on.gen, "acme/a")) is None
    assert redis_client.get(k.value_key(cache_on.gen, "other/c")) is not None
    assert (
        client.post("/api/v1/cache/invalidate/", {"models": ["other/c"]}, format="json").json()["count"] == 1
    )
    assert redis_client.get(k.value_key(cache_on.gen, "other/c")) is None
    selectors.ai_model_get(key="other/c")
    response = client.post("/api/v1/cache/invalidate/", {"all": True}, format="json")
    assert response.status_code == 200 and response.json()["scope"] == "all"
    event = InvalidationEvent.objects.first()
    assert event.scope == "all" and event.actor == operator
    assert InvalidationEvent.objects.count() == 3
    assert InvalidationEvent.objects.get(scope="provider").reason == "price update"
    listing = client.get("/api/v1/invalidation-events/", {"scope": "provider"}).json()
    assert listing["count"] == 1 and listing["results"][0]["targets"] == ["acme"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"models": ["a"], "all": True},
        {"providers": "acme"},
        {"all": "maybe"},
        {"nope": 1},
        {"models": ["x\x00y"]},
    ],
)
def test_bad_invalidation_requests_are_400_and_change_nothing(cache_on, warm, operator, body):
    response = _client(operator).post("/api/v1/cache/invalidate/", body, format="json")
    assert response.status_code == 400
    assert InvalidationEvent.objects.count() == 0


def test_permissions(cache_on, warm):
    reader = UserFactory(username="plain-reader")
    staff_without_perm = UserFactory(username="staffer", is_staff=True)
    assert APIClient().get("/api/v1/cache/stats/").status_code in (401, 403)
    assert _client(reader).get("/api/v1/cache/stats/").status_code == 403
    assert _client(staff_without_perm).get("/api/v1/cache/stats/").status_code == 200
    response = _client(staff_without_perm).post("/api/v1/cache/invalidate/", {"all": True}, format="json")
    assert response.status_code == 403
    assert InvalidationEvent.objects.count() == 0


def test_admin_dashboard_renders_and_invalidates_after_confirmation(cache_on, warm, client, redis_client):
    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get("/admin/caching/invalidationevent/dashboard/")
    assert page.status_code == 200
    assert b"Circuit breaker" in page.content and b"acme" in page.content
    first = client.post(
        "/admin/caching/invalidationevent/dashboard/",
        {"scope": "providers", "targets": "acme", "reason": "r"},
    )
    assert first.status_code == 200 and b"Yes, invalidate" in first.content
    assert InvalidationEvent.objects.count() == 0  # nothing before confirmation
    assert redis_client.get(k.value_key(cache_on.gen, "acme/a")) is not None
    second = client.post(
        "/admin/caching/invalidationevent/dashboard/",
        {"scope": "providers", "targets": "acme", "reason": "r", "confirmed": "True"},
    )
    assert second.status_code == 302
    assert InvalidationEvent.objects.get().count == 2
    assert redis_client.get(k.value_key(cache_on.gen, "acme/a")) is None
    assert client.get("/admin/caching/invalidationevent/").status_code == 200
