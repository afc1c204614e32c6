"""Who may read and write: anonymous, reader, editor, partial permissions; token authentication."""

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from models_registry.models import AIModel
from tests.api.conftest import MODELS_URL, by_key_url, detail_url
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

ANONYMOUS_READS = override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "ALLOW_ANONYMOUS_READS": True})


@pytest.fixture
def model(db):
    return AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o")


def read_urls(m) -> list[str]:
    return [
        MODELS_URL,
        detail_url(m.pk),
        by_key_url(m.key),
        f"{MODELS_URL}stats/",
        "/api/v1/providers/",
        "/api/v1/providers/openai/",
    ]


def test_anonymous_reads_are_401_with_a_token_challenge(api_client, model):
    for url in read_urls(model):
        response = api_client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"] == "Token"
        assert response.json()["code"] == "not_authenticated"


def test_anonymous_writes_are_401(api_client, model):
    assert api_client.post(MODELS_URL, {"provider": "openai", "name": "x"}, format="json").status_code == 401
    assert api_client.patch(detail_url(model.pk), {"mode": "x"}, format="json").status_code == 401
    assert api_client.put(detail_url(model.pk), {}, format="json").status_code == 401
    assert api_client.delete(detail_url(model.pk)).status_code == 401
    assert AIModel.objects.get(pk=model.pk).revision == 1


@ANONYMOUS_READS
def test_anonymous_reads_when_allowed_but_still_no_writes(api_client, model):
    for url in read_urls(model):
        assert api_client.get(url).status_code == 200, url
    assert api_client.patch(detail_url(model.pk), {"mode": "x"}, format="json").status_code == 401
    assert api_client.delete(detail_url(model.pk)).status_code == 401
    assert AIModel.objects.get(pk=model.pk).is_active is True


def test_reader_can_read_but_not_write(reader_client, model):
    for url in read_urls(model):
        assert reader_client.get(url).status_code == 200, url
    response = reader_client.post(MODELS_URL, {"provider": "openai", "name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert reader_client.patch(detail_url(model.pk), {"mode": "x"}, format="json").status_code == 403
    assert reader_client.put(detail_url(model.pk), {}, format="json").status_code == 403
    assert reader_client.delete(detail_url(model.pk)).status_code == 403
    assert AIModel.objects.count() == 1
    assert AIModel.objects.get(pk=model.pk).revision == 1


def test_editor_can_write(editor_client, model):
    assert (
        editor_client.post(MODELS_URL, {"provider": "openai", "name": "x"}, format="json").status_code == 201
    )
    assert editor_client.patch(detail_url(model.pk), {"mode": "completion"}, format="json").status_code == 200
    assert editor_client.put(detail_url(model.pk), {"mode": "chat"}, format="json").status_code == 200
    assert editor_client.delete(detail_url(model.pk)).status_code == 204


def test_each_write_needs_its_own_permission(model):
    user = grant(UserFactory(username="changer"), "change_aimodel")
    client = APIClient()
    client.force_authenticate(user=user)
    assert client.patch(detail_url(model.pk), {"mode": "completion"}, format="json").status_code == 200
    assert client.post(MODELS_URL, {"provider": "openai", "name": "x"}, format="json").status_code == 403
    assert client.delete(detail_url(model.pk)).status_code == 403


def test_session_authentication(model, reader):
    client = APIClient()
    client.force_login(reader)
    assert client.get(detail_url(model.pk)).status_code == 200


def test_inactive_user_cannot_read(model):
    user = UserFactory(username="gone", is_active=False)
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(MODELS_URL).status_code == 401


# --- token endpoint -------------------------------------------------------------------------


def test_token_for_good_credentials_works_on_the_api(api_client, model):
    UserFactory(username="alice", password="s3cret-pass")
    response = api_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "s3cret-pass"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token
    again = api_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "s3cret-pass"}, format="json"
    )
    assert again.json()["token"] == token  # one token per user

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(detail_url(model.pk)).status_code == 200
    assert client.patch(detail_url(model.pk), {"mode": "x"}, format="json").status_code == 403


def test_token_of_an_editor_can_write(api_client, editor, model):
    token = Token.objects.create(user=editor)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api_client.patch(detail_url(model.pk), {"display_name": "X"}, format="json")
    assert response.status_code == 200
    assert AIModel.history.filter(id=model.pk).latest("history_id").history_user == editor


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"username": "alice", "password": "wrong"}, "non_field_errors"),
        ({"username": "nobody", "password": "s3cret-pass"}, "non_field_errors"),
        ({"username": "alice"}, "password"),
        ({}, "username"),
    ],
)
def test_token_for_bad_credentials_is_400(api_client, payload, field):
    UserFactory(username="alice", password="s3cret-pass")
    response = api_client.post("/api/v1/auth/token/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert "token" not in response.json()


def test_token_endpoint_accepts_form_data(api_client):
    UserFactory(username="alice", password="s3cret-pass")
    response = api_client.post("/api/v1/auth/token/", {"username": "alice", "password": "s3cret-pass"})
    assert response.status_code == 200


def test_bad_token_is_401(api_client, model):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api_client.get(detail_url(model.pk)).status_code == 401


def test_options_describes_the_endpoints(editor_client, reader_client, model):
    urls = read_urls(model) + ["/api/v1/auth/token/"]
    for client in (editor_client, reader_client):
        for url in urls:
            assert client.options(url).status_code == 200, url
    actions = editor_client.options(MODELS_URL).json()["actions"]
    assert actions["POST"]["provider"]["required"] is True
    assert "PUT" in editor_client.options(detail_url(model.pk)).json()["actions"]
    assert "actions" not in reader_client.options(MODELS_URL).json()  # no write permission
