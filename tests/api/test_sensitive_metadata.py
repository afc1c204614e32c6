"""Sensitive metadata (``SENSITIVE_METADATA_KEYS``) is masked for users without
``view_sensitive_metadata`` and cannot be changed by them; a GET → PUT round trip keeps it."""

from unittest import mock

import pytest
from rest_framework.test import APIClient

from models_registry import services
from models_registry.api.sensitive import MASK
from models_registry.models import AIModel
from tests.api.conftest import MODELS_URL, by_key_url, detail_url
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

SECRET = {"family": "llama", "api_key": "sk-live-123", "Endpoint_Secret": "s3"}


@pytest.fixture
def model(db):
    return AIModelFactory(provider=ProviderFactory(slug="azure"), name="gpt-4o", metadata=SECRET)


@pytest.fixture
def privileged_client(db):
    user = grant(
        UserFactory(username="keeper"),
        "view_sensitive_metadata",
        "add_aimodel",
        "change_aimodel",
        "delete_aimodel",
    )
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def stored(m) -> dict:
    return AIModel.objects.get(pk=m.pk).metadata


def test_masked_for_readers_everywhere(reader_client, model):
    expected = {"family": "llama", "api_key": MASK, "Endpoint_Secret": MASK}
    assert reader_client.get(detail_url(model.pk)).json()["metadata"] == expected
    assert reader_client.get(by_key_url(model.key)).json()["metadata"] == expected
    assert reader_client.get(MODELS_URL).json()["results"][0]["metadata"] == expected


def test_visible_with_the_permission(privileged_client, staff, model):
    assert privileged_client.get(detail_url(model.pk)).json()["metadata"] == SECRET
    client = APIClient()
    client.force_authenticate(user=staff)
    assert client.get(MODELS_URL).json()["results"][0]["metadata"] == SECRET


def test_put_round_trip_keeps_the_secrets(editor_client, model):
    body = editor_client.get(detail_url(model.pk)).json()
    body["metadata"]["family"] = "llama-3"
    writable = {k: body[k] for k in services.WRITABLE_FIELDS}
    response = editor_client.put(detail_url(model.pk), writable, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["metadata"]["api_key"] == MASK
    assert stored(model) == {**SECRET, "family": "llama-3"}


def test_omitting_sensitive_keys_keeps_them(editor_client, model):
    response = editor_client.patch(detail_url(model.pk), {"metadata": {"family": "x"}}, format="json")
    assert response.status_code == 200
    assert stored(model) == {**SECRET, "family": "x"}
    editor_client.put(detail_url(model.pk), {}, format="json")  # PUT resets metadata, but not the secrets
    assert stored(model) == {"api_key": "sk-live-123", "Endpoint_Secret": "s3"}


def test_setting_a_secret_needs_the_permission(editor_client, privileged_client, model):
    response = editor_client.patch(
        detail_url(model.pk), {"metadata": {**SECRET, "api_key": "mine"}}, format="json"
    )
    assert response.status_code == 403
    assert stored(model) == SECRET
    created = editor_client.post(
        MODELS_URL, {"provider": "azure", "name": "new", "metadata": {"access_token": "t"}}, format="json"
    )
    assert created.status_code == 403
    assert not AIModel.objects.filter(name="new").exists()

    response = privileged_client.patch(
        detail_url(model.pk), {"metadata": {"api_key": "rotated"}}, format="json"
    )
    assert response.status_code == 200
    assert stored(model) == {"api_key": "rotated"}


def test_secrets_changed_meanwhile_are_not_overwritten(editor_client, model):
    real_update = services.ai_model_update

    def rotate_then_real(**kwargs):
        real_update(ai_model=model.pk, data={"metadata": {**SECRET, "api_key": "rotated"}})
        return real_update(**kwargs)

    with mock.patch.object(services, "ai_model_update", side_effect=rotate_then_real):
        response = editor_client.patch(detail_url(model.pk), {"metadata": {"family": "x"}}, format="json")
    assert response.status_code == 412
    assert stored(model)["api_key"] == "rotated"
