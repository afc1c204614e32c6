"""Admin forms for providers and AI models.

The forms only validate and present; they never save (``ModelAdmin.save_model`` hands
``cleaned_data`` to ``models_registry.services``). What they add to the plain ModelForms:

- prices shown exactly (``2.5``, not ``2.500000000000``) and JSON shown indented;
- a pricing field that reads numbers as exact decimals and brings them to the stored form
  (decimal strings), so ``{"x": 0.1}`` is ``{"x": "0.1"}``, never a float;
- empty JSON boxes mean ``{}`` / ``[]`` (as the services do), not JSON ``null``;
- an optional *change reason* (kept in the history row) and the revision the form was opened
  at (a concurrent change since then is reported instead of silently overwritten);
- ``service_errors``: errors the write path raised on a first attempt, shown as form errors.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import ClassVar

from django import forms
from django.core.serializers.json import DjangoJSONEncoder
from django.forms.fields import InvalidJSONInput

from .decimals import decimal_to_str, normalize_price_map
from .models import AIModel, Provider
from .services import WRITABLE_FIELDS
from .services.providers import PROVIDER_FIELDS

# Form fields that are not model fields: they steer the write, they are not written.
WRITE_CONTROL_FIELDS = ("change_reason", "expected_revision")


class PriceField(forms.DecimalField):
    """A non-negative price, displayed in plain notation without trailing zeros."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal(0))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, Decimal) and value.is_finite():
            return decimal_to_str(value)
        return value


class _DecimalJSONDecoder(json.JSONDecoder):
    """Reads JSON numbers with a fraction as ``Decimal`` (``0.1`` stays exactly 0.1)."""

    def __init__(self, *args, **kwargs):
        kwargs["parse_float"] = Decimal
        super().__init__(*args, **kwargs)


class PrettyJSONField(forms.JSONField):
    """A JSON box shown indented; empty input (or ``null``) means ``empty_json`` (a new copy)."""

    empty_json: type[dict] | type[list] | None = None

    def __init__(self, **kwargs):
        kwargs["encoder"] = DjangoJSONEncoder
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        try:
            value = super().to_python(value)
        except RecursionError:  # json.loads on thousands of nested brackets
            raise forms.ValidationError("The JSON is nested too deeply.", code="invalid") from None
        if value is None and self.empty_json is not None:
            return self.empty_json()
        return value

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # re-rendering the refused input: show it as typed
            return InvalidJSONInput(data)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class JSONObjectField(PrettyJSONField):
    """A JSON object (capabilities, metadata); empty means ``{}``."""

    empty_json = dict


class JSONListField(PrettyJSONField):
    """A JSON list (tags); empty means ``[]``."""

    empty_json = list


class PricingField(JSONObjectField):
    """The pricing map: numbers are read exactly and stored as canonical decimal strings."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.decoder = _DecimalJSONDecoder

    def to_python(self, value):
        return normalize_price_map(super().to_python(value))


class ServiceWriteForm(forms.ModelForm):
    """Base of the admin forms: change reason, and errors reported by the write path."""

    change_reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80, "class": "vLargeTextField"}),
        help_text="Optional. Why this change? It is kept in the history with the change.",
    )

    # Set by the admin on a second pass after the services refused the write:
    # {field name or "non_field_errors": [messages]}.
    service_errors: ClassVar[dict[str, list[str]]] = {}

    @property
    def changed_data(self) -> list[str]:
        """Changed *model* fields (the reason and the revision are not changes of the row)."""
        return [name for name in super().changed_data if name not in WRITE_CONTROL_FIELDS]

    def clean(self):
        cleaned = super().clean()
        for field, messages in self.service_errors.items():
            if field in self.fields and field not in WRITE_CONTROL_FIELDS:
                self.add_error(field, list(messages))
            else:
                label = "" if field == "non_field_errors" else f"{field}: "
                self.add_error(None, [f"{label}{message}" for message in messages])
        return cleaned


class AIModelAdminForm(ServiceWriteForm):
    """Create or change an AI model (identity fields are only editable on create)."""

    expected_revision = forms.IntegerField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = AIModel
        # The identity, and what the services let callers write (``discovered_at`` is server-owned).
        fields = ("provider", "name", *(name for name in WRITABLE_FIELDS if name != "discovered_at"))
        field_classes = {
            "input_cost_per_1m": PriceField,
            "output_cost_per_1m": PriceField,
            "pricing": PricingField,
            "capabilities": JSONObjectField,
            "metadata": JSONObjectField,
            "tags": JSONListField,
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3, "cols": 80, "class": "vLargeTextField"}),
        }
        labels = {
            "input_cost_per_1m": "Input price",
            "output_cost_per_1m": "Output price",
            "is_active": "Active",
            "is_deprecated": "Deprecated",
            "source_id": "Source ID",
            "documentation_url": "Documentation URL",
        }
        help_texts = {
            "pricing": 'Other prices as JSON, e.g. {"input_cost_per_image": "0.04"}; the unit is in the key.',
            "capabilities": 'JSON object, e.g. {"prompt_caching": true, "reasoning": true}.',
            "tags": 'JSON list of strings, e.g. ["fast", "cheap"].',
            "supports_streaming": "Unknown is not No.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "expected_revision" in self.fields:
            self.fields["expected_revision"].initial = self.instance.revision
        for name in ("context_window", "max_output_tokens"):
            if name in self.fields:
                self.fields[name].widget.attrs["min"] = 1

    def clean(self):
        cleaned = super().clean()
        alternatives = cleaned.get("alternatives")
        if self.instance.pk and alternatives is not None and self.instance in alternatives:
            self.add_error("alternatives", "A model cannot be its own alternative.")
        return cleaned


class ProviderAdminForm(ServiceWriteForm):
    """Create or change a provider (the slug is only editable on create)."""

    website = forms.URLField(required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = Provider
        fields = ("slug", *PROVIDER_FIELDS)
