"""Adding and changing models in the admin: every write goes through the services."""

import datetime
import json
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse

from models_registry import services
from models_registry.models import AIModel, Provider
from tests.admin.conftest import change_data, url
from tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db


def test_add_and_change_forms_render(staff_client, catalogue):
    assert staff_client.get(url("add")).status_code == 200
    for model in catalogue.values():
        response = staff_client.get(url("change", model.pk))
        assert response.status_code == 200, model.key
    html = staff_client.get(url("change", catalogue["gpt"].pk)).content.decode()
    assert 'value="2.5"' in html  # exact, not 2.500000000000
    assert "Change reason" in html


def test_change_form_shows_aliases_read_only(staff_client, catalogue):
    response = staff_client.get(url("change", catalogue["deepseek"].pk))
    html = response.content.decode()
    assert "deepseek-chat <span class='quiet'>(import)</span>" in html
    assert "aliases" not in response.context["adminform"].form.fields


def test_identity_and_server_owned_fields_are_read_only_on_change(staff_client, catalogue):
    form = staff_client.get(url("change", catalogue["gpt"].pk)).context["adminform"].form
    read_only = (
        "provider",
        "name",
        "key",
        "revision",
        "version",
        "created_at",
        "updated_at",
        "discovered_at",
    )
    assert not set(read_only) & set(form.fields)
    assert {"display_name", "input_cost_per_1m", "pricing", "successor", "alternatives"} <= set(form.fields)


