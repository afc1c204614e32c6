"""Fixtures for the admin tests: a logged-in staff client, a small real catalogue, form data."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from models_registry import services
from models_registry.decimals import decimal_to_str
from models_registry.models import AIModel
from models_registry.signals import ai_model_written
from tests.factories import AIModelFactory, ProviderFactory


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def catalogue(db):
    """Three providers, five models: columns and JSON capabilities, an alias, a deprecated and an
    inactive model, a successor and an alternative."""
    openai = ProviderFactory(slug="openai", name="OpenAI")
    anthropic = ProviderFactory(slug="anthropic", name="Anthropic")
    ProviderFactory(slug="deepseek", name="DeepSeek")
    gpt = AIModelFactory(
        provider=openai,
        name="gpt-4o",
        display_name="GPT-4o",
        input_cost_per_1m=Decimal("2.5"),
        output_cost_per_1m=Decimal("10"),
        supports_vision=True,
        supports_function_calling=True,
        capabilities={"prompt_caching": True, "reasoning": False},
        pricing={"input_cost_per_image": "0.003613"},
        tags=["flagship"],
    )
    mini = AIModelFactory(
        provider=openai,
        name="gpt-4o-mini",
        input_cost_per_1m=Decimal("0.15"),
        output_cost_per_1m=Decimal("0.6"),
        supports_vision=False,
        alternatives=[gpt],
    )
    embedding = AIModelFactory(
        provider=openai,
        name="text-embedding-3-small",
        mode="embedding",
        context_window=8191,
        max_output_tokens=None,
        input_cost_per_1m=Decimal("0.02"),
        output_cost_per_1m=Decimal("0"),
    )
    opus = AIModelFactory(
        provider=anthropic,
        name="claude-3-opus-20240229",
        display_name="Claude 3 Opus",
        input_cost_per_1m=Decimal("15"),
        output_cost_per_1m=Decimal("75"),
        capabilities={"reasoning": True, "prompt_caching": True},
        is_deprecated=True,
        successor=None,
    )
    old = AIModelFactory(provider=anthropic, name="claude-instant-1", is_active=False)
    # A model with an alias, through the import path that creates aliases.
    services.ai_model_bulk_upsert(
        items=[
            services.BulkItem(
                provider="deepseek",
                name="deepseek-chat",
                fields={"mode": "chat", "context_window": 65536, "input_cost_per_1m": "0.27"},
                aliases=["deepseek-chat"],
            )
        ],
        source="import",
    )
    deepseek = AIModel.objects.get(key="deepseek/deepseek-chat")
    return {"gpt": gpt, "mini": mini, "embedding": embedding, "opus": opus, "old": old, "deepseek": deepseek}


@pytest.fixture
def written():
    """The ``ai_model_written`` events sent during the test (what the services did)."""
    events = []

    def receiver(**kwargs):
        events.append(kwargs)

    ai_model_written.connect(receiver, weak=False)
    yield events
    ai_model_written.disconnect(receiver)


def url(view: str, *args) -> str:
    return reverse(f"admin:models_registry_aimodel_{view}", args=args)


def _nullbool(value) -> str:
    return {None: "unknown", True: "true", False: "false"}[value]


def _price(value) -> str:
    return "" if value is None else decimal_to_str(value)


def change_data(model: AIModel, **overrides) -> dict:
    """The POST body of the change form of ``model`` as the browser would send it unchanged."""
    model.refresh_from_db()
    data = {
        "display_name": model.display_name,
        "description": model.description,
        "mode": model.mode,
        "context_window": model.context_window or "",
        "max_output_tokens": model.max_output_tokens or "",
        "input_cost_per_1m": _price(model.input_cost_per_1m),
        "output_cost_per_1m": _price(model.output_cost_per_1m),
        "pricing": json.dumps(model.pricing),
        "supports_streaming": _nullbool(model.supports_streaming),
        "supports_function_calling": _nullbool(model.supports_function_calling),
        "supports_vision": _nullbool(model.supports_vision),
        "capabilities": json.dumps(model.capabilities),
        "tags": json.dumps(model.tags),
        "metadata": json.dumps(model.metadata),
        "deprecation_date": model.deprecation_date.isoformat() if model.deprecation_date else "",
        "successor": model.successor_id or "",
        "alternatives": [m.pk for m in model.alternatives.all()],
        "source": model.source,
        "source_id": model.source_id,
        "documentation_url": model.documentation_url,
        "change_reason": "",
        "expected_revision": model.revision,
    }
    if model.is_active:
        data["is_active"] = "on"
    if model.is_deprecated:
        data["is_deprecated"] = "on"
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data
