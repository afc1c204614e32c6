"""The API reads through the cache, and every write path invalidates through the one hook."""

import pytest
from rest_framework.test import APIClient

from caching import keys as k
from models_registry import services
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant

pytestmark = [pytest.mark.redis]


@pytest.fixture
def client(cache_on):
    user = grant(UserFactory(username="cache-editor"), "add_aimodel", "change_aimodel", "delete_aimodel")
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_retrieve_by_key_and_list_are_served_from_cache(
    cache_on, client, redis_client, django_assert_max_num_queries
):
    provider = ProviderFactory(slug="acme")
    model = AIModelFactory(provider=provider, name="m/with:odd@chars")
    url = f"/api/v1/models/{model.pk}/"
    assert client.get(url).json()["key"] == "acme/m/with:odd@chars"
    assert client.get(f"/api/v1/models/by-key/{model.key}").status_code == 200
    assert client.get("/api/v1/models/", {"provider": "acme"}).json()["count"] == 1
    assert redis_client.get(k.value_key(cache_on.gen, model.key)) is not None
    # warm now: no query touches the model tables (the auth user is force-authenticated)
    with django_assert_max_num_queries(0):
        assert client.get(url).status_code == 200
        assert client.get(f"/api/v1/models/by-key/{model.key}").status_code == 200
        assert client.get("/api/v1/models/", {"provider": "acme"}).json()["results"][0]["key"] == model.key


def test_writes_through_the_api_are_visible_at_once(cache_on, client):
    model = AIModelFactory(provider=ProviderFactory(slug="acme"), name="m1")
    url = f"/api/v1/models/{model.pk}/"
    etag = client.get(url)["ETag"]
    client.get("/api/v1/models/", {"provider": "acme"})
    response = client.patch(url, {"context_window": 999}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert client.get(url).json()["context_window"] == 999
    assert client.get("/api/v1/models/", {"provider": "acme", "min_context": 900}).json()["count"] == 1
    assert client.delete(url).status_code == 204
    assert client.get(url).json()["is_active"] is False
    assert client.get("/api/v1/models/", {"provider": "acme"}).json()["count"] == 0


def test_service_and_import_writes_invalidate(cache_on, client, tmp_path):
    import json

    from django.core.management import call_command

    model = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-x", source="litellm")
    url = f"/api/v1/models/{model.pk}/"
    client.get(url)
    services.ai_model_update(ai_model=model, data={"description": "changed by a service"})
    assert client.get(url).json()["description"] == "changed by a service"
    catalog = tmp_path / "c.json"
    catalog.write_text(
        json.dumps({"gpt-x": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 4242}})
    )
    call_command("import_catalog", str(catalog), "--format", "litellm")
    assert client.get(url).json()["context_window"] == 4242
