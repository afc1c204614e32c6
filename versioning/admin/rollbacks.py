"""Admin of rollback requests: list with status filters, read-only detail, and the workflow pages.

Every step calls ``versioning.services`` (the same rules as the API: the approval permission,
four eyes, one open request per model, expiry, atomic execution):

- ``request/<model_id>/<number>/`` — request a rollback to a version: the diff current → target,
  a required reason (linked from the versions pages and the AI model page);
- ``<pk>/approve/``, ``<pk>/reject/``, ``<pk>/cancel/`` — confirmation pages showing the diff
  between the model's state *now* and the target; approving pins the revision shown
  (``expected_revision``), so a change made meanwhile is shown again instead of approved blind;
- the changelist actions "Approve selected" / "Reject selected" go through a confirmation page
  with the diff of every selected request.

Requests are never added, changed or deleted through the stock forms.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from models_registry.admin.base import RegistryHistoryAdmin, describe
from models_registry.conf import registry_settings
from models_registry.exceptions import ApplicationError, PreconditionFailed
from models_registry.models import AIModel

from .. import selectors, services
from ..models import ModelVersion, RollbackRequest
from .display import badge, diff_context, diff_rows, render_for, viewing_user

VERBS = ("approve", "reject", "cancel")


def _redirect_to(request_obj: RollbackRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:versioning_rollbackrequest_change", args=[request_obj.pk]))


@admin.register(RollbackRequest)
class RollbackRequestAdmin(RegistryHistoryAdmin):
    list_display = (
        "id",
        "ai_model",
        "target",
        "status_badge",
        "requested_by",
        "created_at",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status", ("requested_by", admin.RelatedOnlyFieldListFilter), "created_at", "decided_at")
    list_select_related = ("ai_model", "target_version", "requested_by", "decided_by")
    search_fields = ("ai_model__key", "reason", "requested_by__username")
    search_help_text = "Search by model key, reason or requester."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("approve_selected", "reject_selected")
    fields = (
        "ai_model",
        "target",
        "status_badge",
        "reason",
        "requested_by",
        "created_at",
        "base_revision",
        "decision",
        "decided_by",
        "decided_at",
        "decision_comment",
        "result",
        "executed_at",
        "error",
        "requested_diff",
        "approved_diff",
    )
    readonly_fields = fields
    history_list_display = ("status",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm(services.APPROVE_PERMISSION):
            actions.pop("approve_selected", None)
            actions.pop("reject_selected", None)
        return actions

    # -- columns and fields ---------------------------------------------------------------------

    @admin.display(description="target version", ordering="target_version__number")
    def target(self, obj):
        return f"{obj.target_version.number} ({obj.target_version.label})"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    @admin.display(description="result version")
    def result(self, obj):
        if obj.result_version_id is None:
            return self.get_empty_value_display()
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:versioning_modelversion_change", args=[obj.result_version_id]),
            obj.result_version.number,
        )

    def _diff_html(self, changes, heading: str) -> str:
        if changes is None:
            return self.get_empty_value_display()
        user = viewing_user()
        rows = diff_rows(changes, user) if user is not None else []
        return render_to_string("versioning/admin/_diff_block.html", {"changes": rows, "heading": heading})

    @admin.display(description="diff when requested")
    def requested_diff(self, obj):
        return self._diff_html(obj.requested_changes, "current → target, when requested")

    @admin.display(description="diff when approved")
    def approved_diff(self, obj):
        return self._diff_html(obj.approved_changes, "current → target, when approved")

    @admin.display(description="decide")
    def decision(self, obj):
        user = viewing_user()
        if not obj.is_open or user is None:
            return self.get_empty_value_display()
        links = []
        if user.has_perm(services.APPROVE_PERMISSION) and user.pk != obj.requested_by_id:
            links += [("approve", "Approve…"), ("reject", "Reject…")]
        if user.pk == obj.requested_by_id:
            links.append(("cancel", "Cancel…"))
        if not links:
            return "Waiting for another user with the approval permission."
        return format_html_join(
            " ",
            '<a class="button" href="{}">{}</a>',
            (
                (reverse(f"admin:versioning_rollbackrequest_{verb}", args=[obj.pk]), text)
                for verb, text in links
            ),
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return render_for(request, super().changeform_view, request, object_id, form_url, extra_context)

    # -- pages ----------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "request/<int:model_id>/<int:number>/",
                view(self.request_view),
                name="versioning_rollbackrequest_request",
            ),
            *(
                path(
                    f"<int:pk>/{verb}/",
                    view(self.decision_view),
                    {"verb": verb},
                    name=f"versioning_rollbackrequest_{verb}",
                )
                for verb in VERBS
            ),
            *super().get_urls(),
        ]

    def _context(self, request, title: str) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title}

    def request_view(self, request, model_id: int, number: int):
        if not request.user.has_perm("versioning.add_rollbackrequest"):
            raise PermissionDenied
        model = get_object_or_404(AIModel, pk=model_id)
        target = get_object_or_404(ModelVersion, ai_model=model, number=number)
        errors, reason = [], ""
        if request.method == "POST":
            reason = request.POST.get("reason", "").strip()
            try:
                created = services.rollback_request_create(
                    ai_model=model, target_version=number, reason=reason, actor=request.user
                )
            except ApplicationError as exc:
                errors.append(describe(exc))
            else:
                created.refresh_from_db()
                if created.status == RollbackRequest.Status.PENDING:
                    self.message_user(request, f"Rollback request #{created.pk} is waiting for approval.")
                elif created.status == RollbackRequest.Status.COMPLETED:
                    self.message_user(request, f"{model.key} was rolled back to version {number}.")
                else:
                    self.message_user(request, f"The rollback failed: {created.error}", level=messages.ERROR)
                return _redirect_to(created)
        diff = selectors.version_diff(ai_model_id=model.pk, number=number, against=selectors.CURRENT)
        context = {
            **self._context(request, f"Request a rollback of {model.key}"),
            **diff_context(diff.changes, diff.impact(), request.user),
            "model": model,
            "target": target,
            "reason": reason,
            "errors": errors,
            "requires_approval": registry_settings.ROLLBACK_REQUIRES_APPROVAL,
        }
        return TemplateResponse(
            request, "versioning/admin/rollback_request_form.html", context, status=400 if errors else 200
        )

    def decision_view(self, request, pk: int, verb: str):
        if verb in ("approve", "reject") and not request.user.has_perm(services.APPROVE_PERMISSION):
            raise PermissionDenied  # before the lookup: no existence oracle
        rollback = get_object_or_404(
            RollbackRequest.objects.select_related("ai_model", "target_version", "requested_by"), pk=pk
        )
        if verb == "cancel" and request.user.pk != rollback.requested_by_id:
            raise PermissionDenied  # only the requester cancels; others do not even see the preview
        errors, comment = [], request.POST.get("comment", "").strip()
        if request.method == "POST":
            try:
                decided = self._decide(request, rollback, verb, comment)
            except PreconditionFailed as exc:
                errors.append(f"{exc.message} Below is the difference as of now.")
            except ApplicationError as exc:
                self.message_user(request, describe(exc), level=messages.ERROR)
                return _redirect_to(rollback)
            else:
                self._report(request, decided, verb)
                return _redirect_to(decided)
        if not rollback.is_open:
            self.message_user(
                request, f"Rollback request #{rollback.pk} is {rollback.status}.", level=messages.WARNING
            )
            return _redirect_to(rollback)
        context = {
            **self._context(request, f"{verb.capitalize()} rollback request #{rollback.pk}"),
            "rollback": rollback,
            "verb": verb,
            "comment": comment,
            "errors": errors,
            **self._preview_context(rollback, request.user),
        }
        return TemplateResponse(
            request, "versioning/admin/rollback_decision.html", context, status=409 if errors else 200
        )

    @staticmethod
    def _preview_context(rollback: RollbackRequest, user) -> dict:
        if not rollback.target_version.rollback_available:
            return {"preview": False, "current_revision": ""}
        diff = selectors.rollback_request_preview(rollback)
        return {
            "preview": True,
            "current_revision": diff.from_ref["revision"],
            **diff_context(diff.changes, diff.impact(), user),
        }

    @staticmethod
    def _decide(request, rollback: RollbackRequest, verb: str, comment: str) -> RollbackRequest:
        if verb == "approve":
            expected = request.POST.get("expected_revision", "")
            return services.rollback_request_approve(
                rollback_request=rollback,
                actor=request.user,
                comment=comment,
                expected_revision=int(expected) if expected.isascii() and expected.isdigit() else None,
            )
        if verb == "reject":
            return services.rollback_request_reject(
                rollback_request=rollback, actor=request.user, comment=comment
            )
        return services.rollback_request_cancel(
            rollback_request=rollback, actor=request.user, comment=comment
        )

    def _report(self, request, decided: RollbackRequest, verb: str) -> None:
        if decided.status == RollbackRequest.Status.FAILED:
            self.message_user(
                request,
                f"Rollback request #{decided.pk} was approved but failed, so nothing was changed: "
                f"{decided.error}",
                level=messages.ERROR,
            )
        elif decided.status == RollbackRequest.Status.COMPLETED:
            number = decided.result_version.number if decided.result_version_id else None
            self.message_user(
                request,
                f"Rollback request #{decided.pk} approved and executed"
                + (f": version {number} created." if number else " (nothing differed any more)."),
            )
        else:
            self.message_user(request, f"Rollback request #{decided.pk} is now {decided.status}.")

    # -- actions (through a confirmation page with the diffs) ------------------------------------

    def _action(self, request, queryset, verb: str, action: str):
        if not request.user.has_perm(services.APPROVE_PERMISSION):
            raise PermissionDenied
        pending = list(
            queryset.filter(status=RollbackRequest.Status.PENDING)
            .select_related("ai_model", "target_version", "requested_by")
            .order_by("pk")
        )
        if not pending:
            self.message_user(request, "None of the selected requests is pending.", level=messages.WARNING)
            return None
        if request.POST.get("post") == "yes":
            comment = request.POST.get("comment", "").strip()
            for rollback in pending:
                try:
                    decided = self._decide(request, rollback, verb, comment)
                except ApplicationError as exc:
                    self.message_user(request, f"#{rollback.pk}: {describe(exc)}", level=messages.ERROR)
                else:
                    self._report(request, decided, verb)
            return None
        items = []
        for rollback in pending:
            preview = self._preview_context(rollback, request.user)
            items.append(
                {"rollback": rollback, "changes": preview.get("changes", []), "impact": preview.get("impact")}
            )
        context = {
            **self._context(request, f"{verb.capitalize()} rollback requests"),
            "items": items,
            "verb": verb,
            "action": action,
        }
        return TemplateResponse(request, "versioning/admin/rollback_action_confirmation.html", context)

    @admin.action(description="Approve selected rollback requests…")
    def approve_selected(self, request, queryset):
        return self._action(request, queryset, "approve", "approve_selected")

    @admin.action(description="Reject selected rollback requests…")
    def reject_selected(self, request, queryset):
        return self._action(request, queryset, "reject", "reject_selected")
