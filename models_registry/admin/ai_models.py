"""The AI model admin: changelist, change form, soft delete, history.

Every write goes through ``models_registry.services`` with the staff user as actor,
``source="admin"`` and the reason typed into the form: create → ``ai_model_create``, change →
``ai_model_update`` with only the changed fields (relations included; nothing is written when
nothing changed), delete → ``ai_model_deactivate``. Provider and name are the identity and only
editable on create; server-owned fields are read-only.
"""

from __future__ import annotations

import json

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join, mark_safe

from .. import services
from ..decimals import decimal_to_str
from ..exceptions import ApplicationError
from ..forms import AIModelAdminForm
from ..models import AIModel
from ..services import WRITABLE_FIELDS
from . import actions
from .base import ADMIN_SOURCE, RegistryHistoryAdmin, WriteRejected, adopt, reason_from, rejection
from .filters import CapabilityFilter
from .sensitive import MaskingContextHelper, can_view_sensitive, masked, sensitive_keys

SERVER_OWNED = ("key", "revision", "version", "created_at", "updated_at", "discovered_at")
# Shown on the change page only: server-owned values, relations kept by others, the model source
# (a model added by hand is "manual"; ``ai_model_create``'s ``source`` argument names the writer).
NOT_ON_ADD = (*SERVER_OWNED, "aliases_display", "source", "expected_revision", "versions_overview")


def _fieldsets_map(fieldsets, change) -> tuple:
    """``fieldsets`` with each field name passed through ``change`` (``None`` drops it)."""
    result = []
    for title, options in fieldsets:
        lines = []
        for line in options["fields"]:
            names = line if isinstance(line, tuple) else (line,)
            kept = tuple(n for n in (change(name) for name in names) if n)
            if kept:
                lines.append(kept if isinstance(line, tuple) else kept[0])
        if lines:
            result.append((title, {**options, "fields": tuple(lines)}))
    return tuple(result)


def _price(value):
    return None if value is None else decimal_to_str(value)


class _TolerantAutocomplete:
    """Django's autocomplete widget looks the submitted value up to re-render it; a value that is
    not an id (``"abc"``) would raise there. Render it as empty: the form error is shown instead."""

    def optgroups(self, name, value, attr=None):
        try:
            return super().optgroups(name, value, attr)
        except (ValueError, ValidationError):
            return super().optgroups(name, [], attr)


class TolerantAutocompleteSelect(_TolerantAutocomplete, AutocompleteSelect):
    pass


class TolerantAutocompleteSelectMultiple(_TolerantAutocomplete, AutocompleteSelectMultiple):
    pass


