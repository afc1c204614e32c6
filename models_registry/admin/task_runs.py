"""Read-only admin of ``TaskRun``: what the scheduled maintenance did, when, and how it ended.

The schedules themselves are django-celery-beat's "Periodic tasks" (its own admin)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from ..jobs.models import TaskRun


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ("name", "outcome", "started_at", "duration", "attempt", "hostname")
    list_filter = ("outcome", "name")
    search_fields = ("name", "task_id", "error")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    list_per_page = 100
    fields = (
        "name",
        "outcome",
        "task_id",
        "attempt",
        "hostname",
        ("started_at", "finished_at", "duration"),
        "result_pretty",
        "error",
    )
    readonly_fields = fields[:5] + ("started_at", "finished_at", "duration", "result_pretty", "error")

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: TaskRun) -> str:
        return "-" if obj.duration_ms is None else f"{obj.duration_ms / 1000:.3f} s"

    @admin.display(description="result")
    def result_pretty(self, obj: TaskRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.result, indent=2, sort_keys=True, default=str))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
