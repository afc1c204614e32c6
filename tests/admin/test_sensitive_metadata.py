"""Sensitive metadata values are hidden from staff without ``view_sensitive_metadata``."""

import pytest

from models_registry import services
from models_registry.admin.sensitive import MASK
from tests.admin.conftest import change_data, url
from tests.factories import AIModelFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

SECRET = "sk-do-not-show-me"


@pytest.fixture
def with_secret(db):
    model = AIModelFactory(name="private-endpoint", metadata={"api_key": SECRET, "region": "eu-west-1"})
    services.ai_model_update(ai_model=model, data={"metadata": {"api_key": SECRET + "-2", "region": "eu"}})
    return model


@pytest.fixture
def editor_client(client):
    user = grant(
        UserFactory(username="curator", is_staff=True),
        "view_aimodel",
        "change_aimodel",
        "add_aimodel",
        "view_provider",
    )
    client.force_login(user)
    return client


def test_change_page_masks_metadata_and_a_save_keeps_it(editor_client, with_secret):
    response = editor_client.get(url("change", with_secret.pk))
    html = response.content.decode()
    assert SECRET not in html
    assert MASK in html and "eu" in html
    assert "metadata" not in response.context["adminform"].form.fields
    data = change_data(with_secret, display_name="Private", metadata=None)
    response = editor_client.post(url("change", with_secret.pk), data)
    assert response.status_code == 302
    with_secret.refresh_from_db()
    assert with_secret.display_name == "Private"
    assert with_secret.metadata["api_key"] == SECRET + "-2"


@pytest.mark.parametrize("view", ["add", "change"])
def test_users_without_the_permission_cannot_set_sensitive_keys(editor_client, view):
    model = AIModelFactory(name="plain", metadata={"region": "eu"})
    metadata = '{"region": "eu", "API_KEY": "sk-new"}'
    if view == "change":
        response = editor_client.post(url("change", model.pk), change_data(model, metadata=metadata))
    else:
        response = editor_client.post(
            url("add"),
            {"provider": model.provider_id, "name": "new", "metadata": metadata, "is_active": "on"},
        )
    assert response.status_code == 200
    assert "API_KEY" in str(response.context["adminform"].form.errors["metadata"])
    model.refresh_from_db()
    assert (model.metadata, model.revision) == ({"region": "eu"}, 1)
    assert not model.provider.models.filter(name="new").exists()


def test_history_pages_mask_metadata(editor_client, with_secret):
    html = editor_client.get(url("history", with_secret.pk)).content.decode()
    assert SECRET not in html
    first = with_secret.history.earliest()
    html = editor_client.get(url("simple_history", with_secret.pk, first.history_id)).content.decode()
    assert SECRET not in html


def test_users_with_the_permission_see_and_edit_metadata(staff_client, with_secret):
    response = staff_client.get(url("change", with_secret.pk))
    assert SECRET in response.content.decode()
    assert "metadata" in response.context["adminform"].form.fields
    assert SECRET in staff_client.get(url("history", with_secret.pk)).content.decode()
