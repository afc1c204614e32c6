"""Admin of model versions: read-only rows, a model's version list and the diff view.

Pages (registered on this admin, so they live under ``/admin/versioning/modelversion/``):

- ``model/<model_id>/`` — every version of a model with impact badges, "diff", "vs current" and
  "request rollback to this version";
- ``model/<model_id>/diff/?version=N&against=M|current`` — the changes from ``against`` (default:
  the previous version) to version N, with each change's category and the impact.

Versions are never added, changed or deleted here (they are written by the write path); the
simple-history pages are read-only like every registry admin's.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from models_registry.admin.base import RegistryHistoryAdmin
from models_registry.conf import registry_settings
from models_registry.exceptions import ApplicationError
from models_registry.models import AIModel

from .. import selectors
from ..masking import can_view_sensitive, mask_state
from ..models import ModelVersion, RollbackRequest
from .display import badge, diff_context, diff_rows, render_for, viewing_user


@admin.register(ModelVersion)
class ModelVersionAdmin(RegistryHistoryAdmin):
    list_display = (
        "ai_model",
        "number",
        "label",
        "impact_badge",
        "summary_text",
        "source",
        "created_by",
        "created_at",
        "rollback_available",
    )
    list_filter = ("impact", "breaking", "source", "rollback_available")
    list_select_related = ("ai_model", "created_by")
    search_fields = ("ai_model__key",)
    search_help_text = "Search by model key."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    fields = (
        "ai_model",
        "number",
        "label",
        "revision",
        "impact_badge",
        "breaking",
        "summary_text",
        "changes_table",
        "source",
        "reason",
        "created_by",
        "created_at",
        "rollback_available",
        "pruned_at",
        "restored_from",
        "links",
        "snapshot_display",
    )
    readonly_fields = fields
    history_list_display = ("rollback_available",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("snapshot")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # -- columns and fields ---------------------------------------------------------------------

    @admin.display(description="impact", ordering="impact")
    def impact_badge(self, obj):
        return badge(obj.impact)

    @admin.display(description="summary")
    def summary_text(self, obj):
        return (obj.summary or {}).get("text", "")

    @admin.display(description="changes")
    def changes_table(self, obj):
        from django.template.loader import render_to_string

        user = viewing_user()
        if user is None:
            return ""
        full = ModelVersion.objects.get(pk=obj.pk)  # the list defers the snapshot; version 1 needs it
        rows = diff_rows(selectors.version_changes(full), user)
        return render_to_string("versioning/admin/_diff_table.html", {"changes": rows})

    @admin.display(description="state after this version")
    def snapshot_display(self, obj):
        user = viewing_user()
        state = ModelVersion.objects.filter(pk=obj.pk).values_list("snapshot", flat=True).first()
        if state is None:
            return "Pruned (the state can still be seen through the diff view)."
        state = mask_state(state, can_view=bool(user is not None and can_view_sensitive(user)))
        return format_html("<pre>{}</pre>", json.dumps(state, ensure_ascii=False, indent=2, sort_keys=True))

    @admin.display(description="links")
    def links(self, obj):
        diff = reverse("admin:versioning_modelversion_diff", args=[obj.ai_model_id])
        versions = reverse("admin:versioning_modelversion_model", args=[obj.ai_model_id])
        return format_html(
            '<a href="{}?version={}">diff</a> · <a href="{}?version={}&amp;against=current">vs current</a>'
            ' · <a href="{}">all versions of the model</a>',
            diff,
            obj.number,
            diff,
            obj.number,
            versions,
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return render_for(request, super().changeform_view, request, object_id, form_url, extra_context)

    # -- pages ----------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "model/<int:model_id>/", view(self.model_versions_view), name="versioning_modelversion_model"
            ),
            path("model/<int:model_id>/diff/", view(self.diff_view), name="versioning_modelversion_diff"),
            *super().get_urls(),
        ]

    def _context(self, request, model, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "model": model,
            "can_request": registry_settings.ENABLE_ROLLBACK
            and request.user.has_perm("versioning.add_rollbackrequest"),
            "rollbacks_enabled": registry_settings.ENABLE_ROLLBACK,
        }

    def _check_view(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def model_versions_view(self, request, model_id: int):
        self._check_view(request)
        model = get_object_or_404(AIModel, pk=model_id)
        versions = list(
            ModelVersion.objects.filter(ai_model=model).select_related("created_by").defer("snapshot")
        )
        versions.sort(key=lambda v: -v.number)
        context = {
            **self._context(request, model, f"Versions of {model.key}"),
            "versions": versions,
            "latest": versions[0] if versions else None,
            "open_request": RollbackRequest.objects.filter(
                ai_model=model, status__in=RollbackRequest.OPEN_STATUSES
            ).first(),
        }
        return TemplateResponse(request, "versioning/admin/model_versions.html", context)

    def diff_view(self, request, model_id: int):
        self._check_view(request)
        model = get_object_or_404(AIModel, pk=model_id)
        number = request.GET.get("version", "")
        if not (number.isascii() and number.isdigit()):
            latest = selectors.version_latest(ai_model_id=model.pk)
            number = str(latest.number) if latest else "1"
        against = request.GET.get("against") or None
        context = self._context(request, model, f"Changes of {model.key}")
        try:
            diff = selectors.version_diff(ai_model_id=model.pk, number=int(number), against=against)
        except ApplicationError as exc:
            context.update(
                {"changes": [], "impact": None, "from_text": "?", "to_text": "?", "errors": [exc.message]}
            )
            self.message_user(request, exc.message, level="error")
            return TemplateResponse(request, "versioning/admin/diff.html", context, status=400)
        context.update(diff_context(diff.changes, diff.impact(), request.user))
        context["from_text"] = _ref_text(diff.from_ref)
        context["to_text"] = _ref_text(diff.to_ref)
        latest = selectors.version_latest(ai_model_id=model.pk)
        target = diff.to_ref["number"]
        version = (
            ModelVersion.objects.filter(ai_model=model, number=target).only("rollback_available").first()
        )
        if (
            latest is not None
            and target != latest.number
            and version is not None
            and version.rollback_available
        ):
            context["rollback_target"] = target
        return TemplateResponse(request, "versioning/admin/diff.html", context)


def _ref_text(ref: dict) -> str:
    if ref.get("current"):
        return f"the current state (revision {ref['revision']})"
    if ref.get("number") is None:
        return "nothing (creation)"
    return f"version {ref['number']} ({ref.get('label')})"
