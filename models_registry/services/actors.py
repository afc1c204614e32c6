"""Who a write is attributed to when no person made it (importer, tasks)."""

from django.contrib.auth import get_user_model

from ..conf import registry_settings


def system_user_get():
    """The system user (created on first use, inactive, without a usable password)."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        **{user_model.USERNAME_FIELD: registry_settings.SYSTEM_USERNAME},
        defaults={"is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
