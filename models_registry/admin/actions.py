"""Bulk actions of the AI model admin.

Each selected model is written through the services, one at a time (each in its own
transaction, with the staff user as actor and ``source="admin"``): models that are already in
the wanted state are left alone (no new revision), and a model the services refuse is reported
without stopping the others. ``delete_selected`` replaces Django's action of that name: it asks
for confirmation (and an optional reason) and then *deactivates* — nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.template.response import TemplateResponse

from .. import services
from ..exceptions import ApplicationError
from ..models import AIModel
from .base import ADMIN_SOURCE, describe

DELETE_REASON = "Deleted in the admin (deactivated)."
LISTED = 10  # name the models in a message up to this many


def _some(keys: list[str]) -> str:
    return (
        ", ".join(keys)
        if len(keys) <= LISTED
        else f"{', '.join(keys[:LISTED])} and {len(keys) - LISTED} more"
    )


def apply_to_each(
    modeladmin,
    request,
    models: Iterable[AIModel],
    write: Callable[[AIModel], AIModel],
    *,
    done: str,
    already: str,
) -> None:
    """Run ``write`` on each model and report what happened in messages.

    ``done`` is the past participle for changed models ("deactivated"), ``already`` the state of
    models that needed no change ("already inactive").
    """
    changed, unchanged, failures = [], [], []
    for model in models:
        try:
            saved = write(model)
        except ApplicationError as exc:
            failures.append(f"{model.key}: {describe(exc)}")
            continue
        if saved.revision != model.revision:
            changed.append(model.key)
            modeladmin.log_change(request, saved, done.capitalize() + ".")
        else:
            unchanged.append(model.key)
    opts = modeladmin.opts
    if changed:
        noun = model_ngettext(opts, len(changed))
        modeladmin.message_user(request, f"{len(changed)} {noun} {done}: {_some(changed)}.", messages.SUCCESS)
    if unchanged:
        noun = model_ngettext(opts, len(unchanged))
        text = f"{len(unchanged)} {noun} {already}, left unchanged: {_some(unchanged)}."
        modeladmin.message_user(request, text, messages.INFO)
    for failure in failures:
        modeladmin.message_user(request, f"Not {done}: {failure}", messages.ERROR)


def deactivate_each(modeladmin, request, models: Iterable[AIModel], *, reason: str) -> None:
    apply_to_each(
        modeladmin,
        request,
        models,
        lambda model: services.ai_model_deactivate(
            ai_model=model.pk, actor=request.user, reason=reason, source=ADMIN_SOURCE
        ),
        done="deactivated",
        already="already inactive",
    )


def _update_each(modeladmin, request, queryset, data: dict, *, reason: str, done: str, already: str):
    apply_to_each(
        modeladmin,
        request,
        queryset.order_by("key"),
        lambda model: services.ai_model_update(
            ai_model=model.pk, data=data, actor=request.user, reason=reason, source=ADMIN_SOURCE
        ),
        done=done,
        already=already,
    )


@admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s (deactivate)")
def delete_selected(modeladmin, request, queryset):
    """Soft delete with a confirmation page; replaces Django's ``delete_selected``."""
    if request.POST.get("post"):
        reason = request.POST.get("reason", "").strip() or DELETE_REASON
        deactivate_each(modeladmin, request, queryset.order_by("key"), reason=reason)
        return None  # back to the changelist
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Deactivate selected models",
        "subtitle": None,
        "objects_name": str(model_ngettext(queryset)),
        "queryset": queryset.order_by("key"),
        "opts": modeladmin.opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    return TemplateResponse(
        request, "models_registry/admin/aimodel_delete_selected_confirmation.html", context
    )


@admin.action(permissions=["change"], description="Deactivate selected %(verbose_name_plural)s")
def deactivate_selected(modeladmin, request, queryset):
    deactivate_each(modeladmin, request, queryset.order_by("key"), reason="Deactivated in the admin.")


@admin.action(permissions=["change"], description="Reactivate selected %(verbose_name_plural)s")
def reactivate_selected(modeladmin, request, queryset):
    _update_each(
        modeladmin,
        request,
        queryset,
        {"is_active": True},
        reason="Reactivated in the admin.",
        done="reactivated",
        already="already active",
    )


@admin.action(permissions=["change"], description="Mark selected %(verbose_name_plural)s as deprecated")
def mark_deprecated(modeladmin, request, queryset):
    _update_each(
        modeladmin,
        request,
        queryset,
        {"is_deprecated": True},
        reason="Marked deprecated in the admin.",
        done="marked deprecated",
        already="already deprecated",
    )
