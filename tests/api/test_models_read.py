"""Reading models: list shape, retrieve, by-key (slashes and ``: @ . *``), aliases, stats, providers."""

from decimal import Decimal

import pytest

from models_registry import services
from models_registry.records import record_from_instance, record_to_dict
from models_registry.selectors import ai_model_get
from tests.api.conftest import MODELS_URL, by_key_url, detail_url
from tests.factories import AIModelFactory, ProviderFactory

pytestmark = pytest.mark.django_db

MODEL_FIELDS = {
    "id", "key", "provider", "name", "display_name", "description", "mode", "context_window",
    "max_output_tokens", "input_cost_per_1m", "output_cost_per_1m", "pricing", "supports_streaming",
    "supports_function_calling", "supports_vision", "capabilities", "tags", "metadata", "is_active",
    "is_deprecated", "deprecation_date", "successor", "alternatives", "source", "source_id", "version",
    "revision", "created_at", "updated_at", "aliases", "documentation_url", "discovered_at",
}  # fmt: skip


def test_retrieve_returns_the_record_shape(reader_client):
    successor = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-5")
    alternative = AIModelFactory(provider=ProviderFactory(slug="anthropic"), name="claude-opus-4")
    model = AIModelFactory(
        provider=ProviderFactory(slug="openai"),
        name="gpt-4o",
        input_cost_per_1m="2.50",
        output_cost_per_1m=Decimal("0.0000015"),
        pricing={"input_cost_per_image": 0.1, "tiers": [{"above_128k": "5.000"}]},
        successor="openai/gpt-5",
        alternatives=["anthropic/claude-opus-4"],
        deprecation_date="2026-06-30",
        is_deprecated=True,
        capabilities={"prompt_caching": True},
        tags=["flagship"],
        metadata={"family": "gpt-4"},
    )
    response = reader_client.get(detail_url(model.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == MODEL_FIELDS
    assert body["id"] == model.pk
    assert body["key"] == "openai/gpt-4o"
    assert body["provider"] == "openai"
    assert body["input_cost_per_1m"] == "2.5"
    assert body["output_cost_per_1m"] == "0.0000015"
    assert body["pricing"] == {"input_cost_per_image": "0.1", "tiers": [{"above_128k": "5"}]}
    assert body["successor"] == successor.key
    assert body["alternatives"] == [alternative.key]
    assert body["deprecation_date"] == "2026-06-30"
    assert body["supports_vision"] is None  # unknown, not false
    assert body["revision"] == 1
    assert body == record_to_dict(ai_model_get(id=model.pk))


def test_list_items_have_the_same_shape_as_retrieve(reader_client, catalogue):
    listed = reader_client.get(MODELS_URL).json()
    assert set(listed) == {"count", "next", "previous", "results"}
    assert listed["count"] == 4  # deprecated and inactive hidden by default
    for item in listed["results"]:
        assert item == reader_client.get(detail_url(item["id"])).json()


def test_list_is_ordered_by_key_by_default(reader_client, catalogue):
    keys = [m["key"] for m in reader_client.get(MODELS_URL).json()["results"]]
    assert keys == sorted(keys)


def test_list_query_count_does_not_grow_with_page_size(
    reader_client, catalogue, django_assert_max_num_queries
):
    with django_assert_max_num_queries(7):
        response = reader_client.get(MODELS_URL, {"include_deprecated": "true", "is_active": "false"})
    assert response.status_code == 200
    with django_assert_max_num_queries(7):
        reader_client.get(MODELS_URL, {"include_deprecated": "true"})


def test_retrieve_unknown_id_is_404(reader_client):
    response = reader_client.get(detail_url(999_999))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_retrieve_huge_id_is_404_not_500(reader_client):
    assert reader_client.get(detail_url(10**30)).status_code == 404


def test_retrieve_shows_inactive_models(reader_client, catalogue):
    response = reader_client.get(detail_url(catalogue["gone"].pk))
    assert response.status_code == 200
    assert response.json()["is_active"] is False


@pytest.mark.parametrize(
    "provider, name",
    [
        ("bedrock", "*/1-month-commitment/cohere.command-text-v14"),
        ("cloudflare", "@cf/meta/llama-2-7b-chat-fp16"),
        ("vertex_ai-language-models", "text-bison@001"),
        ("ollama", "llama3:70b-instruct-q4_K_M"),
        ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ],
)
def test_by_key_with_slashes_and_special_characters(reader_client, provider, name):
    model = AIModelFactory(provider=ProviderFactory(slug=provider), name=name)
    response = reader_client.get(by_key_url(f"{provider}/{name}"))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == model.pk
    assert response.json()["key"] == f"{provider}/{name}"
    assert response["ETag"] == f'"v1-{model.pk}-1"'


def test_by_key_percent_encoded(reader_client):
    model = AIModelFactory(provider=ProviderFactory(slug="cloudflare"), name="@cf/meta/llama-2-7b-chat-fp16")
    response = reader_client.get(by_key_url("cloudflare%2F%40cf%2Fmeta%2Fllama-2-7b-chat-fp16"))
    assert response.status_code == 200
    assert response.json()["id"] == model.pk


def test_by_key_is_case_sensitive_and_404_when_unknown(reader_client):
    AIModelFactory(provider=ProviderFactory(slug="together_ai"), name="BAAI/bge-base")
    assert reader_client.get(by_key_url("together_ai/BAAI/bge-base")).status_code == 200
    assert reader_client.get(by_key_url("together_ai/baai/bge-base")).status_code == 404
    response = reader_client.get(by_key_url("nope/nothing"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_by_key_tolerates_a_trailing_slash(reader_client):
    model = AIModelFactory(provider=ProviderFactory(slug="openai"), name="gpt-4o")
    assert reader_client.get(by_key_url("openai/gpt-4o/")).json()["id"] == model.pk


def test_by_key_resolves_aliases(reader_client):
    ProviderFactory(slug="deepseek")
    services.ai_model_bulk_upsert(
        items=[
            services.BulkItem(
                provider="deepseek", name="deepseek-chat", fields={"mode": "chat"}, aliases=["deepseek-chat"]
            )
        ],
        source="import",
    )
    response = reader_client.get(by_key_url("deepseek-chat"))
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == "deepseek/deepseek-chat"
    assert body["aliases"] == ["deepseek-chat"]
    assert reader_client.get(by_key_url("deepseek/deepseek-chat")).json() == body


def test_stats(reader_client, catalogue):
    response = reader_client.get(f"{MODELS_URL}stats/")
    assert response.status_code == 200
    stats = response.json()
    assert stats["total"] == 6
    assert stats["active"] == 5
    assert stats["inactive"] == 1
    assert stats["deprecated"] == 1
    assert stats["providers"] == 2
    assert stats["by_provider"] == {"openai": 3, "anthropic": 2}
    assert stats["by_mode"] == {"chat": 4, "embedding": 1}
    assert stats["by_capability"]["vision"] == 2
    assert stats["by_capability"]["function_calling"] == 2
    assert stats["by_capability"]["streaming"] == 1
    assert stats["by_capability"]["reasoning"] == 2
    assert stats["by_capability"]["prompt_caching"] == 2
    assert stats["added_last_7_days"] == 6


def test_providers_list_with_model_counts(reader_client, catalogue):
    ProviderFactory(slug="empty")
    response = reader_client.get("/api/v1/providers/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    rows = {p["slug"]: p for p in body["results"]}
    assert [p["slug"] for p in body["results"]] == ["anthropic", "bedrock", "empty", "openai"]
    assert (rows["openai"]["model_count"], rows["openai"]["active_model_count"]) == (3, 3)
    assert (rows["bedrock"]["model_count"], rows["bedrock"]["active_model_count"]) == (1, 0)
    assert (rows["empty"]["model_count"], rows["empty"]["active_model_count"]) == (0, 0)
    assert set(rows["openai"]) == {
        "id", "slug", "name", "website", "is_active", "model_count", "active_model_count", "created_at",
        "updated_at",
    }  # fmt: skip


def test_provider_by_slug_or_id(reader_client, catalogue):
    anthropic = catalogue["claude"].provider
    by_slug = reader_client.get("/api/v1/providers/anthropic/")
    assert by_slug.status_code == 200
    assert by_slug.json()["model_count"] == 2
    assert reader_client.get(f"/api/v1/providers/{anthropic.pk}/").json() == by_slug.json()
    assert reader_client.get("/api/v1/providers/nope/").status_code == 404
    assert reader_client.get("/api/v1/providers/99999999999999999999999/").status_code == 404


def test_providers_are_read_only(editor_client, catalogue):
    assert editor_client.post("/api/v1/providers/", {"slug": "x"}, format="json").status_code in (403, 405)
    assert editor_client.delete("/api/v1/providers/openai/").status_code in (403, 405)


def test_output_is_built_from_the_record(reader_client):
    model = AIModelFactory(input_cost_per_1m="0.1")
    body = reader_client.get(detail_url(model.pk)).json()
    assert body == record_to_dict(record_from_instance(model.__class__.objects.get(pk=model.pk)))
