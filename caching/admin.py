"""Admin: the cache dashboard (figures, invalidation behind a confirmation, invalidation stats),
the event log, and the invalidation rules (with a dry run showing which cached entries a rule
would hit)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from models_registry.exceptions import RegistryValidationError

from . import admin_rules  # noqa: F401 - registers the InvalidationRule admin
from .events import invalidation_event_stats
from .models import InvalidationEvent
from .services import cache_invalidate, cache_stats


class InvalidateForm(forms.Form):
    SCOPES = [
        ("models", "Models (keys)"),
        ("providers", "Providers"),
        ("tags", "Tags"),
        ("all", "Everything"),
    ]

    scope = forms.ChoiceField(choices=SCOPES)
    targets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="One model key, provider slug or tag per line (not needed for “Everything”).",
    )
    reason = forms.CharField(required=False, max_length=1000)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        targets = [line.strip() for line in (data.get("targets") or "").splitlines() if line.strip()]
        if data.get("scope") != "all" and not targets:
            raise forms.ValidationError("Name at least one target.")
        data["target_list"] = targets
        return data


@admin.register(InvalidationEvent)
class InvalidationEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "scope",
        "short_targets",
        "count",
        "duration_ms",
        "outcome",
        "actor",
        "reason",
    ]
    list_filter = ["scope", "outcome", "trigger", "created_at"]
    search_fields = ["reason"]
    date_hierarchy = "created_at"
    change_list_template = "caching/admin/event_changelist.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="targets")
    def short_targets(self, obj):
        text = ", ".join(obj.targets)
        return text if len(text) < 80 else text[:77] + "…"

    def get_urls(self):
        custom = [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="caching_dashboard"),
        ]
        return custom + super().get_urls()

    def dashboard_view(self, request):
        if not request.user.is_staff:
            raise PermissionDenied
        can_invalidate = request.user.has_perm("caching.invalidate_cache")
        form = InvalidateForm(request.POST or None)
        confirming = False
        if request.method == "POST":
            if not can_invalidate:
                raise PermissionDenied
            if form.is_valid():
                data = form.cleaned_data
                if not data.get("confirmed"):
                    confirming = True  # show what will happen, ask again
                else:
                    scope, targets = data["scope"], data["target_list"]
                    try:
                        event = cache_invalidate(
                            models=targets if scope == "models" else (),
                            providers=targets if scope == "providers" else (),
                            tags=targets if scope == "tags" else (),
                            everything=scope == "all",
                            reason=data.get("reason") or "admin dashboard",
                            actor=request.user,
                        )
                    except RegistryValidationError as exc:
                        form.add_error(None, exc.message)
                    else:
                        messages.success(
                            request,
                            f"Invalidated {event.count} cached entries ({event.get_scope_display()}).",
                        )
                        return redirect(reverse("admin:caching_dashboard"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Model cache",
            "stats": cache_stats(),
            "form": form,
            "confirming": confirming,
            "can_invalidate": can_invalidate,
            "recent": InvalidationEvent.objects.select_related("actor")[:10],
            "event_stats": invalidation_event_stats(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "caching/admin/dashboard.html", context)
