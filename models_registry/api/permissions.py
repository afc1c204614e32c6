"""API permissions.

Reads need an authenticated user, unless ``MODEL_REGISTRY["ALLOW_ANONYMOUS_READS"]`` is on;
writes need the Django model permission for the action (add / change / delete), as
``DjangoModelPermissions`` maps them. Views without a queryset are read-only.
"""

from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions

from ..conf import registry_settings


class RegistryPermission(DjangoModelPermissions):
    """Authenticated (or anonymous, if allowed) reads; model permissions for writes."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            if registry_settings.ALLOW_ANONYMOUS_READS:
                return True
            return bool(request.user and request.user.is_authenticated)
        if not hasattr(view, "get_queryset"):  # plain APIViews define their own write checks
            return False
        return super().has_permission(request, view)
