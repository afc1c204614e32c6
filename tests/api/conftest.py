"""Fixtures of the API tests: authenticated clients and a small, varied catalogue."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests.factories import AIModelFactory, ProviderFactory

MODELS_URL = "/api/v1/models/"


def detail_url(pk: int) -> str:
    return f"{MODELS_URL}{pk}/"


def by_key_url(key: str) -> str:
    return f"{MODELS_URL}by-key/{key}"


@pytest.fixture
def reader_client(reader) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=reader)
    return client


@pytest.fixture
def editor_client(editor) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=editor)
    return client


@pytest.fixture
def catalogue(db) -> dict:
    """Six models over three providers: columns and JSON capabilities, tags, context windows,
    one deprecated and one inactive model."""
    openai = ProviderFactory(slug="openai")
    anthropic = ProviderFactory(slug="anthropic")
    bedrock = ProviderFactory(slug="bedrock")
    models = {
        "gpt-4o": AIModelFactory(
            provider=openai,
            name="gpt-4o",
            display_name="GPT-4o",
            context_window=128_000,
            input_cost_per_1m=Decimal("2.5"),
            supports_vision=True,
            supports_function_calling=True,
            supports_streaming=True,
            capabilities={"prompt_caching": True, "reasoning": False},
            tags=["flagship", "multimodal"],
        ),
        "o3": AIModelFactory(
            provider=openai,
            name="o3",
            context_window=200_000,
            input_cost_per_1m=Decimal("10"),
            supports_function_calling=True,
            supports_vision=False,
            capabilities={"reasoning": True},
            tags=["flagship"],
        ),
        "embed": AIModelFactory(
            provider=openai,
            name="text-embedding-3-small",
            mode="embedding",
            context_window=8_191,
            input_cost_per_1m=Decimal("0.02"),
            tags=["cheap"],
        ),
        "claude": AIModelFactory(
            provider=anthropic,
            name="claude-sonnet-4",
            description="Balanced model with Extended Thinking",
            context_window=200_000,
            input_cost_per_1m=Decimal("3"),
            supports_vision=True,
            capabilities={"reasoning": True, "prompt_caching": True},
            tags=["flagship", "multimodal"],
        ),
        "old": AIModelFactory(
            provider=anthropic,
            name="claude-2",
            context_window=100_000,
            is_deprecated=True,
            tags=["legacy"],
        ),
        "gone": AIModelFactory(
            provider=bedrock,
            name="*/1-month-commitment/cohere.command-text-v14",
            context_window=4_096,
            is_active=False,
        ),
    }
    return models
