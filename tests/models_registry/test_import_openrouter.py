"""OpenRouter importer (``{"data": [...]}``) against a small hand-written fixture."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from models_registry.catalog import catalog_import
from models_registry.models import AIModel
from tests.models_registry.test_import_support import OPENROUTER, run_import, summary_of, write_litellm

pytestmark = pytest.mark.django_db


@pytest.fixture
def report():
    return catalog_import(source=str(OPENROUTER), fmt="openrouter")


def test_summary_and_bad_entries(report):
    assert report.summary() == "created=4 updated=0 unchanged=0 deactivated=0 skipped=2"
    errors = {p.ref: p.message for p in report.problems if p.kind == "error"}
    assert set(errors) == {"broken/negative-price", "broken/string-context"}
    assert "negative" in errors["broken/negative-price"]
    assert "'eight thousand'" in errors["broken/string-context"]


def test_full_entry_mapping(report):
    model = AIModel.objects.select_related("provider").get(key="openrouter/anthropic/claude-sonnet-4.5")
    assert (model.provider.slug, model.name) == ("openrouter", "anthropic/claude-sonnet-4.5")
    assert (model.source, model.source_id) == ("openrouter", "anthropic/claude-sonnet-4.5")
    assert model.display_name == "Anthropic: Claude Sonnet 4.5"
    assert model.description.startswith("Claude Sonnet 4.5 is")
    assert (model.input_cost_per_1m, model.output_cost_per_1m) == (Decimal("3"), Decimal("15"))
    assert model.pricing == {
        "request": "0",
        "image": "0.0048",
        "web_search": "0.01",
        "internal_reasoning": "0",
        "input_cache_read": "0.0000003",
        "input_cache_write": "0.00000375",
    }
    assert (model.context_window, model.max_output_tokens) == (1_000_000, 64_000)
    assert model.supports_function_calling is True
    assert model.supports_vision is True
    assert model.supports_streaming is None
    assert model.capabilities["reasoning"] is True
    assert model.capabilities["tool_choice"] is True
    assert model.capabilities["structured_outputs"] is True
    assert model.deprecation_date is None
    assert model.discovered_at == dt.datetime.fromtimestamp(1759161676, tz=dt.UTC)
    meta = model.metadata["openrouter"]
    assert meta["canonical_slug"] == "anthropic/claude-4.5-sonnet-20250929"
    assert meta["top_provider"]["is_moderated"] is True
    assert meta["knowledge_cutoff"] == "2025-01-31"
    assert "pricing" not in meta and "id" not in meta


def test_free_model_keeps_suffix_and_zero_prices(report):
    model = AIModel.objects.get(key="openrouter/meta-llama/llama-3.3-70b-instruct:free")
    assert (model.input_cost_per_1m, model.output_cost_per_1m) == (Decimal(0), Decimal(0))
    assert model.pricing["image"] == "0"
    assert model.max_output_tokens is None
    assert model.supports_function_calling is None  # no "tools": unknown, not False
    assert model.supports_vision is None
    assert model.deprecation_date == dt.date(2026, 3, 31)


def test_variable_price_is_null_never_negative(report):
    model = AIModel.objects.get(key="openrouter/openrouter/auto")
    assert model.input_cost_per_1m is None and model.output_cost_per_1m is None
    assert "request" not in model.pricing
    assert model.metadata["openrouter"]["variable_pricing"] == ["completion", "prompt", "request"]
    assert model.capabilities == {}


def test_float_limit_and_bad_expiration(report):
    model = AIModel.objects.get(key="openrouter/mistralai/mistral-small-3.2-24b-instruct")
    assert model.max_output_tokens == 131_072
    assert model.input_cost_per_1m == Decimal("0.05")
    assert model.supports_function_calling is True and model.supports_vision is True
    assert model.deprecation_date is None
    warnings = {p.ref: p.message for p in report.problems if p.kind == "warning"}
    assert "expiration_date 'soon'" in warnings["mistralai/mistral-small-3.2-24b-instruct"]


def test_reimport_is_a_noop_and_changes_are_updates(report, tmp_path):
    history = AIModel.history.count()
    out, _ = run_import(OPENROUTER, "--format", "openrouter")
    assert out.strip().splitlines()[-1] == "created=0 updated=0 unchanged=4 deactivated=0 skipped=2"
    assert AIModel.history.count() == history

    raw = json.loads(OPENROUTER.read_text())
    raw["data"][0]["pricing"]["prompt"] = "0.0000025"
    raw["data"][0]["created"] = 1  # first seen stays first seen
    raw["data"][2]["pricing"]["prompt"] = "0.000001"  # a variable price becomes known
    path = tmp_path / "or.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    out, _ = run_import(path, "--format", "openrouter")
    assert summary_of(out)["updated"] == 2
    claude = AIModel.objects.get(key="openrouter/anthropic/claude-sonnet-4.5")
    assert claude.input_cost_per_1m == Decimal("2.5") and claude.revision == 2
    assert claude.discovered_at == dt.datetime.fromtimestamp(1759161676, tz=dt.UTC)
    auto = AIModel.objects.get(key="openrouter/openrouter/auto")
    assert auto.input_cost_per_1m == Decimal("1")
    assert auto.metadata["openrouter"]["variable_pricing"] == ["completion", "request"]


def test_duplicate_ids_and_keys_reported(tmp_path):
    data = json.loads(OPENROUTER.read_text())["data"]
    twice = {"data": [data[1], {**data[1], "name": "Second copy"}]}
    body = json.dumps(twice).replace('"data": [', '"extra": 1, "extra": 2, "data": [', 1)
    path = tmp_path / "dup.json"
    path.write_text(body, encoding="utf-8")
    result = catalog_import(source=str(path), fmt="openrouter")
    duplicates = [(p.ref, p.message) for p in result.problems if p.kind == "duplicate"]
    assert ("extra", "top-level key appears 2 times; the last copy is used") in duplicates
    assert any(ref == "meta-llama/llama-3.3-70b-instruct:free" for ref, _ in duplicates)
    assert (
        AIModel.objects.get(source_id="meta-llama/llama-3.3-70b-instruct:free").display_name == "Second copy"
    )


def test_model_imported_from_litellm_is_not_overwritten(tmp_path):
    # LiteLLM also lists OpenRouter models, under the same key openrouter/<id>
    litellm = {
        "openrouter/openrouter/auto": {
            "litellm_provider": "openrouter",
            "mode": "chat",
            "input_cost_per_token": 1e-06,
        }
    }
    catalog_import(source=str(write_litellm(tmp_path / "l.json", litellm)), fmt="litellm")
    report = catalog_import(source=str(OPENROUTER), fmt="openrouter")
    skipped = {p.ref: p.message for p in report.problems if p.kind == "skipped"}
    assert "already imported from 'litellm'" in skipped["openrouter/auto"]
    model = AIModel.objects.get(key="openrouter/openrouter/auto")
    assert (model.source, model.input_cost_per_1m, model.revision) == ("litellm", Decimal(1), 1)
