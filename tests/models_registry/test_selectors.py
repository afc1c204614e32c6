"""Read path: immutable records, get / get_many with aliases, list filters, stats."""

import dataclasses
from decimal import Decimal

import pytest

from models_registry import selectors, services
from models_registry.exceptions import ModelNotFound
from models_registry.models import ModelAlias
from models_registry.records import record_from_dict, record_to_dict
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    openai = ProviderFactory(slug="openai")
    anthropic = ProviderFactory(slug="anthropic")
    gpt = AIModelFactory(
        provider=openai,
        name="gpt-4o",
        supports_vision=True,
        capabilities={"prompt_caching": True, "reasoning": False},
        tags=["flagship", "multimodal"],
        context_window=128_000,
        pricing={"input_cost_per_image": "0.001"},
    )
    mini = AIModelFactory(provider=openai, name="gpt-4o-mini", context_window=16_000, tags=["cheap"])
    claude = AIModelFactory(
        provider=anthropic,
        name="claude-3-5-sonnet",
        supports_vision=True,
        capabilities={"prompt_caching": True, "reasoning": True},
        tags=["flagship"],
        context_window=200_000,
        is_deprecated=True,
    )
    embed = AIModelFactory(
        provider=openai, name="text-embedding-3-small", mode="embedding", context_window=8191
    )
    return {"gpt": gpt, "mini": mini, "claude": claude, "embed": embed}


def test_record_is_deeply_immutable(catalog):
    record = selectors.ai_model_get(key="openai/gpt-4o")
    assert record.key == "openai/gpt-4o" and record.provider == "openai"
    assert record.input_cost_per_1m == Decimal("2.5")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "x"
    with pytest.raises(TypeError):
        record.capabilities["reasoning"] = True
    with pytest.raises(TypeError):
        record.pricing["x"] = "1"
    assert isinstance(record.tags, tuple)
    again = selectors.ai_model_get(id=record.id)
    assert again == record


def test_record_json_round_trip(catalog):
    record = selectors.ai_model_get(key="openai/gpt-4o")
    data = record_to_dict(record)
    assert data["input_cost_per_1m"] == "2.5" and isinstance(data["tags"], list)
    assert record_from_dict(data) == record


def test_get_unknown_and_alias(catalog):
    with pytest.raises(ModelNotFound):
        selectors.ai_model_get(key="openai/nope")
    with pytest.raises(ModelNotFound):
        selectors.ai_model_get(id=999_999)
    ModelAlias.objects.create(alias="gpt4o", ai_model=catalog["gpt"])
    assert selectors.ai_model_get(key="gpt4o").key == "openai/gpt-4o"


def test_get_many(catalog, django_assert_max_num_queries):
    ModelAlias.objects.create(alias="sonnet", ai_model=catalog["claude"])
    with django_assert_max_num_queries(10):
        found = selectors.ai_model_get_many(
            keys=["openai/gpt-4o", "missing/x", "sonnet", "openai/gpt-4o-mini"]
        )
    assert list(found) == ["openai/gpt-4o", "missing/x", "sonnet", "openai/gpt-4o-mini"]
    assert found["missing/x"] is None
    assert found["sonnet"].key == "anthropic/claude-3-5-sonnet"
    assert found["openai/gpt-4o-mini"].context_window == 16_000


def _keys(queryset):
    return [m.key for m in queryset]


def test_list_filters(catalog):
    assert _keys(selectors.ai_model_list()) == [
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/text-embedding-3-small",
    ]
    assert "anthropic/claude-3-5-sonnet" in _keys(selectors.ai_model_list(include_deprecated=True))
    assert _keys(selectors.ai_model_list(provider="anthropic", include_deprecated=True)) == [
        "anthropic/claude-3-5-sonnet"
    ]
    assert _keys(selectors.ai_model_list(mode="embedding")) == ["openai/text-embedding-3-small"]
    assert _keys(selectors.ai_model_list(capabilities=["vision"])) == ["openai/gpt-4o"]
    assert _keys(
        selectors.ai_model_list(capabilities=["prompt_caching", "supports_vision"], include_deprecated=True)
    ) == [
        "anthropic/claude-3-5-sonnet",
        "openai/gpt-4o",
    ]
    assert _keys(selectors.ai_model_list(capabilities=["reasoning"], include_deprecated=True)) == [
        "anthropic/claude-3-5-sonnet"
    ]
    assert _keys(selectors.ai_model_list(tags=["flagship", "multimodal"])) == ["openai/gpt-4o"]
    assert _keys(selectors.ai_model_list(tags=["flagship"], include_deprecated=True)) == [
        "anthropic/claude-3-5-sonnet",
        "openai/gpt-4o",
    ]
    assert _keys(selectors.ai_model_list(min_context=10_000, max_context=130_000)) == [
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    ]
    assert _keys(selectors.ai_model_list(search="EMBEDDING")) == ["openai/text-embedding-3-small"]
    assert _keys(selectors.ai_model_list(ordering=["-context_window"])) == [
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/text-embedding-3-small",
    ]


def test_list_hides_inactive_by_default(catalog):
    services.ai_model_deactivate(ai_model=catalog["mini"])
    assert "openai/gpt-4o-mini" not in _keys(selectors.ai_model_list())
    assert _keys(selectors.ai_model_list(is_active=False)) == ["openai/gpt-4o-mini"]


def test_stats(catalog):
    stats = selectors.ai_model_stats()
    assert stats["total"] == 4 and stats["active"] == 4 and stats["deprecated"] == 1
    assert stats["by_provider"] == {"openai": 3, "anthropic": 1}
    assert stats["by_mode"] == {"chat": 3, "embedding": 1}
    assert stats["by_capability"]["vision"] == 2
    assert stats["by_capability"]["prompt_caching"] == 2
    assert stats["by_capability"]["reasoning"] == 1
    assert stats["added_last_7_days"] == 4
