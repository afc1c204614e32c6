"""Admin of invalidation rules: edit (validated like the API), and dry-run one or several rules.

The dry run page shows, for each rule, the cached entries it would hit now (key, provider,
revision, tiers, TTL) and what each action would affect; it changes nothing. It is reached from a
rule's page ("Dry run", with a choice of event and context) or as a changelist action.

Every add, change and delete goes through the rule services with the user and a reason, so it
leaves a history row; the History page (simple-history, read-only: no revert) lists them.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from models_registry.admin.base import RegistryHistoryAdmin
from models_registry.exceptions import RegistryValidationError

from .models import InvalidationRule
from .rules import services
from .rules.services import RULE_FIELDS
from .rules.strategies import strategies
from .rules.validation import EVENTS

CONDITIONS_HELP = (
    'JSON list, e.g. [{"field": "provider", "operator": "equals", "value": "openai"}, '
    '{"field": "tier", "operator": "in", "value": ["free"], "source": "metadata"}]. '
    "Operators: equals, not_equals, contains, not_contains, greater_than, less_than, in, not_in, regex "
    "(RE2: no backreferences). Sources: entry (record fields, dotted map keys, ttl, idle), metadata, context."
)
ACTIONS_HELP = (
    'JSON list, e.g. [{"type": "invalidate"}, {"type": "extend_ttl", "seconds": 600}, '
    '{"type": "tag", "tag": "hot"}, {"type": "notify", "message": "…"}, {"type": "refresh"}].'
)


class InvalidationRuleForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in EVENTS], widget=forms.CheckboxSelectMultiple
    )
    strategy = forms.ChoiceField()
    strategy_params = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text='JSON object of the strategy\'s parameters, e.g. {"ttl_below": 120} for expired.',
    )
    conditions = forms.JSONField(
        required=False,
        initial=list,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text=CONDITIONS_HELP,
    )
    actions = forms.JSONField(
        initial=list, widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), help_text=ACTIONS_HELP
    )

    class Meta:
        model = InvalidationRule
        fields = list(RULE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["strategy"].choices = [
            (name, f"{name} — {strategy.description}") for name, strategy in sorted(strategies().items())
        ]

    def clean_strategy_params(self):
        return self.cleaned_data.get("strategy_params") or {}

    def clean_conditions(self):
        return self.cleaned_data.get("conditions") or []


class DryRunForm(forms.Form):
    event = forms.ChoiceField(choices=[(event, event) for event in EVENTS])
    context = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text='The event context, e.g. {"provider": "openai"} or {"keys": ["openai/gpt-4o"], '
        '"changes": [{"field": "capabilities.vision"}]}.',
    )

    def clean_context(self):
        value = self.cleaned_data.get("context") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object.")
        return value


@admin.register(InvalidationRule)
class InvalidationRuleAdmin(RegistryHistoryAdmin):
    form = InvalidationRuleForm
    list_display = ["name", "enabled", "priority", "event_list", "strategy", "action_list", "stop_processing"]
    list_filter = ["enabled", "strategy"]
    search_fields = ["name", "description"]
    ordering = ["-priority", "name"]
    actions = ["dry_run_selected"]
    change_form_template = "caching/admin/rule_change_form.html"

    @admin.display(description="events")
    def event_list(self, obj):
        return ", ".join(obj.events or [])

    @admin.display(description="actions")
    def action_list(self, obj):
        return ", ".join(a.get("type", "?") for a in obj.actions or [] if isinstance(a, dict))

    def save_model(self, request, obj, form, change):
        reason = "Changed in the admin." if change else "Added in the admin."
        services.rule_save(rule=obj, actor=request.user, reason=reason)

    def delete_model(self, request, obj):
        services.rule_delete(rule=obj, actor=request.user, reason="Deleted in the admin.")

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            services.rule_delete(rule=rule, actor=request.user, reason="Deleted in the admin.")

    def get_urls(self):
        custom = [
            path(
                "<int:object_id>/dry-run/",
                self.admin_site.admin_view(self.dry_run_view),
                name="caching_invalidationrule_dry_run",
            ),
        ]
        return custom + super().get_urls()

    def _page(self, request, runs, *, form=None, rule=None):
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dry run: {rule.name}" if rule else "Dry run",
            "runs": runs,
            "form": form,
            "rule": rule,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "caching/admin/rule_dry_run.html", context)

    @admin.action(description="Dry run: show which cached entries the selected rules would hit")
    def dry_run_selected(self, request, queryset):
        runs = []
        for rule in queryset.order_by("-priority", "name"):
            try:
                runs.append({"rule": rule, "result": services.rule_dry_run(rule=rule)})
            except RegistryValidationError as exc:
                runs.append({"rule": rule, "error": exc.message})
        return self._page(request, runs)

    def dry_run_view(self, request, object_id: int):
        if not self.has_view_or_change_permission(request):  # before the lookup: no existence oracle
            raise PermissionDenied
        rule = get_object_or_404(InvalidationRule, pk=object_id)
        default_event = rule.events[0] if isinstance(rule.events, list) and rule.events else "manual"
        data = request.POST if request.method == "POST" else None
        form = DryRunForm(data, initial={"event": default_event, "context": {}})
        runs = []
        if data is None or form.is_valid():
            event = form.cleaned_data["event"] if data is not None else default_event
            context = form.cleaned_data["context"] if data is not None else {}
            try:
                result = services.rule_dry_run(rule=rule, event=event, context=context)
                runs.append({"rule": rule, "result": result, "context": json.dumps(context)})
            except RegistryValidationError as exc:
                messages.error(request, exc.message)
        return self._page(request, runs, form=form, rule=rule)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "dry_run_url": reverse("admin:caching_invalidationrule_dry_run", args=[object_id]),
        }
        return super().change_view(request, object_id, form_url, extra_context)
