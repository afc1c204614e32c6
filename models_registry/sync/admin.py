"""Admin of the catalogue sync: sources (Sync now / Dry run), runs (read-only, with their
change-sets) and changes (held ones approved or rejected behind a confirmation page that shows
each change's diff).

Every step calls ``models_registry.sync.services`` — the same rules as the API: running needs
``models_registry.run_catalogsource``; deciding needs ``models_registry.approve_syncchange`` and
someone other than the actor of the run that held the change (four eyes). Runs and changes are
never added, changed or deleted through the stock forms. Source edits (add, change, delete) leave
a history row with the user and a reason (typed, else what the form did); the source's History
page is read-only (no revert).
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from versioning.admin.display import render_for, viewing_user
from versioning.masking import can_view_sensitive, mask_changes, mask_state

from ..admin.base import RegistryHistoryAdmin, reason_from
from ..exceptions import ApplicationError
from ..forms import ServiceWriteForm
from . import services
from .models import CatalogSource, SyncChange, SyncRun


def _flat(fields) -> tuple[str, ...]:
    return tuple(name for item in fields for name in (item if isinstance(item, tuple) else (item,)))


def _run_link(run: SyncRun) -> str:
    url = reverse("admin:models_registry_syncrun_change", args=[run.pk])
    return format_html('<a href="{}">run #{}</a>', url, run.pk)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CatalogSourceAdminForm(ServiceWriteForm):
    """A source's fields and the optional reason kept in its history."""

    class Meta:
        model = CatalogSource
        fields = (
            "name",
            "format",
            "location",
            "enabled",
            "policy",
            "schedule",
            "missing_grace_days",
        )


@admin.register(CatalogSource)
class CatalogSourceAdmin(RegistryHistoryAdmin):
    form = CatalogSourceAdminForm
    list_display = ("name", "format", "policy", "enabled", "location", "schedule", "last_run")
    list_filter = ("format", "policy", "enabled")
    search_fields = ("name", "location")
    actions = ["sync_now", "sync_dry_run"]

    @admin.display(description="last run")
    def last_run(self, obj: CatalogSource) -> str:
        run = obj.runs.order_by("-started_at", "-pk").first()
        if run is None:
            return "-"
        return format_html("{} ({}{})", _run_link(run), run.status, ", dry run" if run.dry_run else "")

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm(services.RUN_PERMISSION)

    # -- writes: each leaves a history row naming the user and a reason -------------------------

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        obj._change_reason = reason_from(form)
        obj.save()

    def delete_model(self, request, obj):
        obj._history_user = request.user
        obj._change_reason = "Deleted in the admin."
        obj.delete()

    def delete_queryset(self, request, queryset):
        for source in queryset:
            self.delete_model(request, source)

    def _sync(self, request, queryset, *, dry_run: bool) -> None:
        for source in queryset:
            try:
                run = services.sync_run(source=source, dry_run=dry_run, actor=request.user)
            except Exception as exc:  # noqa: BLE001 - recorded on the run; shown, never a 500
                self.message_user(request, f"{source}: failed ({exc})", messages.ERROR)
                continue
            level = messages.SUCCESS if run.status == SyncRun.Status.OK else messages.ERROR
            text = format_html(
                "{}: {} — {}created={} applied={} held={} unchanged={} deprecated={}{}",
                source.name,
                _run_link(run),
                "dry run, " if dry_run else "",
                run.created,
                run.applied,
                run.held,
                run.unchanged,
                run.deprecated,
                f" — {run.guard or run.error}" if run.status != SyncRun.Status.OK else "",
            )
            self.message_user(request, text, level)

    @admin.action(description="Sync now", permissions=["run"])
    def sync_now(self, request, queryset):
        self._sync(request, queryset, dry_run=False)

    @admin.action(description="Dry run (show the change-set, write nothing)", permissions=["run"])
    def sync_dry_run(self, request, queryset):
        self._sync(request, queryset, dry_run=True)


