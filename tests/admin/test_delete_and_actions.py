"""Delete is a soft delete; bulk actions write through the services."""

import pytest
from django.contrib.admin import helpers
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.messages import get_messages

from models_registry.models import AIModel
from tests.admin.conftest import url
from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_delete_page_asks_to_deactivate(staff_client, catalogue):
    response = staff_client.get(url("delete", catalogue["gpt"].pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Deactivate the AI model" in html
    assert "Yes, deactivate" in html


def test_delete_view_deactivates(staff_client, staff, catalogue, written):
    model = catalogue["gpt"]
    response = staff_client.post(url("delete", model.pk), {"post": "yes", "reason": "Retired upstream"})
    assert response.status_code == 302
    assert response.url == url("changelist")
    model.refresh_from_db()  # still there
    assert model.is_active is False
    assert model.revision == 2
    latest = model.history.latest()
    assert (latest.history_type, latest.history_user, latest.history_change_reason) == (
        "~",
        staff,
        "Retired upstream",
    )
    (event,) = written
    assert (event["action"], event["source"]) == ("deactivate", "admin")
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()
    assert messages_of(response) == ["1 AI model deactivated: openai/gpt-4o."]


def test_delete_view_on_an_inactive_model_changes_nothing(staff_client, catalogue, written):
    model = catalogue["old"]
    before = model.history.count()
    response = staff_client.post(url("delete", model.pk), {"post": "yes"})
    assert response.status_code == 302
    assert model.history.count() == before
    assert written == []
    assert any("already inactive" in m for m in messages_of(response))


def test_delete_view_reports_a_refusal_without_a_500(staff_client, catalogue, monkeypatch):
    from models_registry import services
    from models_registry.exceptions import PreconditionFailed

    def refuse(**kwargs):
        raise PreconditionFailed("Busy.")

    monkeypatch.setattr(services, "ai_model_deactivate", refuse)
    model = catalogue["gpt"]
    response = staff_client.post(url("delete", model.pk), {"post": "yes"})
    assert response.status_code == 302
    assert messages_of(response) == ["Not deactivated: openai/gpt-4o: Busy."]
    assert AIModel.objects.get(pk=model.pk).is_active is True


def test_delete_needs_delete_permission(client, catalogue):
    user = grant(UserFactory(username="changer", is_staff=True), "view_aimodel", "change_aimodel")
    client.force_login(user)
    model = catalogue["gpt"]
    assert client.post(url("delete", model.pk), {"post": "yes"}).status_code == 403
    assert AIModel.objects.get(pk=model.pk).is_active is True


def _action(client, name, models, **extra):
    return client.post(
        url("changelist"),
        {"action": name, helpers.ACTION_CHECKBOX_NAME: [m.pk for m in models], **extra},
    )


def test_bulk_delete_asks_for_confirmation_then_deactivates(staff_client, staff, catalogue, written):
    models = [catalogue["gpt"], catalogue["mini"], catalogue["old"]]
    response = _action(staff_client, "delete_selected", models)
    assert response.status_code == 200  # the confirmation page
    html = response.content.decode()
    assert "Deactivate the selected" in html
    assert "(already inactive)" in html
    assert written == []

    response = _action(staff_client, "delete_selected", models, post="yes", reason="Cleanup")
    assert response.status_code == 302
    assert AIModel.objects.filter(pk__in=[m.pk for m in models]).count() == 3  # nothing deleted
    for model in models:
        model.refresh_from_db()
        assert model.is_active is False
    assert [(e["instance"].key, e["action"], e["source"], e["reason"]) for e in written] == [
        ("openai/gpt-4o", "deactivate", "admin", "Cleanup"),
        ("openai/gpt-4o-mini", "deactivate", "admin", "Cleanup"),
    ]
    assert catalogue["gpt"].history.latest().history_user == staff
    assert catalogue["old"].revision == 1  # was already inactive: no new revision
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()


def test_actions_offered(staff_client, catalogue):
    response = staff_client.get(url("changelist"))
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert set(choices) >= {
        "delete_selected",
        "deactivate_selected",
        "reactivate_selected",
        "mark_deprecated",
    }
    assert "deactivate" in str(choices["delete_selected"])


def test_deactivate_action(staff_client, catalogue, written):
    response = _action(staff_client, "deactivate_selected", [catalogue["gpt"], catalogue["old"]])
    assert response.status_code == 302
    assert AIModel.objects.get(pk=catalogue["gpt"].pk).is_active is False
    assert [e["action"] for e in written] == ["deactivate"]
    text = " ".join(messages_of(response))
    assert "1 AI model deactivated: openai/gpt-4o." in text
    assert "1 AI model already inactive, left unchanged: anthropic/claude-instant-1." in text


def test_reactivate_action(staff_client, catalogue, written):
    model = catalogue["old"]
    response = _action(staff_client, "reactivate_selected", [model])
    assert response.status_code == 302
    model.refresh_from_db()
    assert (model.is_active, model.revision) == (True, 2)
    assert model.history.latest().history_change_reason == "Reactivated in the admin."
    assert [(e["action"], e["source"]) for e in written] == [("update", "admin")]


def test_mark_deprecated_action(staff_client, staff, catalogue, written):
    models = [catalogue["gpt"], catalogue["opus"]]  # opus is already deprecated
    response = _action(staff_client, "mark_deprecated", models)
    assert response.status_code == 302
    assert AIModel.objects.get(pk=catalogue["gpt"].pk).is_deprecated is True
    assert AIModel.objects.get(pk=catalogue["opus"].pk).revision == 1
    assert [e["instance"].key for e in written] == ["openai/gpt-4o"]
    assert catalogue["gpt"].history.latest().history_user == staff


def test_action_reports_a_refused_model_and_goes_on(staff_client, catalogue, monkeypatch, written):
    from models_registry import services
    from models_registry.exceptions import RegistryValidationError

    real = services.ai_model_update

    def picky(*, ai_model, **kwargs):
        if ai_model == catalogue["gpt"].pk:
            raise RegistryValidationError(field_errors={"pricing": ["broken"]})
        return real(ai_model=ai_model, **kwargs)

    monkeypatch.setattr(services, "ai_model_update", picky)
    response = _action(staff_client, "mark_deprecated", [catalogue["gpt"], catalogue["mini"]])
    assert response.status_code == 302
    assert [e["instance"].key for e in written] == ["openai/gpt-4o-mini"]
    assert any("openai/gpt-4o: pricing: broken" in m for m in messages_of(response))


def test_actions_need_change_permission(client, catalogue):
    viewer = grant(UserFactory(username="viewer", is_staff=True), "view_aimodel")
    client.force_login(viewer)
    response = client.get(url("changelist"))
    assert response.status_code == 200
    assert "action_form" not in response.context or response.context["action_form"] is None
    _action(client, "deactivate_selected", [catalogue["gpt"]])
    assert AIModel.objects.get(pk=catalogue["gpt"].pk).is_active is True
