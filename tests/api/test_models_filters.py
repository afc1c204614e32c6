"""List filters, ordering and pagination of ``GET /api/v1/models/``."""

import pytest
from django.conf import settings
from django.test import override_settings

from tests.api.conftest import MODELS_URL
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def names(client, params) -> list[str]:
    response = client.get(MODELS_URL, params)
    assert response.status_code == 200, response.content
    return [m["name"] for m in response.json()["results"]]


def error_fields(response) -> set[str]:
    assert response.status_code == 400, response.content
    return set(response.json()["errors"])


def test_defaults_hide_deprecated_and_inactive(reader_client, catalogue):
    assert names(reader_client, {}) == ["claude-sonnet-4", "gpt-4o", "o3", "text-embedding-3-small"]


def test_include_deprecated(reader_client, catalogue):
    assert "claude-2" in names(reader_client, {"include_deprecated": "true"})
    assert "claude-2" not in names(reader_client, {"include_deprecated": "false"})


def test_is_active(reader_client, catalogue):
    assert names(reader_client, {"is_active": "false"}) == ["*/1-month-commitment/cohere.command-text-v14"]
    assert len(names(reader_client, {"is_active": "true", "include_deprecated": "true"})) == 5


def test_provider(reader_client, catalogue):
    assert names(reader_client, {"provider": "anthropic"}) == ["claude-sonnet-4"]
    assert names(reader_client, {"provider": "unknown"}) == []


def test_mode(reader_client, catalogue):
    assert names(reader_client, {"mode": "embedding"}) == ["text-embedding-3-small"]


def test_capability_column(reader_client, catalogue):
    assert names(reader_client, {"capability": "vision"}) == ["claude-sonnet-4", "gpt-4o"]
    assert names(reader_client, {"capability": "supports_function_calling"}) == ["gpt-4o", "o3"]
    assert names(reader_client, {"capability": "streaming"}) == ["gpt-4o"]


def test_capability_json_key(reader_client, catalogue):
    # gpt-4o has reasoning: false, which does not count
    assert names(reader_client, {"capability": "reasoning"}) == ["claude-sonnet-4", "o3"]
    assert names(reader_client, {"capability": "unheard_of"}) == []


def test_capability_repeated_all_must_hold(reader_client, catalogue):
    assert names(reader_client, {"capability": ["vision", "reasoning"]}) == ["claude-sonnet-4"]
    assert names(reader_client, {"capability": ["vision", "prompt_caching"]}) == ["claude-sonnet-4", "gpt-4o"]
    assert names(reader_client, {"capability": ["function_calling", "reasoning"]}) == ["o3"]


def test_tag(reader_client, catalogue):
    assert names(reader_client, {"tag": "flagship"}) == ["claude-sonnet-4", "gpt-4o", "o3"]
    assert names(reader_client, {"tag": ["flagship", "multimodal"]}) == ["claude-sonnet-4", "gpt-4o"]
    assert names(reader_client, {"tag": ["cheap", "flagship"]}) == []
    assert names(reader_client, {"tag": "legacy", "include_deprecated": "true"}) == ["claude-2"]


def test_context_bounds(reader_client, catalogue):
    assert names(reader_client, {"min_context": 150_000}) == ["claude-sonnet-4", "o3"]
    assert names(reader_client, {"max_context": 10_000}) == ["text-embedding-3-small"]
    assert names(reader_client, {"min_context": 100_000, "max_context": 128_000}) == ["gpt-4o"]
    assert names(reader_client, {"min_context": 200_000, "max_context": 200_000}) == ["claude-sonnet-4", "o3"]


def test_search(reader_client, catalogue):
    assert names(reader_client, {"search": "GPT-4"}) == ["gpt-4o"]  # display name / key, any case
    assert names(reader_client, {"search": "extended thinking"}) == ["claude-sonnet-4"]  # description
    assert names(reader_client, {"search": "anthropic/"}) == ["claude-sonnet-4"]  # key


