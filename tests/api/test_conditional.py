"""ETag, If-None-Match (304) and If-Match (412) on models."""

from unittest import mock

import pytest

from models_registry import services
from models_registry.api.conditional import WILDCARD, EntityTag, model_etag, parse_entity_tags
from models_registry.models import AIModel
from tests.api.conftest import MODELS_URL, by_key_url, detail_url
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    return AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o", context_window=1000)


def etag(m, revision=None) -> str:
    return f'"v1-{m.pk}-{revision or m.revision}"'


# --- ETag and If-None-Match -----------------------------------------------------------------


def test_etag_on_every_model_response(editor_client, model):
    assert editor_client.get(detail_url(model.pk))["ETag"] == etag(model, 1)
    assert editor_client.get(by_key_url(model.key))["ETag"] == etag(model, 1)
    patched = editor_client.patch(detail_url(model.pk), {"context_window": 2000}, format="json")
    assert patched["ETag"] == etag(model, 2)
    put = editor_client.put(detail_url(model.pk), {"context_window": 3000}, format="json")
    assert put["ETag"] == etag(model, 3)
    created = editor_client.post(MODELS_URL, {"provider": "openai", "name": "new"}, format="json")
    assert created["ETag"] == f'"v1-{created.json()["id"]}-1"'
    assert editor_client.get(detail_url(model.pk))["ETag"] == etag(model, 3)


@pytest.mark.parametrize("url_of", [lambda m: detail_url(m.pk), lambda m: by_key_url(m.key)])
def test_if_none_match_current_is_304_without_body(reader_client, model, url_of):
    response = reader_client.get(url_of(model), HTTP_IF_NONE_MATCH=etag(model))
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag(model)


@pytest.mark.parametrize(
    "header_of",
    [
        lambda m: f'W/"v1-{m.pk}-1"',  # weak comparison for If-None-Match
        lambda m: f'"something-else", "v1-{m.pk}-1"',
        lambda m: "*",
    ],
)
def test_if_none_match_variants_that_match(reader_client, model, header_of):
    assert reader_client.get(detail_url(model.pk), HTTP_IF_NONE_MATCH=header_of(model)).status_code == 304


@pytest.mark.parametrize("header", ['"v1-1-999"', '"other"', "garbage without quotes", ""])
def test_if_none_match_stale_or_malformed_gives_the_body(reader_client, model, header):
    response = reader_client.get(detail_url(model.pk), HTTP_IF_NONE_MATCH=header)
    assert response.status_code == 200
    assert response.json()["id"] == model.pk


def test_etag_changes_after_a_write_and_304_stops(editor_client, model):
    old = editor_client.get(detail_url(model.pk))["ETag"]
    editor_client.patch(detail_url(model.pk), {"context_window": 2000}, format="json")
    response = editor_client.get(detail_url(model.pk), HTTP_IF_NONE_MATCH=old)
    assert response.status_code == 200
    assert response["ETag"] != old


def test_etag_is_unique_per_model(reader_client, model):
    other = AIModelFactory(provider=model.provider, name="other")
    assert reader_client.get(detail_url(other.pk), HTTP_IF_NONE_MATCH=etag(model)).status_code == 200


# --- If-Match -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["patch", "put"])
def test_if_match_current_allows_the_write(editor_client, model, method):
    response = getattr(editor_client, method)(
        detail_url(model.pk), {"context_window": 2000}, format="json", HTTP_IF_MATCH=etag(model, 1)
    )
    assert response.status_code == 200
    assert response["ETag"] == etag(model, 2)


@pytest.mark.parametrize("method", ["patch", "put"])
def test_stale_if_match_is_412_and_leaves_the_row_unchanged(editor_client, model, method):
    editor_client.patch(detail_url(model.pk), {"context_window": 2000}, format="json")  # now revision 2
    before = AIModel.objects.get(pk=model.pk)
    history = AIModel.history.filter(id=model.pk).count()
    response = getattr(editor_client, method)(
        detail_url(model.pk), {"context_window": 9999}, format="json", HTTP_IF_MATCH=etag(model, 1)
    )
    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"
    assert response.json()["current_revision"] == 2
    after = AIModel.objects.get(pk=model.pk)
    assert (after.context_window, after.revision, after.updated_at) == (2000, 2, before.updated_at)
    assert AIModel.history.filter(id=model.pk).count() == history


