"""The LiteLLM importer against real catalogues: the bundled 1.74.0 and the shared 1.14.4 / 1.53.1.

Every imported model's limits, prices and ``supports_*`` columns are compared with values the
test computes itself from the raw JSON (``expected_models``)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from models_registry import selectors
from models_registry.catalog import catalog_import
from models_registry.models import AIModel, ModelAlias, Provider
from tests.models_registry.test_import_support import (
    BUNDLED,
    expected_models,
    run_import,
    shared_snapshot,
    summary_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

COLUMNS = (
    "source_id",
    "context_window",
    "max_output_tokens",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "supports_streaming",
    "supports_function_calling",
    "supports_vision",
)


def _assert_matches_raw(path, expected_count):
    expected = expected_models(json.loads(path.read_text(encoding="utf-8")))
    assert len(expected) == expected_count
    _assert_matches_raw_subset(expected)
    assert AIModel.objects.count() == expected_count


@pytest.mark.parametrize(
    ("version", "count"),
    [("1.14.4", 141), ("1.53.1", 690), ("1.74.0", 1139)],
)
def test_snapshot_imports_every_model_with_exact_values(version, count):
    path = BUNDLED if version == "1.74.0" else shared_snapshot(version)
    out, _ = run_import(path, "--format", "litellm")
    summary = summary_of(out)
    assert summary["created"] == count
    assert summary["updated"] == summary["unchanged"] == summary["deactivated"] == 0
    _assert_matches_raw(path, count)
    assert AIModel.history.count() == count


def test_bundled_reimport_is_a_noop_and_alias_pair_resolves():
    first = catalog_import(source=str(BUNDLED), fmt="litellm")
    assert len(first.created) == 1139
    assert [p.ref for p in first.skipped] == ["sample_spec"]
    # computer-use-preview and azure/computer-use-preview are one model; the prefixed id wins
    assert selectors.ai_model_get(key="computer-use-preview").key == "azure/computer-use-preview"
    assert (
        ModelAlias.objects.get(alias="computer-use-preview").ai_model.source_id
        == "azure/computer-use-preview"
    )
    assert not [p for p in first.problems if p.kind == "conflict"]  # the pair agrees in 1.74.0
    history = AIModel.history.count()
    out, _ = run_import(BUNDLED, "--format", "litellm")
    assert out.strip().splitlines()[-1] == "created=0 updated=0 unchanged=1139 deactivated=0 skipped=1"
    assert AIModel.history.count() == history
    assert set(AIModel.objects.values_list("revision", flat=True)) == {1}


def test_dry_run_writes_nothing():
    out, err = run_import(BUNDLED, "--format", "litellm", "--dry-run")
    assert out.strip().splitlines()[-1] == "created=1139 updated=0 unchanged=0 deactivated=0 skipped=1"
    assert "dry run" in err
    assert AIModel.objects.count() == 0
    assert Provider.objects.count() == 0
    assert AIModel.history.count() == 0
    assert ModelAlias.objects.count() == 0


def test_upgrade_from_1_53_1_to_1_74_0_updates_changed_models_once():
    old, new = shared_snapshot("1.53.1"), BUNDLED
    catalog_import(source=str(old), fmt="litellm")
    old_expected = expected_models(json.loads(old.read_text()))
    new_expected = expected_models(json.loads(new.read_text()))

    dry = catalog_import(source=str(new), fmt="litellm", dry_run=True)
    report = catalog_import(source=str(new), fmt="litellm", reason="upgrade to 1.74.0")
    assert (len(dry.created), len(dry.updated), len(dry.unchanged)) == (
        len(report.created),
        len(report.updated),
        len(report.unchanged),
    )
    both = set(old_expected) & set(new_expected)
    assert set(report.created) == set(new_expected) - set(old_expected)
    assert set(report.updated) | set(report.unchanged) == both
    assert report.updated and report.unchanged

    # every model whose columns changed upstream is among the updated ones
    changed_columns = {k for k in both if old_expected[k] != new_expected[k]}
    assert changed_columns <= set(report.updated)

    revisions = dict(AIModel.objects.filter(key__in=both).values_list("key", "revision"))
    history = {}
    for key in AIModel.history.filter(key__in=both).values_list("key", flat=True):
        history[key] = history.get(key, 0) + 1
    for key in report.updated:
        assert (revisions[key], history[key]) == (2, 2), key
    for key in report.unchanged:
        assert (revisions[key], history[key]) == (1, 1), key
    assert AIModel.history.filter(history_change_reason="upgrade to 1.74.0", history_type="~").count() == len(
        report.updated
    )

    o1_mini = AIModel.objects.get(key="openai/o1-mini")
    assert "openai/o1-mini" in report.updated
    assert o1_mini.supports_function_calling is None  # lost upstream: unknown again, not False
    price_moves = {
        k for k in both if old_expected[k]["input_cost_per_1m"] != new_expected[k]["input_cost_per_1m"]
    }
    assert price_moves
    for key in price_moves:
        assert AIModel.objects.get(key=key).input_cost_per_1m == new_expected[key]["input_cost_per_1m"]

    # the models 1.74.0 dropped are still there and active (no --deactivate-missing)
    dropped = set(old_expected) - set(new_expected)
    assert AIModel.objects.filter(key__in=dropped, is_active=True).count() == len(dropped)
    _assert_matches_raw_subset(new_expected)


def _assert_matches_raw_subset(expected):
    stored = {row.pop("key"): row for row in AIModel.objects.filter(key__in=expected).values("key", *COLUMNS)}
    mismatches = [(k, stored.get(k), want) for k, want in expected.items() if stored.get(k) != want]
    assert mismatches == []
    flags = {type(row[c]) for row in stored.values() for c in COLUMNS if c.startswith("supports_")}
    assert flags <= {bool, type(None)}


def test_load_bundled_catalog_is_idempotent():
    out = _call("load_bundled_catalog")
    assert out.strip().splitlines()[-1] == "created=1139 updated=0 unchanged=0 deactivated=0 skipped=1"
    history = AIModel.history.count()
    assert "already has 1139 models" in _call("load_bundled_catalog")
    assert (
        _call("load_bundled_catalog", "--update")
        .strip()
        .endswith("created=0 updated=0 unchanged=1139 deactivated=0 skipped=1")
    )
    assert AIModel.history.count() == history


def _call(*args):
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()
