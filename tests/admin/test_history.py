"""History pages: they render, and simple-history's "Revert" is no side door."""

import pytest
from django.urls import reverse

from models_registry import services
from models_registry.admin import AIModelAdmin, ProviderAdmin
from models_registry.models import AIModel
from tests.admin.conftest import change_data, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def edited(catalogue, staff):
    model = catalogue["gpt"]
    services.ai_model_update(
        ai_model=model, data={"input_cost_per_1m": "2.75"}, actor=staff, reason="Price up", source="admin"
    )
    services.ai_model_update(
        ai_model=model, data={"display_name": "GPT 4o"}, actor=staff, reason="Rename", source="admin"
    )
    model.refresh_from_db()
    return model


def test_history_page_lists_changes_with_user_and_reason(staff_client, edited):
    response = staff_client.get(url("history", edited.pk))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Price up", "Rename", "staff", "GPT 4o"):
        assert text in html
    assert response.context["revert_disabled"] is True
    assert response.context["title"].startswith("View history")


def test_historical_record_page_renders_without_a_revert_button(staff_client, edited):
    first = edited.history.earliest()
    response = staff_client.get(url("simple_history", edited.pk, first.history_id))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Revert"' not in html
    assert response.context["revert_disabled"] is True
    assert response.context["adminform"].form["input_cost_per_1m"].value() == "2.5"  # the old price


def test_revert_post_is_refused_and_changes_nothing(staff_client, edited, written):
    first = edited.history.earliest()
    before = (edited.history.count(), AIModel.objects.filter(pk=edited.pk).values().get())
    # What the record page's form would post, and a form that would also pass validation.
    data = change_data(edited, input_cost_per_1m="2.5", display_name="GPT-4o")
    for extra in ({}, {"_save": "Revert"}, {"_change_history": "1"}):
        response = staff_client.post(url("simple_history", edited.pk, first.history_id), {**data, **extra})
        assert response.status_code == 403
    assert (edited.history.count(), AIModel.objects.filter(pk=edited.pk).values().get()) == before
    assert written == []


def test_revert_is_disabled_even_without_the_setting(staff_client, edited, settings, rf, staff):
    settings.SIMPLE_HISTORY_REVERT_DISABLED = False
    from django.contrib.admin import site

    request = rf.get("/")
    request.user = staff
    assert site._registry[AIModel].revert_disabled(request, edited) is True
    first = edited.history.earliest()
    response = staff_client.post(url("simple_history", edited.pk, first.history_id), change_data(edited))
    assert response.status_code == 403
    assert AIModel.objects.get(pk=edited.pk).revision == edited.revision


def test_provider_history_is_read_only_too(staff_client, catalogue):
    provider = catalogue["gpt"].provider
    record = provider.history.earliest()
    page = reverse("admin:models_registry_provider_simple_history", args=[provider.pk, record.history_id])
    history = reverse("admin:models_registry_provider_history", args=[provider.pk])
    assert staff_client.get(history).status_code == 200
    assert staff_client.get(page).status_code == 200
    response = staff_client.post(page, {"name": "Hijacked", "is_active": "on"})
    assert response.status_code == 403
    provider.refresh_from_db()
    assert provider.name == "OpenAI"


def test_both_admins_disable_revert():
    assert AIModelAdmin.revert_disabled(None, None) is True
    assert ProviderAdmin.revert_disabled(None, None) is True
