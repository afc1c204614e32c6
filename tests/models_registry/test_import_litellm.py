"""LiteLLM importer against small fixtures, one oddity of the real catalogues at a time."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from models_registry import selectors, services
from models_registry.catalog import catalog_import
from models_registry.models import AIModel, ModelAlias, Provider
from tests.models_registry.test_import_support import ODDITIES, run_import, summary_of, write_litellm

pytestmark = pytest.mark.django_db


@pytest.fixture
def oddities():
    return catalog_import(source=str(ODDITIES), fmt="litellm")


def _problems(report, kind):
    return {p.ref: p.message for p in report.problems if p.kind == kind}


def test_counts_and_summary(oddities):
    assert oddities.summary() == "created=17 updated=0 unchanged=0 deactivated=0 skipped=6"
    assert AIModel.objects.count() == 17


def test_non_model_entries_are_skipped_and_counted(oddities):
    skipped = _problems(oddities, "skipped")
    assert set(skipped) == {"sample_spec", "fallback_generalizations", "gpt-missing-latest"}
    assert "not a provider slug" in skipped["sample_spec"]
    assert "rules block" in skipped["fallback_generalizations"]
    assert "gpt-does-not-exist" in skipped["gpt-missing-latest"]
    assert not Provider.objects.filter(slug__contains=" ").exists()


def test_bad_entries_reported_with_id_and_rest_imports(oddities):
    errors = _problems(oddities, "error")
    assert set(errors) == {"bad/negative-price", "bad/string-context", "bad/prose-mode"}
    assert "negative" in errors["bad/negative-price"]
    assert "'128k'" in errors["bad/string-context"]
    assert "not a mode" in errors["bad/prose-mode"]
    assert not AIModel.objects.filter(source_id__startswith="bad/").exists()
    assert AIModel.objects.filter(key="openai/gpt-4o").exists()


def test_provider_comes_from_litellm_provider_and_ids_keep_odd_characters(oddities):
    expected = {
        "openai/1024-x-1024/dall-e-2": ("openai", "1024-x-1024/dall-e-2"),
        "bedrock/*/1-month-commitment/cohere.command-text-v14": (
            "bedrock",
            "*/1-month-commitment/cohere.command-text-v14",
        ),
        "bedrock/anthropic.claude-v2:1": ("bedrock", "anthropic.claude-v2:1"),
        "vertex_ai-text-models/text-bison@001": ("vertex_ai-text-models", "text-bison@001"),
        "cloudflare/@cf/meta/llama-2-7b-chat-fp16": ("cloudflare", "@cf/meta/llama-2-7b-chat-fp16"),
        # the id's prefix is not the provider: nothing is stripped
        "vertex_ai-llama_models/vertex_ai/meta/llama-4-scout-17b-16e-instruct-maas": (
            "vertex_ai-llama_models",
            "vertex_ai/meta/llama-4-scout-17b-16e-instruct-maas",
        ),
    }
    for key, (provider, name) in expected.items():
        model = AIModel.objects.select_related("provider").get(key=key)
        assert (model.provider.slug, model.name, model.source) == (provider, name, "litellm")
    assert AIModel.objects.get(key="openai/1024-x-1024/dall-e-2").source_id == "1024-x-1024/dall-e-2"
    assert selectors.ai_model_get(key="bedrock/anthropic.claude-v2:1").name == "anthropic.claude-v2:1"


def test_case_only_twins_are_two_models(oddities):
    lower = AIModel.objects.get(key="together_ai/baai/bge-base-en-v1.5")
    upper = AIModel.objects.get(key="together_ai/BAAI/bge-base-en-v1.5")
    assert lower.pk != upper.pk
    assert lower.input_cost_per_1m == Decimal("0.008")
    assert upper.input_cost_per_1m == Decimal("0.01")


def test_column_mapping_of_a_full_entry(oddities):
    model = AIModel.objects.get(key="openai/gpt-4o")
    assert model.mode == "chat"
    assert (model.context_window, model.max_output_tokens) == (128_000, 16_384)
    assert (model.input_cost_per_1m, model.output_cost_per_1m) == (Decimal("2.5"), Decimal("10"))
    assert (model.supports_function_calling, model.supports_vision) == (True, True)
    assert model.supports_streaming is None  # absent = unknown, never False
    assert model.capabilities == {
        "parallel_function_calling": True,
        "prompt_caching": True,
        "response_schema": False,
    }
    assert model.pricing == {
        "input_cost_per_token_batches": "0.00000125",
        "cache_read_input_token_cost": "0.00000125",
        "search_context_cost_per_query": {
            "search_context_size_low": "0.03",
            "search_context_size_medium": "0.035",
            "search_context_size_high": "0.05",
        },
    }
    assert model.metadata == {"litellm": {"supported_endpoints": ["/v1/chat/completions", "/v1/batch"]}}
    assert model.documentation_url == "https://platform.openai.com/docs/models/gpt-4o"
    assert model.deprecation_date == dt.date(2026, 6, 30)
    assert model.successor.key == "openai/gpt-4.1"
    assert model.tags == []


def test_tiered_pricing_and_litellm_metadata(oddities):
    model = AIModel.objects.get(key="dashscope/qwen-flash")
    tiers = model.pricing["tiered_pricing"]
    assert tiers[0] == {
        "input_cost_per_token": "0.00000005",
        "output_cost_per_token": "0.0000004",
        "range": ["0", "256000"],
    }
    assert model.input_cost_per_1m is None and model.output_cost_per_1m is None
    assert model.metadata["litellm"] == {
        "metadata": {"notes": "tiered by prompt length"},
        "rpm": 600,
        "tpm": 1_000_000,
    }


def test_bad_date_and_zero_limit_are_warnings(oddities):
    warnings = [(p.ref, p.message) for p in oddities.problems if p.kind == "warning"]
    assert ("gpt-4.1", "deprecation_date 'next year' is not a YYYY-MM-DD date; stored as null") in warnings
    assert any(ref == "text-moderation-latest" and "max_output_tokens is 0" in m for ref, m in warnings)
    assert AIModel.objects.get(key="openai/gpt-4.1").deprecation_date is None
    moderation = AIModel.objects.get(key="openai/text-moderation-latest")
    assert moderation.max_output_tokens is None
    assert moderation.context_window == 32768
    assert moderation.mode == "moderation"  # "moderations" normalised


def test_float_token_limits_and_float_noise(oddities):
    llama = AIModel.objects.get(source_id="vertex_ai/meta/llama-4-scout-17b-16e-instruct-maas")
    assert (llama.context_window, llama.max_output_tokens) == (10_000_000, 10_000_000)
    assert isinstance(llama.context_window, int)
    mistral = AIModel.objects.get(key="mistral/mistral-large-latest")
    assert mistral.input_cost_per_1m == Decimal("2.99999")
    assert mistral.output_cost_per_1m == Decimal("15.00002")
    assert mistral.max_output_tokens == 128_000


def test_pricing_bucket_without_mode_is_imported_and_tagged(oddities):
    bucket = AIModel.objects.get(key="together_ai/together-ai-up-to-3b")
    assert bucket.mode == ""
    assert bucket.tags == ["pricing-bucket"]
    assert bucket.input_cost_per_1m == Decimal("0.1")


def test_alias_of_entries_and_chains(oddities):
    assert selectors.ai_model_get(key="gpt-4o-latest").key == "openai/gpt-4o"
    assert selectors.ai_model_get(key="gpt-latest").key == "openai/gpt-4o"
    assert not ModelAlias.objects.filter(alias="gpt-missing-latest").exists()


def test_two_ids_one_key_equal_values_no_conflict(oddities):
    assert AIModel.objects.filter(provider__slug="deepseek").count() == 1
    model = selectors.ai_model_get(key="deepseek-chat")
    assert model.key == "deepseek/deepseek-chat"
    assert model.source_id == "deepseek/deepseek-chat"  # the prefixed id wins
    assert "deepseek-chat" in model.aliases
    assert "deepseek-chat" not in _problems(oddities, "conflict")


def test_two_ids_one_key_different_values_reported(oddities):
    model = selectors.ai_model_get(key="gemini-exp-1206")
    assert model.key == "gemini/gemini-exp-1206"
    assert model.context_window == 2_097_152  # the prefixed id's values
    assert model.input_cost_per_1m == Decimal("0")
    conflict = _problems(oddities, "conflict")["gemini-exp-1206"]
    assert "context_window" in conflict and "input_cost_per_1m" in conflict


def test_duplicate_json_keys_reported_last_copy_wins(oddities):
    duplicates = [(p.ref, p.message) for p in oddities.problems if p.kind == "duplicate"]
    assert ("groq/llama3-8b-8192", "the id appears 2 times in the file; the last copy is used") in duplicates
    assert any(ref == "text-bison@001" and "'output_cost_per_token'" in m for ref, m in duplicates)
    # nested duplicates inside the discarded first copy are reported too
    assert any(ref == "groq/llama3-8b-8192" and "'supports_function_calling'" in m for ref, m in duplicates)
    assert AIModel.objects.get(key="vertex_ai-text-models/text-bison@001").output_cost_per_1m == Decimal(
        "0.125"
    )
    groq = AIModel.objects.get(key="groq/llama3-8b-8192")
    assert groq.supports_function_calling is True
    assert groq.input_cost_per_1m == Decimal("0.05")


def test_reimport_is_a_noop(oddities):
    history = AIModel.history.count()
    again = catalog_import(source=str(ODDITIES), fmt="litellm")
    assert again.summary() == "created=0 updated=0 unchanged=17 deactivated=0 skipped=6"
    assert AIModel.history.count() == history
    assert set(AIModel.objects.values_list("revision", flat=True)) == {1}


def test_float_noise_and_int_float_mix_do_not_count_as_changes(tmp_path):
    entry = {
        "litellm_provider": "mistral",
        "mode": "chat",
        "max_input_tokens": 128000,
        "max_output_tokens": 8192,
        "input_cost_per_token": 1.5000020000000002e-05,
        "output_cost_per_token": 0,
        "input_cost_per_token_batches": 2.9999900000000002e-06,
    }
    first = write_litellm(tmp_path / "a.json", {"mistral/noisy": entry})
    catalog_import(source=str(first), fmt="litellm")
    clean = {
        **entry,
        "max_input_tokens": 128000.0,
        "max_output_tokens": 8192.0,
        "input_cost_per_token": 1.500002e-05,
        "output_cost_per_token": 0.0,
        "input_cost_per_token_batches": 2.99999e-06,
    }
    second = write_litellm(tmp_path / "b.json", {"mistral/noisy": clean})
    report = catalog_import(source=str(second), fmt="litellm")
    assert report.summary() == "created=0 updated=0 unchanged=1 deactivated=0 skipped=0"
    model = AIModel.objects.get(key="mistral/noisy")
    assert model.input_cost_per_1m == Decimal("15.00002")
    assert model.pricing == {"input_cost_per_token_batches": "0.00000299999"}
    assert model.history.count() == 1


def test_key_order_does_not_matter(tmp_path):
    raw = json.loads(ODDITIES.read_text())
    catalog_import(source=str(ODDITIES), fmt="litellm")
    shuffled = {
        k: dict(reversed(list(v.items()))) if isinstance(v, dict) else v for k, v in reversed(raw.items())
    }
    report = catalog_import(source=str(write_litellm(tmp_path / "r.json", shuffled)), fmt="litellm")
    assert (len(report.created), len(report.updated)) == (0, 0)


def test_staff_tags_and_metadata_survive_and_bucket_tag_is_managed(tmp_path):
    catalog_import(source=str(ODDITIES), fmt="litellm")
    bucket = AIModel.objects.get(key="together_ai/together-ai-up-to-3b")
    gpt = AIModel.objects.get(key="openai/gpt-4o")
    services.ai_model_update(
        ai_model=bucket, data={"tags": ["cheap", "pricing-bucket"], "display_name": "Up to 3B"}
    )
    services.ai_model_update(
        ai_model=gpt, data={"metadata": {**gpt.metadata, "owner": "platform"}, "tags": ["flagship"]}
    )

    assert catalog_import(source=str(ODDITIES), fmt="litellm").summary().startswith("created=0 updated=0")

    raw = json.loads(ODDITIES.read_text())
    raw["together-ai-up-to-3b"]["mode"] = "chat"  # no longer a bucket
    raw["gpt-4o"]["rpm"] = 10_000
    report = catalog_import(source=str(write_litellm(tmp_path / "c.json", raw)), fmt="litellm")
    assert sorted(report.updated) == ["openai/gpt-4o", "together_ai/together-ai-up-to-3b"]
    bucket.refresh_from_db()
    gpt.refresh_from_db()
    assert bucket.tags == ["cheap"] and bucket.mode == "chat" and bucket.display_name == "Up to 3B"
    assert gpt.tags == ["flagship"]
    assert gpt.metadata["owner"] == "platform"
    assert gpt.metadata["litellm"]["rpm"] == 10_000


def test_absent_upstream_clears_mapped_fields(tmp_path):
    catalog_import(source=str(ODDITIES), fmt="litellm")
    raw = json.loads(ODDITIES.read_text())
    for key in (
        "supports_vision",
        "deprecation_date",
        "successor_model",
        "source",
        "supports_prompt_caching",
    ):
        raw["gpt-4o"].pop(key)
    catalog_import(source=str(write_litellm(tmp_path / "d.json", raw)), fmt="litellm")
    gpt = AIModel.objects.get(key="openai/gpt-4o")
    assert gpt.supports_vision is None
    assert gpt.deprecation_date is None
    assert gpt.successor is None
    assert gpt.documentation_url == ""
    assert "prompt_caching" not in gpt.capabilities
    assert gpt.revision == 2


def test_unknown_successor_is_a_warning(tmp_path):
    raw = {"x/one": {"litellm_provider": "x", "mode": "chat", "successor_model": "x/none"}}
    report = catalog_import(source=str(write_litellm(tmp_path / "s.json", raw)), fmt="litellm")
    assert [(p.kind, p.ref) for p in report.problems] == [("warning", "x/one")]
    assert AIModel.objects.get(key="x/one").successor is None


def test_successor_found_among_stored_models(tmp_path):
    catalog_import(source=str(ODDITIES), fmt="litellm")
    raw = {"x/old": {"litellm_provider": "x", "mode": "chat", "successor_model": "gpt-4o-latest"}}
    report = catalog_import(source=str(write_litellm(tmp_path / "s.json", raw)), fmt="litellm")
    assert report.problems == []
    assert AIModel.objects.get(key="x/old").successor.key == "openai/gpt-4o"


def test_alias_held_by_another_model_is_not_moved(tmp_path):
    catalog_import(source=str(ODDITIES), fmt="litellm")
    raw = {
        "x/model": {"litellm_provider": "x", "mode": "chat"},
        "gpt-4o-latest": {"alias_of": "x/model"},
    }
    report = catalog_import(source=str(write_litellm(tmp_path / "a.json", raw)), fmt="litellm")
    assert "gpt-4o-latest" in _problems(report, "conflict")
    assert selectors.ai_model_get(key="gpt-4o-latest").key == "openai/gpt-4o"
    again = catalog_import(source=str(write_litellm(tmp_path / "a.json", raw)), fmt="litellm")
    assert again.summary().startswith("created=0 updated=0")


def test_command_reports_every_problem_before_the_summary():
    out, err = run_import(ODDITIES, "--format", "litellm")
    assert out.strip().splitlines()[-1] == "created=17 updated=0 unchanged=0 deactivated=0 skipped=6"
    assert summary_of(out)["skipped"] == 6
    for ref in (
        "sample_spec",
        "fallback_generalizations",
        "bad/negative-price",
        "bad/string-context",
        "gemini-exp-1206",
        "groq/llama3-8b-8192",
        "text-moderation-latest",
    ):
        assert f": {ref}: " in err
