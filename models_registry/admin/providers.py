"""The provider admin: list with model counts, create and change through the services.

The slug is the identity (only set on create). Providers are not deleted (models point at them
with ``PROTECT``, and every write goes through the services): clear "active" instead.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from .. import services
from ..exceptions import ApplicationError
from ..forms import ProviderAdminForm
from ..models import Provider
from ..services.providers import PROVIDER_FIELDS
from .base import RegistryHistoryAdmin, adopt, reason_from, rejection


@admin.register(Provider)
class ProviderAdmin(RegistryHistoryAdmin):
    form = ProviderAdminForm
    list_display = ("slug", "name", "is_active", "model_count", "active_model_count", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("slug", "name")
    ordering = ("slug",)
    list_per_page = 100
    fieldsets = (
        (None, {"fields": ("slug", "name", "website", "is_active")}),
        ("Timestamps", {"fields": (("created_at", "updated_at"),)}),
        ("Change", {"fields": ("change_reason",)}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                model_count=Count("models"),
                active_model_count=Count("models", filter=Q(models__is_active=True)),
            )
        )

    def _models_link(self, obj, count: int, **filters) -> str:
        url = reverse(f"{self.admin_site.name}:models_registry_aimodel_changelist")
        query = urlencode({"provider__id__exact": obj.pk, **filters})
        return format_html('<a href="{}?{}">{}</a>', url, query, count)

    @admin.display(description="models", ordering="model_count")
    def model_count(self, obj):
        return self._models_link(obj, obj.model_count)

    @admin.display(description="active models", ordering="active_model_count")
    def active_model_count(self, obj):
        return self._models_link(obj, obj.active_model_count, is_active__exact=1)

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # timestamps do not exist yet
            return (self.fieldsets[0], self.fieldsets[2])
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ("slug", "created_at", "updated_at") if obj is not None else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = {
                    name: form.cleaned_data[name] for name in form.changed_data if name in PROVIDER_FIELDS
                }
                if not data:
                    return
                saved = services.provider_update(
                    provider=obj, data=data, reason=reason_from(form), actor=request.user
                )
            else:
                saved = services.provider_create(
                    **{name: form.cleaned_data[name] for name in ("slug", *PROVIDER_FIELDS)},
                    actor=request.user,
                    reason=reason_from(form),
                )
        except ApplicationError as exc:
            raise rejection(exc) from exc
        adopt(obj, saved)
