"""Writes through the API: effects in the database, exact decimals, and 400s that name fields."""

from decimal import Decimal

import pytest

from models_registry.models import AIModel
from tests.api.conftest import MODELS_URL, detail_url
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def openai(db):
    return ProviderFactory(slug="openai")


def history_rows(pk: int):
    return list(AIModel.history.filter(id=pk).order_by("history_id"))


# --- create ---------------------------------------------------------------------------------


def test_create_minimal(editor_client, editor, openai):
    response = editor_client.post(
        MODELS_URL, {"provider": "openai", "name": "gpt-4o"}, format="json", HTTP_X_CHANGE_REASON="launch"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    model = AIModel.objects.get(key="openai/gpt-4o")
    assert body["id"] == model.pk
    assert body["revision"] == model.revision == 1
    assert response["ETag"] == f'"v1-{model.pk}-1"'
    assert response["Location"].endswith(detail_url(model.pk))
    assert model.source == "manual"  # the model's own field keeps its default
    [row] = history_rows(model.pk)
    assert row.history_user == editor
    assert row.history_change_reason == "launch"
    assert row.history_type == "+"


def test_create_with_every_writable_field(editor_client, openai):
    AIModelFactory(provider=openai, name="gpt-5")
    AIModelFactory(provider=ProviderFactory(slug="anthropic"), name="claude-opus-4")
    payload = {
        "provider": "openai",
        "name": "gpt-4o:2024-08-06@eu/x.*",
        "display_name": "GPT-4o",
        "description": "Omni",
        "mode": "chat",
        "context_window": 128000,
        "max_output_tokens": 16384,
        "input_cost_per_1m": "2.5",
        "output_cost_per_1m": 10,
        "pricing": {"input_cost_per_image": 0.1, "cache_read_input_token_cost": "0.00000125"},
        "supports_streaming": True,
        "supports_function_calling": True,
        "supports_vision": None,
        "capabilities": {"prompt_caching": True},
        "tags": ["flagship", "multimodal"],
        "metadata": {"family": "gpt-4", "nested": {"a": [1, 2]}},
        "is_active": True,
        "is_deprecated": True,
        "deprecation_date": "2026-06-30",
        "successor": "openai/gpt-5",
        "alternatives": ["anthropic/claude-opus-4"],
        "source": "litellm",
        "source_id": "gpt-4o-2024-08-06",
        "documentation_url": "https://platform.openai.com/docs/models/gpt-4o",
        "discovered_at": "2024-08-06T12:00:00Z",
    }
    response = editor_client.post(MODELS_URL, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    model = AIModel.objects.get(pk=body["id"])
    assert model.key == "openai/gpt-4o:2024-08-06@eu/x.*"
    assert model.source == "litellm"
    assert model.source_id == "gpt-4o-2024-08-06"
    assert model.successor.key == "openai/gpt-5"
    assert [m.key for m in model.alternatives.all()] == ["anthropic/claude-opus-4"]
    assert model.output_cost_per_1m == Decimal("10")
    assert model.pricing == {"input_cost_per_image": "0.1", "cache_read_input_token_cost": "0.00000125"}
    assert model.supports_vision is None
    assert str(model.deprecation_date) == "2026-06-30"
    assert body["successor"] == "openai/gpt-5"
    assert body["alternatives"] == ["anthropic/claude-opus-4"]
    assert body["output_cost_per_1m"] == "10"
    assert body["discovered_at"].startswith("2024-08-06T12:00:00")
    assert editor_client.get(detail_url(model.pk)).json() == body


@pytest.mark.parametrize(
    "sent, stored, shown",
    [
        ("0.1", Decimal("0.1"), "0.1"),
        (0.1, Decimal("0.1"), "0.1"),
        ("0.000001", Decimal("0.000001"), "0.000001"),
        (1.5e-05, Decimal("0.000015"), "0.000015"),
        ("2.50", Decimal("2.5"), "2.5"),
        (3, Decimal("3"), "3"),
        ("0", Decimal("0"), "0"),
        ("0.000000123456", Decimal("0.000000123456"), "0.000000123456"),
        ("1234567.891", Decimal("1234567.891"), "1234567.891"),
    ],
)
def test_decimals_are_exact(editor_client, openai, sent, stored, shown):
    response = editor_client.post(
        MODELS_URL, {"provider": "openai", "name": "m", "input_cost_per_1m": sent}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["input_cost_per_1m"] == shown
    model = AIModel.objects.get(pk=response.json()["id"])
    assert model.input_cost_per_1m == stored
    assert str(model.input_cost_per_1m.normalize()) == str(stored.normalize())
    assert editor_client.get(detail_url(model.pk)).json()["input_cost_per_1m"] == shown


def test_decimal_round_trip_through_patch_is_a_no_op(editor_client, openai):
    model = AIModelFactory(provider=openai, input_cost_per_1m="0.1", output_cost_per_1m="0.30")
    body = editor_client.get(detail_url(model.pk)).json()
    response = editor_client.patch(
        detail_url(model.pk),
        {"input_cost_per_1m": body["input_cost_per_1m"], "output_cost_per_1m": body["output_cost_per_1m"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["revision"] == 1
    assert response.content.count(b"0.1000000000000000055") == 0


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"context_window": "a lot"}, "context_window"),
        ({"context_window": "128000"}, "context_window"),
        ({"context_window": 1.5}, "context_window"),
        ({"context_window": True}, "context_window"),
        ({"context_window": 0}, "context_window"),
        ({"context_window": 10**30}, "context_window"),
        ({"max_output_tokens": -1}, "max_output_tokens"),
        ({"input_cost_per_1m": "-0.5"}, "input_cost_per_1m"),
        ({"output_cost_per_1m": -1}, "output_cost_per_1m"),
        ({"input_cost_per_1m": "cheap"}, "input_cost_per_1m"),
        ({"input_cost_per_1m": True}, "input_cost_per_1m"),
        ({"input_cost_per_1m": [1]}, "input_cost_per_1m"),
        ({"input_cost_per_1m": "NaN"}, "input_cost_per_1m"),
        ({"input_cost_per_1m": "1e-20"}, "input_cost_per_1m"),
        ({"pricing": {"input_cost_per_image": -1}}, "pricing"),
        ({"pricing": ["a"]}, "pricing"),
        ({"supports_vision": "yes"}, "supports_vision"),
        ({"supports_vision": 1}, "supports_vision"),
        ({"is_active": None}, "is_active"),
        ({"capabilities": ["vision"]}, "capabilities"),
        ({"metadata": "x"}, "metadata"),
        ({"tags": "flagship"}, "tags"),
        ({"tags": [1, 2]}, "tags"),
        ({"tags": ["a", "a"]}, "tags"),
        ({"display_name": 42}, "display_name"),
        ({"mode": "Chat Mode"}, "mode"),
        ({"deprecation_date": "next year"}, "deprecation_date"),
        ({"deprecation_date": 20260101}, "deprecation_date"),
        ({"discovered_at": "yesterday"}, "discovered_at"),
        ({"successor": "openai/does-not-exist"}, "successor"),
        ({"successor": 5}, "successor"),
        ({"alternatives": ["nope/nope"]}, "alternatives"),
        ({"alternatives": "openai/x"}, "alternatives"),
        ({"source": "x" * 33}, "source"),
    ],
)
def test_create_bad_field_is_400_naming_it(editor_client, openai, payload, field):
    response = editor_client.post(MODELS_URL, {"provider": "openai", "name": "m", **payload}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["errors"], body
    assert body["code"] == "invalid"
    assert not AIModel.objects.exists()


@pytest.mark.parametrize("field", ["id", "key", "revision", "version", "created_at", "updated_at", "aliases"])
def test_server_owned_fields_are_refused_by_name(editor_client, openai, field):
    response = editor_client.post(MODELS_URL, {"provider": "openai", "name": "m", field: 7}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {field: ["This field is read-only."]}
    model = AIModelFactory(provider=openai)
    response = editor_client.patch(detail_url(model.pk), {field: 7}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {field: ["This field is read-only."]}


def test_unknown_fields_are_refused_by_name_with_the_other_errors(editor_client, openai):
    response = editor_client.post(
        MODELS_URL,
        {"provider": "openai", "name": "m", "colour": "blue", "context_window": "x", "revision": 3},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"colour", "context_window", "revision"}
    assert errors["colour"] == ["Unknown field."]


@pytest.mark.parametrize(
    "payload, fields",
    [
        ({}, {"provider", "name"}),
        ({"provider": "openai"}, {"name"}),
        ({"name": "m"}, {"provider"}),
        ({"provider": "openai", "name": ""}, {"name"}),
        ({"provider": "no-such-provider", "name": "m"}, {"provider"}),
        ({"provider": 1, "name": "m"}, {"provider"}),
        ({"provider": "openai", "name": None}, {"name"}),
    ],
)
def test_create_needs_a_known_provider_and_a_name(editor_client, openai, payload, fields):
    response = editor_client.post(MODELS_URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields


def test_create_duplicate_key_is_refused(editor_client, openai):
    AIModelFactory(provider=openai, name="gpt-4o")
    response = editor_client.post(MODELS_URL, {"provider": "openai", "name": "gpt-4o"}, format="json")
    assert response.status_code in (400, 409)
    assert AIModel.objects.count() == 1


@pytest.mark.parametrize("body", ['{"provider": "openai", "name": ', "not json", '{"a": NaN}'])
def test_malformed_json_is_400(editor_client, openai, body):
    response = editor_client.post(MODELS_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize("body", ["[]", '"text"', "3", "null"])
def test_body_must_be_an_object(editor_client, openai, body):
    response = editor_client.post(MODELS_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]


def test_form_encoded_body_is_415(editor_client, openai):
    response = editor_client.post(MODELS_URL, {"provider": "openai", "name": "m"}, format="multipart")
    assert response.status_code == 415


# --- update ---------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(editor_client, editor, openai):
    model = AIModelFactory(provider=openai, display_name="Old", tags=["a"], context_window=1000)
    response = editor_client.patch(
        detail_url(model.pk),
        {"display_name": "New", "context_window": 2000},
        format="json",
        HTTP_X_CHANGE_REASON="bigger window",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["display_name"], body["context_window"], body["tags"], body["revision"]) == (
        "New",
        2000,
        ["a"],
        2,
    )
    assert response["ETag"] == f'"v1-{model.pk}-2"'
    model.refresh_from_db()
    assert (model.display_name, model.context_window, model.tags, model.revision) == ("New", 2000, ["a"], 2)
    rows = history_rows(model.pk)
    assert len(rows) == 2
    assert rows[-1].history_change_reason == "bigger window"
    assert rows[-1].history_user == editor


def test_each_real_change_is_one_revision_and_a_no_op_is_none(editor_client, openai):
    model = AIModelFactory(provider=openai, context_window=1000)
    for revision, window in ((2, 2000), (3, 3000)):
        response = editor_client.patch(detail_url(model.pk), {"context_window": window}, format="json")
        assert response.json()["revision"] == revision
    same = editor_client.patch(
        detail_url(model.pk),
        {"context_window": 3000, "mode": "chat", "input_cost_per_1m": "2.50"},
        format="json",
    )
    assert same.status_code == 200
    assert same.json()["revision"] == 3
    assert AIModel.objects.get(pk=model.pk).revision == 3
    assert len(history_rows(model.pk)) == 3


def test_put_replaces_every_writable_field(editor_client, openai):
    successor = AIModelFactory(provider=openai, name="next")
    model = AIModelFactory(
        provider=openai,
        name="m",
        display_name="Old",
        tags=["a"],
        capabilities={"reasoning": True},
        supports_vision=True,
        successor=successor.key,
        alternatives=[successor.key],
        is_deprecated=True,
    )
    response = editor_client.put(
        detail_url(model.pk), {"display_name": "New", "mode": "embedding"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["display_name"] == "New"
    assert body["mode"] == "embedding"
    # omitted fields are back to their defaults
    assert body["tags"] == []
    assert body["capabilities"] == {}
    assert body["supports_vision"] is None
    assert body["context_window"] is None
    assert body["input_cost_per_1m"] is None
    assert body["successor"] is None
    assert body["alternatives"] == []
    assert body["is_deprecated"] is False
    assert body["is_active"] is True
    assert body["source"] == "manual"
    assert body["revision"] == 2
    model.refresh_from_db()
    assert model.successor_id is None
    assert not model.alternatives.exists()
    assert model.key == "openai/m"


def test_put_of_the_current_state_is_a_no_op(editor_client, openai):
    model = AIModelFactory(provider=openai, tags=["a"])
    current = editor_client.get(detail_url(model.pk)).json()
    writable = {
        k: v
        for k, v in current.items()
        if k
        not in ("id", "key", "provider", "name", "revision", "version", "created_at", "updated_at", "aliases")
    }
    response = editor_client.put(detail_url(model.pk), writable, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == current


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("field, value", [("provider", "anthropic"), ("name", "renamed")])
def test_identity_cannot_change(editor_client, openai, method, field, value):
    model = AIModelFactory(provider=openai, name="m")
    response = getattr(editor_client, method)(detail_url(model.pk), {field: value}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {field}
    assert AIModel.objects.get(pk=model.pk).key == "openai/m"


def test_patch_bad_input_changes_nothing(editor_client, openai):
    model = AIModelFactory(provider=openai, context_window=1000)
    response = editor_client.patch(
        detail_url(model.pk), {"context_window": 5, "input_cost_per_1m": "-1"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"input_cost_per_1m"}
    model.refresh_from_db()
    assert (model.context_window, model.revision) == (1000, 1)


def test_successor_cannot_be_itself(editor_client, openai):
    model = AIModelFactory(provider=openai, name="m")
    response = editor_client.patch(detail_url(model.pk), {"successor": "openai/m"}, format="json")
    assert response.status_code == 400
    assert "successor" in response.json()["errors"]


def test_update_unknown_model_is_404(editor_client):
    assert editor_client.patch(detail_url(999_999), {"display_name": "x"}, format="json").status_code == 404
    assert editor_client.put(detail_url(999_999), {}, format="json").status_code == 404
    assert editor_client.delete(detail_url(999_999)).status_code == 404
    assert editor_client.patch(detail_url(10**30), {"display_name": "x"}, format="json").status_code == 404
    assert editor_client.delete(detail_url(10**30), HTTP_IF_MATCH='"v1-1-1"').status_code in (404, 412)


def test_change_reason_header_utf8(editor_client, openai):
    model = AIModelFactory(provider=openai)
    raw_utf8_as_latin1 = "Prix réduit ✓".encode().decode("latin-1")  # what WSGI hands over
    editor_client.patch(
        detail_url(model.pk), {"display_name": "x"}, format="json", HTTP_X_CHANGE_REASON=raw_utf8_as_latin1
    )
    assert history_rows(model.pk)[-1].history_change_reason == "Prix réduit ✓"


# --- delete ---------------------------------------------------------------------------------


def test_delete_is_a_soft_delete(editor_client, editor, openai):
    model = AIModelFactory(provider=openai)
    response = editor_client.delete(detail_url(model.pk), HTTP_X_CHANGE_REASON="retired")
    assert response.status_code == 204
    assert response.content == b""
    model.refresh_from_db()
    assert model.is_active is False
    assert model.revision == 2
    rows = history_rows(model.pk)
    assert len(rows) == 2
    assert rows[-1].history_change_reason == "retired"
    assert rows[-1].history_user == editor
    # still readable by id, hidden from the default list
    assert editor_client.get(detail_url(model.pk)).json()["is_active"] is False
    assert editor_client.get(MODELS_URL).json()["count"] == 0
    # deleting again changes nothing
    assert editor_client.delete(detail_url(model.pk)).status_code == 204
    assert AIModel.objects.get(pk=model.pk).revision == 2


def test_deleted_model_can_be_reactivated(editor_client, openai):
    model = AIModelFactory(provider=openai)
    editor_client.delete(detail_url(model.pk))
    response = editor_client.patch(detail_url(model.pk), {"is_active": True}, format="json")
    assert response.json()["is_active"] is True
    assert response.json()["revision"] == 3


def test_input_serializers_cover_exactly_the_writable_fields():
    from models_registry import services
    from models_registry.api.serializers import (
        AIModelCreateSerializer,
        AIModelUpdateSerializer,
        writable_defaults,
    )

    assert set(AIModelUpdateSerializer().fields) == set(services.WRITABLE_FIELDS)
    assert set(AIModelCreateSerializer().fields) == {*services.WRITABLE_FIELDS, "provider", "name"}
    defaults = writable_defaults()
    assert defaults["tags"] == [] and defaults["alternatives"] == [] and defaults["metadata"] == {}
    assert (defaults["is_active"], defaults["is_deprecated"], defaults["source"]) == (True, False, "manual")
    assert defaults["supports_vision"] is None and defaults["successor"] is None
