"""System checks a host project gets from the registry: an open API and a history reason field that
does not match the shipped migrations are errors, not surprises."""

from django.conf import settings
from django.test import override_settings

from models_registry.checks import check_api_permissions, check_history_reason_field


def _ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_project_settings_pass_both_checks():
    assert check_api_permissions() == []
    assert check_history_reason_field() == []


def test_a_host_without_default_permission_classes_gets_an_error():
    without = {k: v for k, v in settings.REST_FRAMEWORK.items() if k != "DEFAULT_PERMISSION_CLASSES"}
    with override_settings(REST_FRAMEWORK=without):
        assert _ids(check_api_permissions()) == ["models_registry.E002"]
    allow_any = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    }
    with override_settings(REST_FRAMEWORK=allow_any):
        assert _ids(check_api_permissions()) == ["models_registry.E002"]
    own = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    }
    with override_settings(REST_FRAMEWORK=own):
        assert check_api_permissions() == []


def test_a_host_without_the_history_text_field_setting_gets_an_error():
    with override_settings(SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD=False):
        assert _ids(check_history_reason_field()) == ["models_registry.E003"]
