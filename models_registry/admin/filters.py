"""Changelist filters of the AI model admin."""

from __future__ import annotations

from django.contrib import admin
from django.db import connection

from ..models import AIModel
from ..selectors import COLUMN_CAPABILITIES, filter_capabilities


def capability_keys() -> list[str]:
    """Keys of the JSON ``capabilities`` map that are ``true`` for at least one model, sorted."""
    table = connection.ops.quote_name(AIModel._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT e.key FROM {table}, jsonb_each({table}.capabilities) AS e "
            "WHERE e.value = 'true'::jsonb ORDER BY 1"
        )
    elif connection.vendor == "sqlite":
        sql = (
            f"SELECT DISTINCT json_each.key FROM {table}, json_each({table}.capabilities) "
            "WHERE json_each.type = 'true' ORDER BY 1"
        )
    else:
        keys = set()
        for capabilities in AIModel.objects.exclude(capabilities={}).values_list("capabilities", flat=True):
            keys.update(k for k, v in (capabilities or {}).items() if v is True)
        return sorted(keys)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class CapabilityFilter(admin.SimpleListFilter):
    """Models having one capability: a ``supports_*`` column or a key of ``capabilities``."""

    title = "capability"
    parameter_name = "capability"

    def lookups(self, request, model_admin):
        columns = [(name, f"{name.replace('_', ' ')} (supports_{name})") for name in COLUMN_CAPABILITIES]
        keys = [(key, key.replace("_", " ")) for key in capability_keys() if key not in COLUMN_CAPABILITIES]
        return columns + keys

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return filter_capabilities(queryset, [value])