@admin.register(AIModel)
class AIModelAdmin(RegistryHistoryAdmin):
    form = AIModelAdminForm
    list_display = (
        "key",
        "provider",
        "mode",
        "context",
        "input_price",
        "output_price",
        "is_deprecated",
        "is_active",
        "updated_at",
    )
    list_filter = (
        ("provider", admin.RelatedOnlyFieldListFilter),
        "mode",
        CapabilityFilter,
        "is_deprecated",
        "is_active",
    )
    search_fields = ("key", "name", "display_name")
    search_help_text = "Search by key, name or display name."
    ordering = ("key",)
    list_select_related = ("provider",)
    list_per_page = 50
    autocomplete_fields = ("provider", "successor", "alternatives")
    actions = (
        actions.delete_selected,
        actions.deactivate_selected,
        actions.reactivate_selected,
        actions.mark_deprecated,
    )
    history_list_display = ("revision", "is_active")
    delete_confirmation_template = "models_registry/admin/aimodel_delete_confirmation.html"
    fieldsets = (
        ("Identity", {"fields": ("provider", "name", "key", "display_name", "description", "mode")}),
        ("Limits", {"fields": (("context_window", "max_output_tokens"),)}),
        (
            "Prices (USD per 1M tokens)",
            {"fields": (("input_cost_per_1m", "output_cost_per_1m"), "pricing")},
        ),
        (
            "Capabilities",
            {
                "fields": (
                    ("supports_streaming", "supports_function_calling", "supports_vision"),
                    "capabilities",
                    "tags",
                )
            },
        ),
        (
            "Lifecycle",
            {
                "fields": (
                    ("is_active", "is_deprecated", "deprecation_date"),
                    ("revision", "version"),
                    ("created_at", "updated_at", "discovered_at"),
                )
            },
        ),
        ("Relations", {"fields": ("successor", "alternatives", "aliases_display")}),
        ("Source", {"fields": (("source", "source_id"), "documentation_url", "metadata")}),
        ("Versions", {"fields": ("versions_overview",)}),
        ("Change", {"fields": ("change_reason", "expected_revision")}),
    )

    # -- changelist columns ------------------------------------------------------------------

    @admin.display(description="context window", ordering="context_window")
    def context(self, obj):
        return None if obj.context_window is None else f"{obj.context_window:,}"

    @admin.display(description="input $/1M", ordering="input_cost_per_1m")
    def input_price(self, obj):
        return _price(obj.input_cost_per_1m)

    @admin.display(description="output $/1M", ordering="output_cost_per_1m")
    def output_price(self, obj):
        return _price(obj.output_cost_per_1m)

    # -- change form -------------------------------------------------------------------------

    @admin.display(description="aliases")
    def aliases_display(self, obj):
        aliases = list(obj.aliases.all()) if obj is not None and obj.pk else []
        if not aliases:
            return self.get_empty_value_display()
        return format_html_join(
            mark_safe("<br>"),
            "{} <span class='quiet'>({})</span>",
            ((a.alias, a.source or "-") for a in aliases),
        )

    @admin.display(description="metadata")
    def metadata_masked(self, obj):
        text = json.dumps(masked(obj.metadata), ensure_ascii=False, indent=2, default=str)
        return format_html("<pre>{}</pre><p class='help'>Sensitive values are hidden.</p>", text)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if not apps.is_installed("versioning"):
            return super().changeform_view(request, object_id, form_url, extra_context)
        from versioning.admin.display import render_for

        # Rendered while ``request`` is the viewer: the versions box links only what they may open.
        return render_for(request, super().changeform_view, request, object_id, form_url, extra_context)

    @admin.display(description="versions")
    def versions_overview(self, obj):
        """The latest versions with impact badges, diff and "request rollback" links (versioning)."""
        if obj is None or not obj.pk or not apps.is_installed("versioning"):
            return self.get_empty_value_display()
        from versioning.admin.display import recent_versions_html

        return recent_versions_html(obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget", TolerantAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget",
                TolerantAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using")),
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _masks_metadata(self, request, obj) -> bool:
        return obj is not None and bool(sensitive_keys(obj.metadata)) and not can_view_sensitive(request.user)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return _fieldsets_map(self.fieldsets, lambda name: None if name in NOT_ON_ADD else name)
        if self._masks_metadata(request, obj):
            return _fieldsets_map(
                self.fieldsets, lambda name: "metadata_masked" if name == "metadata" else name
            )
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*SERVER_OWNED, "aliases_display", "metadata_masked", "provider", "name", "versions_overview")

    # -- writes ------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        self._refuse_new_secrets(request, form)
        try:
            saved = self._update(request, obj, form) if change else self._create(request, form)
        except ApplicationError as exc:
            raise rejection(exc) from exc
        if saved is not None:
            adopt(obj, saved)

    def _refuse_new_secrets(self, request, form) -> None:
        """Who may not see sensitive metadata may not set it either (as in the API)."""
        if "metadata" not in form.changed_data or can_view_sensitive(request.user):
            return
        names = ", ".join(sorted(sensitive_keys(form.cleaned_data.get("metadata"))))
        if names:
            message = f"Setting sensitive keys ({names}) needs the “view sensitive metadata” permission."
            raise WriteRejected({"metadata": [message]})

    def _create(self, request, form) -> AIModel:
        # ``source`` (the model's field) is not on the add form: the keyword ``source`` of
        # ``ai_model_create`` is where the write came from.
        values = {
            name: value
            for name, value in form.cleaned_data.items()
            if name in WRITABLE_FIELDS and name != "source"
        }
        values["alternatives"] = list(values.get("alternatives") or [])
        return services.ai_model_create(
            provider=form.cleaned_data["provider"],
            name=form.cleaned_data["name"],
            actor=request.user,
            reason=reason_from(form),
            source=ADMIN_SOURCE,
            **values,
        )

    def _update(self, request, obj, form) -> AIModel | None:
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in WRITABLE_FIELDS}
        if not data:
            return None
        if "alternatives" in data:
            data["alternatives"] = list(data["alternatives"])
        return services.ai_model_update(
            ai_model=obj.pk,
            data=data,
            actor=request.user,
            reason=reason_from(form),
            source=ADMIN_SOURCE,
            expected_revision=form.cleaned_data.get("expected_revision"),
        )

    # -- delete = deactivate -----------------------------------------------------------------

    def get_deleted_objects(self, objs, request):
        """Nothing is deleted, so there is nothing to collect and no permission on related rows
        is needed: ``(objects, model_count, perms_needed, protected)`` for the confirmation page."""
        return [str(obj) for obj in objs], {}, set(), []

    def log_deletions(self, request, queryset):
        """No deletion is logged: ``delete_model`` logs the deactivation as a change."""

    def delete_model(self, request, obj):
        reason = request.POST.get("reason", "").strip() or actions.DELETE_REASON
        actions.deactivate_each(self, request, [obj], reason=reason)

    def delete_queryset(self, request, queryset):
        actions.deactivate_each(self, request, queryset.order_by("key"), reason=actions.DELETE_REASON)

    def response_delete(self, request, obj_display, obj_id):
        """Back to the list; ``delete_model`` has said what happened (Django would say "deleted")."""
        url = reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return HttpResponseRedirect(url)

    # -- history -----------------------------------------------------------------------------

    def get_historical_record_context_helper(self, request, historical_record):
        if can_view_sensitive(request.user):
            return super().get_historical_record_context_helper(request, historical_record)
        return MaskingContextHelper(self.model, historical_record)