def test_add_creates_through_the_service(staff_client, staff, written):
    provider = ProviderFactory(slug="mistral")
    response = staff_client.post(
        url("add"),
        {
            "provider": provider.pk,
            "name": "mistral-large-latest",
            "display_name": "Mistral Large",
            "mode": "chat",
            "context_window": "128000",
            "input_cost_per_1m": "2",
            "output_cost_per_1m": "6.000",
            "pricing": '{"input_cost_per_image": 0.1}',
            "supports_streaming": "true",
            "supports_function_calling": "unknown",
            "supports_vision": "false",
            "capabilities": '{"reasoning": true}',
            "tags": "",
            "metadata": "",
            "is_active": "on",
            "change_reason": "New flagship",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = AIModel.objects.get(key="mistral/mistral-large-latest")
    assert model.revision == 1
    assert model.output_cost_per_1m == Decimal("6")
    assert model.pricing == {"input_cost_per_image": "0.1"}  # an exact decimal string, not a float
    assert model.supports_streaming is True
    assert model.supports_function_calling is None
    assert model.supports_vision is False
    assert model.tags == [] and model.metadata == {}
    assert model.source == "manual"
    (history,) = model.history.all()
    assert history.history_user == staff
    assert history.history_change_reason == "New flagship"
    (event,) = written
    assert (event["action"], event["source"], event["actor"]) == ("create", "admin", staff)
    assert response.url == url("changelist")


def test_add_with_existing_key_is_a_form_error(staff_client, catalogue):
    response = staff_client.post(
        url("add"), {"provider": catalogue["gpt"].provider_id, "name": "gpt-4o", "is_active": "on"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert AIModel.objects.filter(name="gpt-4o").count() == 1


def test_change_updates_only_changed_fields_through_the_service(staff_client, staff, catalogue, written):
    model = catalogue["gpt"]
    before = model.history.count()
    data = change_data(model, input_cost_per_1m="2.25", context_window="200000", change_reason="Price cut")
    response = staff_client.post(url("change", model.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    model.refresh_from_db()
    assert model.revision == 2
    assert model.input_cost_per_1m == Decimal("2.25")
    assert model.context_window == 200_000
    assert model.history.count() == before + 1
    latest = model.history.latest()
    assert latest.history_user == staff
    assert latest.history_change_reason == "Price cut"
    (event,) = written
    assert (event["action"], event["source"], event["reason"]) == ("update", "admin", "Price cut")
    assert [c.field for c in event["changes"]] == ["context_window", "input_cost_per_1m"]


def test_alternatives_and_successor_change_through_the_service(staff_client, catalogue, written):
    model, mini, opus = catalogue["gpt"], catalogue["mini"], catalogue["opus"]
    data = change_data(opus, alternatives=[model.pk, mini.pk], successor=model.pk)
    response = staff_client.post(url("change", opus.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    opus.refresh_from_db()
    assert opus.revision == 2
    assert opus.successor == model
    assert set(opus.alternatives.all()) == {model, mini}
    (event,) = written
    assert {c.field for c in event["changes"]} == {"alternatives", "successor"}
    assert event["after"]["alternatives"] == sorted([model.key, mini.key])


def test_no_op_save_writes_nothing(staff_client, catalogue, written):
    model = catalogue["gpt"]
    before = model.history.count()
    # Values equal to the stored ones, spelled differently, are no change either.
    data = change_data(
        model, input_cost_per_1m="2.50", pricing='{"input_cost_per_image": 0.003613}', change_reason="x"
    )
    response = staff_client.post(url("change", model.pk), data)
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.revision == 1
    assert model.history.count() == before
    assert written == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_cost_per_1m", "-1"),
        ("output_cost_per_1m", "abc"),
        ("context_window", "0"),
        ("max_output_tokens", "-5"),
        ("pricing", "{not json"),
        ("pricing", "[1, 2]"),
        ("pricing", '{"input_cost_per_image": "-0.5"}'),
        ("pricing", '{"input_cost_per_image": true}'),
        ("capabilities", "[1]"),
        ("tags", '["a", "a"]'),
        ("mode", "Not A Mode"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(staff_client, catalogue, written, field, value):
    model = catalogue["gpt"]
    before = (model.history.count(), AIModel.objects.filter(pk=model.pk).values().get())
    response = staff_client.post(url("change", model.pk), change_data(model, **{field: value}))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert field in form.errors, form.errors
    assert (model.history.count(), AIModel.objects.filter(pk=model.pk).values().get()) == before
    assert written == []


def test_stale_form_is_refused_by_the_service_and_shown_as_a_form_error(staff_client, catalogue):
    model = catalogue["gpt"]
    data = change_data(model, display_name="Mine")  # opened at revision 1
    services.ai_model_update(ai_model=model, data={"display_name": "Theirs"}, reason="concurrent")
    response = staff_client.post(url("change", model.pk), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "revision 2, not 1" in str(form.non_field_errors())
    model.refresh_from_db()
    assert (model.display_name, model.revision) == ("Theirs", 2)


def test_service_field_errors_land_on_their_fields(staff_client, catalogue, monkeypatch):
    """An error only the services detect is shown on its field, and the write is rolled back."""
    from models_registry.exceptions import RegistryValidationError

    def refuse(**kwargs):
        raise RegistryValidationError(field_errors={"display_name": ["Refused by the service."]})

    monkeypatch.setattr(services, "ai_model_update", refuse)
    model = catalogue["gpt"]
    response = staff_client.post(url("change", model.pk), change_data(model, display_name="New"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["display_name"] == ["Refused by the service."]
    model.refresh_from_db()
    assert model.display_name == "GPT-4o"


def test_model_cannot_be_its_own_alternative(staff_client, catalogue):
    model = catalogue["gpt"]
    response = staff_client.post(url("change", model.pk), change_data(model, alternatives=[model.pk]))
    assert response.status_code == 200
    assert "alternatives" in response.context["adminform"].form.errors
    assert model.alternatives.count() == 0


def rendered_form_data(form) -> dict:
    """What a browser sends back for ``form`` when the user changes nothing."""
    data = {}
    for bound in form:
        value = bound.value()
        if isinstance(bound.field, forms.NullBooleanField):
            data[bound.html_name] = {True: "true", False: "false"}.get(value, "unknown")
        elif isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.html_name] = "on"
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(v) for v in value]
        elif isinstance(value, datetime.date):
            data[bound.html_name] = value.isoformat()
        else:
            data[bound.html_name] = "" if value is None else str(value)
    return data


@pytest.mark.parametrize("name", ["gpt", "mini", "embedding", "opus", "old", "deepseek"])
def test_resubmitting_the_rendered_form_unchanged_writes_nothing(staff_client, catalogue, written, name):
    model = catalogue[name]
    services.ai_model_update(ai_model=model, data={"deprecation_date": datetime.date(2026, 1, 31)})
    before = model.history.count()
    form = staff_client.get(url("change", model.pk)).context["adminform"].form
    response = staff_client.post(url("change", model.pk), rendered_form_data(form))
    assert response.status_code == 302
    assert model.history.count() == before
    assert len(written) == 1


def test_json_is_shown_indented(staff_client, catalogue):
    model = catalogue["gpt"]
    model.refresh_from_db()
    form = staff_client.get(url("change", model.pk)).context["adminform"].form
    assert form["capabilities"].value() == json.dumps(model.capabilities, indent=2)
    assert form["pricing"].value() == '{\n  "input_cost_per_image": "0.003613"\n}'


def test_user_without_change_permission_cannot_change(client, catalogue):
    from tests.factories import UserFactory, grant

    viewer = grant(UserFactory(username="viewer", is_staff=True), "view_aimodel")
    client.force_login(viewer)
    model = catalogue["gpt"]
    assert client.get(url("change", model.pk)).status_code == 200  # read-only view
    response = client.post(url("change", model.pk), change_data(model, display_name="Hijacked"))
    assert response.status_code == 403
    model.refresh_from_db()
    assert (model.display_name, model.revision) == ("GPT-4o", 1)
    assert client.post(url("add"), {"provider": model.provider_id, "name": "x"}).status_code == 403


def test_non_staff_user_is_sent_to_login(client, reader, catalogue):
    client.force_login(reader)
    response = client.get(url("change", catalogue["gpt"].pk))
    assert response.status_code == 302
    assert "/login/" in response.url


# -- providers -------------------------------------------------------------------------------


def test_provider_add_and_change_go_through_the_services(staff_client, staff):
    response = staff_client.post(
        reverse("admin:models_registry_provider_add"),
        {"slug": "groq", "name": "Groq", "website": "https://groq.com", "is_active": "on"},
    )
    assert response.status_code == 302
    provider = Provider.objects.get(slug="groq")
    assert provider.history.get().history_user == staff
    response = staff_client.post(
        reverse("admin:models_registry_provider_change", args=[provider.pk]),
        {
            "name": "Groq Inc.",
            "website": "https://groq.com",
            "is_active": "on",
            "change_reason": "Legal name",
        },
    )
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "Groq Inc."
    latest = provider.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (staff, "Legal name")
    # unchanged save: no history row
    staff_client.post(
        reverse("admin:models_registry_provider_change", args=[provider.pk]),
        {"name": "Groq Inc.", "website": "https://groq.com", "is_active": "on"},
    )
    assert provider.history.count() == 2


def test_provider_bad_slug_is_a_form_error(staff_client):
    response = staff_client.post(
        reverse("admin:models_registry_provider_add"), {"slug": "no spaces", "name": "X", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors
    assert not Provider.objects.filter(name="X").exists()


def test_providers_cannot_be_deleted(staff_client, catalogue):
    provider = catalogue["gpt"].provider
    response = staff_client.post(
        reverse("admin:models_registry_provider_delete", args=[provider.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Provider.objects.filter(pk=provider.pk).exists()