def test_stale_if_match_on_delete_keeps_the_model_active(editor_client, model):
    editor_client.patch(detail_url(model.pk), {"context_window": 2000}, format="json")
    response = editor_client.delete(detail_url(model.pk), HTTP_IF_MATCH=etag(model, 1))
    assert response.status_code == 412
    assert AIModel.objects.get(pk=model.pk).is_active is True
    assert editor_client.delete(detail_url(model.pk), HTTP_IF_MATCH=etag(model, 2)).status_code == 204
    assert AIModel.objects.get(pk=model.pk).is_active is False


def test_if_match_star_always_passes(editor_client, model):
    editor_client.patch(detail_url(model.pk), {"context_window": 2000}, format="json")
    response = editor_client.patch(
        detail_url(model.pk), {"context_window": 3000}, format="json", HTTP_IF_MATCH="*"
    )
    assert response.status_code == 200
    assert editor_client.delete(detail_url(model.pk), HTTP_IF_MATCH="*").status_code == 204


@pytest.mark.parametrize(
    "header_of",
    [
        lambda m: "v1-1-1",  # unquoted
        lambda m: f'"v1-{m.pk}-1',  # unterminated
        lambda m: f'*, "v1-{m.pk}-1"',  # * mixed with tags
        lambda m: f'W/"v1-{m.pk}-1"',  # weak tags never match If-Match
        lambda m: '"v1-999999-1"',  # another model's tag
        lambda m: '"1"',  # not one of ours
        lambda m: '"*"',  # a quoted star is a tag, not the wildcard
        lambda m: "",
    ],
)
def test_malformed_or_foreign_if_match_is_412(editor_client, model, header_of):
    response = editor_client.patch(
        detail_url(model.pk), {"context_window": 2000}, format="json", HTTP_IF_MATCH=header_of(model)
    )
    assert response.status_code == 412
    assert AIModel.objects.get(pk=model.pk).revision == 1


def test_if_match_list_with_the_current_tag_passes(editor_client, model):
    editor_client.patch(detail_url(model.pk), {"context_window": 2000}, format="json")
    header = f'"v1-{model.pk}-1", "v1-{model.pk}-2", "v1-999999-2"'
    response = editor_client.patch(
        detail_url(model.pk), {"context_window": 3000}, format="json", HTTP_IF_MATCH=header
    )
    assert response.status_code == 200
    stale = f'"v1-{model.pk}-1", "v1-{model.pk}-2"'
    response = editor_client.patch(
        detail_url(model.pk), {"context_window": 4000}, format="json", HTTP_IF_MATCH=stale
    )
    assert response.status_code == 412


def test_the_revision_check_is_left_to_the_service(editor_client, model):
    """The view passes the revision to the service, which compares it under the row lock."""
    with mock.patch.object(services, "ai_model_update", wraps=services.ai_model_update) as update:
        editor_client.patch(
            detail_url(model.pk), {"context_window": 2000}, format="json", HTTP_IF_MATCH=etag(model)
        )
    assert update.call_args.kwargs["expected_revision"] == 1
    with mock.patch.object(services, "ai_model_deactivate", wraps=services.ai_model_deactivate) as deactivate:
        editor_client.delete(detail_url(model.pk), HTTP_IF_MATCH=etag(model, 2))
    assert deactivate.call_args.kwargs["expected_revision"] == 2


def test_a_write_between_read_and_lock_is_caught(editor_client, model):
    """If the row changes after the view read it, the service's check under the lock still says 412."""
    real_update = services.ai_model_update

    def concurrent_then_real(**kwargs):
        real_update(ai_model=model.pk, data={"context_window": 5000}, reason="someone else")
        return real_update(**kwargs)

    with mock.patch.object(services, "ai_model_update", side_effect=concurrent_then_real):
        response = editor_client.patch(
            detail_url(model.pk), {"context_window": 2000}, format="json", HTTP_IF_MATCH=etag(model, 1)
        )
    assert response.status_code == 412
    assert AIModel.objects.get(pk=model.pk).context_window == 5000


# --- helpers --------------------------------------------------------------------------------


def test_parse_entity_tags():
    assert parse_entity_tags("*") == [WILDCARD]
    assert parse_entity_tags(' "a" , W/"b"') == [EntityTag("a"), EntityTag("b", weak=True)]
    assert parse_entity_tags('"a", b') is None
    assert parse_entity_tags("") is None
    assert model_etag(id=3, revision=7) == '"v1-3-7"'
