"""Query-string filters of ``GET /api/v1/models/`` (django-filter).

The filters delegate to the selectors' helpers (``filter_capabilities``, ``filter_tags``,
``filter_search``; ordering fields from ``ORDERING_FIELDS``), so the API and the Python read
path mean the same thing by "has capability X". Every value is validated: a bad one is a 400
naming the parameter, never silently ignored. Defaults: active models only, deprecated ones
hidden (``is_active=true``, ``include_deprecated=false``).
"""

from __future__ import annotations

from django import forms
from django.db.models import F, QuerySet
from django_filters import filters
from django_filters.constants import EMPTY_VALUES
from django_filters.rest_framework import FilterSet
from drf_spectacular.utils import extend_schema_field

from ..models import AIModel
from ..selectors import ORDERING_FIELDS, filter_capabilities, filter_search, filter_tags

TRUE_VALUES = frozenset({"true", "1", "yes", "on"})
FALSE_VALUES = frozenset({"false", "0", "no", "off"})


class MultipleValueField(forms.Field):
    """Every value of a repeated parameter (``?tag=a&tag=b``), as a list of non-empty strings."""

    widget = forms.MultipleHiddenInput  # reads QueryDict.getlist

    def to_python(self, value) -> list[str]:
        if value in EMPTY_VALUES:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        return [v.strip() for v in values if isinstance(v, str) and v.strip()]


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class MultipleValueFilter(filters.Filter):
    """A repeatable parameter; every value must hold (the filter method gets the list)."""

    field_class = MultipleValueField


class StrictBooleanField(forms.Field):
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``); anything else is an error."""

    widget = forms.TextInput

    def to_python(self, value) -> bool | None:
        if value in EMPTY_VALUES:
            return None
        text = str(value).strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class IntegerFilter(filters.NumberFilter):
    """A whole number (``1.5`` is an error, not rounded)."""

    field_class = forms.IntegerField


class RegistryOrderingFilter(filters.OrderingFilter):
    """``?ordering=-context_window,key``: fields from ``selectors.ORDERING_FIELDS``, ``-`` for
    descending. Empty values sort last in both directions (on every database), and ``key`` is
    appended as a tie-breaker so pages are stable."""

    def get_ordering_value(self, param: str):
        descending = param.startswith("-")
        field_name = self.param_map[param.lstrip("-")]
        expression = F(field_name)
        return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if value in EMPTY_VALUES:
            return qs
        params = [p.lstrip("-") for p in value]
        ordering = [self.get_ordering_value(p) for p in value]
        if "key" not in params:
            ordering.append(F("key").asc())
        return qs.order_by(*ordering)


class AIModelFilterSet(FilterSet):
    provider = filters.CharFilter(field_name="provider__slug", help_text="Provider slug, e.g. openai.")
    mode = filters.CharFilter(field_name="mode", help_text="chat, embedding, completion, …")
    capability = MultipleValueFilter(
        method="filter_capability",
        help_text="Repeatable; every one must hold. vision, function_calling and streaming are the "
        "supports_* columns; anything else is a key of capabilities that must be true.",
    )
    tag = MultipleValueFilter(method="filter_tag", help_text="Repeatable; the model must carry every tag.")
    min_context = IntegerFilter(
        field_name="context_window", lookup_expr="gte", min_value=0, help_text="context_window ≥ this."
    )
    max_context = IntegerFilter(
        field_name="context_window", lookup_expr="lte", min_value=0, help_text="context_window ≤ this."
    )
    search = filters.CharFilter(
        method="filter_search", help_text="Case-insensitive text in key, name, display name, description."
    )
    include_deprecated = StrictBooleanFilter(
        method="filter_include_deprecated", help_text="Default false: deprecated models are hidden."
    )
    is_active = StrictBooleanFilter(
        field_name="is_active", help_text="Default true; false lists soft-deleted models."
    )
    ordering = RegistryOrderingFilter(
        fields=ORDERING_FIELDS,
        help_text="Comma-separated fields, '-' for descending (default: key).",
    )

    class Meta:
        model = AIModel
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        cleaned = self.form.cleaned_data
        if cleaned.get("is_active") is None:
            cleaned["is_active"] = True
        if cleaned.get("include_deprecated") is None:
            cleaned["include_deprecated"] = False
        return super().filter_queryset(queryset)

    def filter_capability(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return filter_capabilities(queryset, value)

    def filter_tag(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return filter_tags(queryset, value)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return filter_search(queryset, value)

    def filter_include_deprecated(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset if value else queryset.filter(is_deprecated=False)