class SyncChangeInline(admin.TabularInline):
    model = SyncChange
    fields = ("change_link", "action", "impact", "breaking", "state", "summary")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    max_num = 0

    @admin.display(description="model")
    def change_link(self, obj: SyncChange) -> str:
        url = reverse("admin:models_registry_syncchange_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.model_key)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "source",
        "status",
        "dry_run",
        "started_at",
        "fetched",
        "applied",
        "held",
        "unchanged",
        "deprecated",
        "actor",
    )
    list_filter = ("status", "dry_run", "source")
    list_select_related = ("source", "actor")
    date_hierarchy = "started_at"
    fields = (
        "source",
        "status",
        "dry_run",
        "policy",
        "actor",
        ("started_at", "finished_at"),
        "fetched",
        "guard",
        ("created", "applied", "held", "unchanged", "deprecated"),
        "errors",
        "error",
    )
    readonly_fields = _flat(fields)
    inlines = [SyncChangeInline]


def _diff_table(change: SyncChange, *, can_view: bool) -> str:
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
        (
            (
                c.get("field"),
                c.get("kind"),
                c.get("category") or "",
                json.dumps(c.get("old"), default=str, ensure_ascii=False),
                json.dumps(c.get("new"), default=str, ensure_ascii=False),
            )
            for c in mask_changes(change.changes, can_view=can_view)
        ),
    )
    return format_html(
        "<table><thead><tr><th>Field</th><th>Change</th><th>Category</th><th>Before</th><th>After</th>"
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


@admin.register(SyncChange)
class SyncChangeAdmin(ReadOnlyAdmin):
    list_display = ("model_key", "run_display", "action", "impact", "breaking", "state", "decided_by")
    list_filter = ("state", "action", "impact", "breaking", "run__source")
    list_select_related = ("run", "run__source", "decided_by")
    search_fields = ("model_key",)
    fields = (
        "model_key",
        "run_display",
        "action",
        ("impact", "breaking", "would_hold"),
        "state",
        "summary",
        "diff",
        "proposed_pretty",
        ("decided_by", "decided_at"),
        "decision_comment",
        "result_version",
    )
    readonly_fields = _flat(fields)
    actions = ["approve_selected", "reject_selected"]

    @admin.display(description="run")
    def run_display(self, obj: SyncChange) -> str:
        return _run_link(obj.run)

    @admin.display(description="changes")
    def diff(self, obj: SyncChange) -> str:
        return _diff_table(obj, can_view=self._can_view())

    @admin.display(description="proposed values")
    def proposed_pretty(self, obj: SyncChange) -> str:
        proposed = mask_state(obj.proposed, can_view=self._can_view())
        return format_html(
            "<pre>{}</pre>", json.dumps(proposed, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        )

    @staticmethod
    def _can_view() -> bool:
        """Whether the user viewing the page may see sensitive metadata values (else masked)."""
        user = viewing_user()
        return user is not None and can_view_sensitive(user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return render_for(request, super().changeform_view, request, object_id, form_url, extra_context)

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def _decide(self, request, queryset, verb: str):
        held = list(queryset.filter(state=SyncChange.State.HELD).select_related("run", "run__source"))
        if not held:
            self.message_user(request, "None of the selected changes is held.", messages.WARNING)
            return None
        if request.POST.get("confirm") != "yes":
            can_view = can_view_sensitive(request.user)
            context = {
                **self.admin_site.each_context(request),
                "title": f"{verb.capitalize()} {len(held)} held sync change(s)?",
                "verb": verb,
                "action": f"{verb}_selected",
                "items": [(change, _diff_table(change, can_view=can_view)) for change in held],
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "models_registry/admin/sync_change_confirm.html", context)
        comment = request.POST.get("comment", "").strip()
        decide = services.sync_change_approve if verb == "approve" else services.sync_change_reject
        for change in held:
            try:
                decide(change=change, actor=request.user, comment=comment)
            except ApplicationError as exc:
                self.message_user(request, f"{change.model_key}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{change.model_key}: {verb}d.", messages.SUCCESS)
        return None

    @admin.action(description="Approve selected held changes (apply them)", permissions=["decide"])
    def approve_selected(self, request, queryset):
        return self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected held changes", permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._decide(request, queryset, "reject")