def test_filters_combined(reader_client, catalogue):
    params = {
        "provider": "openai",
        "mode": "chat",
        "capability": "function_calling",
        "tag": "flagship",
        "min_context": 150_000,
        "search": "o",
    }
    assert names(reader_client, params) == ["o3"]
    params = {"provider": "anthropic", "tag": "multimodal", "capability": ["vision", "reasoning"]}
    assert names(reader_client, params) == ["claude-sonnet-4"]
    params = {"provider": "anthropic", "include_deprecated": "true", "max_context": 150_000}
    assert names(reader_client, params) == ["claude-2"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"min_context": "abc"}, "min_context"),
        ({"min_context": "1.5"}, "min_context"),
        ({"max_context": "-1"}, "max_context"),
        ({"include_deprecated": "maybe"}, "include_deprecated"),
        ({"is_active": "yes please"}, "is_active"),
        ({"ordering": "price"}, "ordering"),
        ({"ordering": "key,-nope"}, "ordering"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
    ],
)
def test_invalid_values_are_400_naming_the_parameter(reader_client, catalogue, params, field):
    response = reader_client.get(MODELS_URL, params)
    assert error_fields(response) == {field}
    assert response.json()["code"] == "invalid"


def test_ordering_ascending_descending_and_several_fields(reader_client, catalogue):
    assert names(reader_client, {"ordering": "context_window"}) == [
        "text-embedding-3-small",
        "gpt-4o",
        "claude-sonnet-4",
        "o3",
    ]
    assert names(reader_client, {"ordering": "-context_window"}) == [
        "claude-sonnet-4",  # ties broken by key
        "o3",
        "gpt-4o",
        "text-embedding-3-small",
    ]
    assert names(reader_client, {"ordering": "-context_window,-key"}) == [
        "o3",
        "claude-sonnet-4",
        "gpt-4o",
        "text-embedding-3-small",
    ]
    assert names(reader_client, {"ordering": "provider__slug,-input_cost_per_1m"}) == [
        "claude-sonnet-4",
        "o3",
        "gpt-4o",
        "text-embedding-3-small",
    ]


def test_ordering_puts_missing_values_last_both_ways(reader_client):
    provider = ProviderFactory(slug="p")
    AIModelFactory(provider=provider, name="none", context_window=None)
    AIModelFactory(provider=provider, name="small", context_window=10)
    AIModelFactory(provider=provider, name="big", context_window=1000)
    assert names(reader_client, {"ordering": "context_window"}) == ["small", "big", "none"]
    assert names(reader_client, {"ordering": "-context_window"}) == ["big", "small", "none"]


@override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "DEFAULT_PAGE_SIZE": 2, "MAX_PAGE_SIZE": 3})
def test_pagination_bounds(reader_client, catalogue):
    everything = {"include_deprecated": "true"}  # five models
    first = reader_client.get(MODELS_URL, everything).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2  # default page size
    assert first["previous"] is None
    assert "limit=2" in first["next"] and "offset=2" in first["next"]

    capped = reader_client.get(MODELS_URL, {**everything, "limit": 1000}).json()
    assert len(capped["results"]) == 3  # capped at MAX_PAGE_SIZE

    all_keys = [m.key for m in sorted(catalogue.values(), key=lambda m: m.key) if m.is_active]
    last = reader_client.get(MODELS_URL, {**everything, "limit": 3, "offset": 3}).json()
    assert [m["key"] for m in last["results"]] == all_keys[3:]
    assert last["next"] is None
    assert last["previous"] is not None

    past_end = reader_client.get(MODELS_URL, {**everything, "offset": 50}).json()
    assert past_end["count"] == 5
    assert past_end["results"] == []

    huge_offset = reader_client.get(MODELS_URL, {**everything, "offset": 10**30})
    assert huge_offset.status_code == 400
    assert "offset" in huge_offset.json()["errors"]


@override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "DEFAULT_PAGE_SIZE": 2, "MAX_PAGE_SIZE": 3})
def test_pages_cover_everything_once(reader_client, catalogue):
    seen = []
    url = f"{MODELS_URL}?include_deprecated=true&ordering=-context_window"
    while url:
        body = reader_client.get(url).json()
        seen += [m["key"] for m in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 5


def test_blank_values_are_ignored(reader_client, catalogue):
    params = {"provider": "", "mode": "", "min_context": "", "limit": "", "ordering": "", "is_active": ""}
    assert len(names(reader_client, params)) == 4


def test_huge_context_bound_is_not_an_error(reader_client, catalogue):
    assert names(reader_client, {"min_context": 10**18}) == []
    assert len(names(reader_client, {"max_context": 10**18})) == 4
