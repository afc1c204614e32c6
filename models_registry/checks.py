"""System checks of the registry's configuration (registered in ``apps.py``).

- ``models_registry.E001`` (always): a key of ``MODEL_REGISTRY_ENCRYPTION_KEYS`` is not a valid
  Fernet key — every read or write of a sensitive value would fail.
- ``models_registry.W001`` (``check --deploy``): no encryption key is configured, so sensitive
  metadata is encrypted with a key derived from ``SECRET_KEY`` (changing the secret key would make
  those values unreadable, and the secret key cannot be rotated on its own).
- ``models_registry.E002`` (always): DRF's default permission is ``AllowAny`` (the host project has
  no ``REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]``) — the registry API would be open to
  anonymous writes. The README's "Reusing the app" section lists the required settings.
- ``models_registry.E003`` (always): ``SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD`` is not
  ``True`` — the shipped migrations store reasons as text; without it the history tables would
  not match them.
"""

from __future__ import annotations

from django.core import checks

from . import crypto


@checks.register(checks.Tags.security)
def check_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    bad = crypto.invalid_keys(crypto.configured_keys())
    if not bad:
        return []
    positions = ", ".join(str(p + 1) for p in bad)
    return [
        checks.Error(
            f"MODEL_REGISTRY_ENCRYPTION_KEYS: key(s) number {positions} are not valid Fernet keys.",
            hint='Generate one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"',
            id="models_registry.E001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_encryption_keys_configured(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if crypto.configured_keys():
        return []
    return [
        checks.Warning(
            "MODEL_REGISTRY_ENCRYPTION_KEYS is not set: sensitive metadata is encrypted with a key "
            "derived from SECRET_KEY.",
            hint="Set MODEL_REGISTRY_ENCRYPTION_KEYS to one or more Fernet keys (newest first); "
            "see the README, 'Sensitive metadata: masking and encryption at rest'.",
            id="models_registry.W001",
        )
    ]


@checks.register(checks.Tags.security)
def check_api_permissions(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from rest_framework.permissions import AllowAny
    from rest_framework.settings import api_settings

    classes = list(api_settings.DEFAULT_PERMISSION_CLASSES)
    if classes and not all(cls is AllowAny for cls in classes):
        return []
    return [
        checks.Error(
            "REST_FRAMEWORK['DEFAULT_PERMISSION_CLASSES'] allows anyone: the registry API would accept "
            "anonymous writes.",
            hint='Set it to ["models_registry.api.permissions.RegistryPermission"] (README: "Reusing the '
            'app in another Django project").',
            id="models_registry.E002",
        )
    ]


@checks.register(checks.Tags.models)
def check_history_reason_field(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from django.conf import settings

    if getattr(settings, "SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD", False) is True:
        return []
    return [
        checks.Error(
            "SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD must be True: the registry's migrations "
            "store change reasons as text.",
            hint="Add SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True to the settings.",
            id="models_registry.E003",
        )
    ]
