"""Real data: LiteLLM 1.53.1, then 1.74.0 (from /work/shared/catalogs; skipped when absent).

A new version must exist exactly for the models whose mapped fields changed between the two raw
files (computed here from the files: the mapper's output per entry, compared with the registry's
documented meaning of "no change": decimals by value, ``None`` = absent). o1-mini's loss of
``supports_function_calling`` (true → unknown) is breaking; price cuts are non-breaking and
rises breaking; rolling a changed model back restores its 1.53.1 values exactly, as a new version.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db.models import Count

from models_registry.catalog import catalog_import
from models_registry.catalog.litellm import map_catalog
from models_registry.decimals import to_decimal
from models_registry.models import AIModel
from tests.factories import UserFactory, grant
from tests.models_registry.test_import_support import BUNDLED, expected_models, shared_snapshot
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning import services as vservices
from versioning.models import ModelVersion

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _canonical(value):
    """Equal values → equal text: decimals by value, None-valued map keys dropped."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal):
        return format(to_decimal(value).normalize(), "f")
    if isinstance(value, str) and value and value[0].isdigit():
        try:
            return format(to_decimal(value).normalize(), "f")
        except ValueError:
            return value
    return value


def _mapped(path, known_keys=frozenset(), aliases_before=None) -> dict[str, str]:
    """key → canonical text of everything an import of ``path`` sets on the model."""
    mapped = map_catalog(json.loads(path.read_text(encoding="utf-8")))
    out = {}
    for item in mapped.items:
        successor = item.successor_key
        pending = mapped.unresolved_successors.get(item.key)
        if successor is None and pending in known_keys:  # resolved among stored models
            successor = pending
        aliases = sorted(set(item.aliases) | set((aliases_before or {}).get(item.key, [])))
        fields = {k: v for k, v in item.fields.items() if k != "discovered_at"}
        out[item.key] = json.dumps(
            _canonical({**fields, "successor": successor, "aliases": aliases}), sort_keys=True, default=str
        )
    return out


@pytest.fixture(scope="module")
def catalogues():
    return shared_snapshot("1.53.1"), BUNDLED


def test_upgrade_records_a_version_exactly_for_changed_models_and_rolls_back(catalogues):
    old_path, new_path = catalogues
    catalog_import(source=str(old_path), fmt="litellm")
    old_aliases = {
        m.key: [a.alias for a in m.aliases.all()] for m in AIModel.objects.prefetch_related("aliases")
    }
    report = catalog_import(source=str(new_path), fmt="litellm", reason="upgrade to 1.74.0")

    old, new = _mapped(old_path), _mapped(new_path, frozenset(old_aliases), old_aliases)
    both = set(old) & set(new)
    changed = {key for key in both if old[key] != new[key]}
    assert changed and both - changed
    assert set(report.updated) == changed

    counts = dict(ModelVersion.objects.values_list("ai_model__key").annotate(n=Count("id")))
    wrong = {
        key: counts.get(key) for key in set(old) | set(new) if counts.get(key) != (2 if key in changed else 1)
    }
    assert wrong == {}
    latest = ModelVersion.objects.filter(number=2, ai_model__key__in=changed)
    assert set(latest.values_list("source", "reason").distinct()) == {("import", "upgrade to 1.74.0")}

    # o1-mini: supports_function_calling true → unknown is a breaking change, and a major version
    o1 = ModelVersion.objects.get(ai_model__key="openai/o1-mini", number=2)
    flag = next(c for c in o1.changes if c["field"] == "supports_function_calling")
    assert (flag["old"], flag["new"], flag["kind"], flag["category"]) == (True, None, "removed", "breaking")
    assert o1.breaking and o1.label == "2.0.0" and o1.impact in ("high", "critical")

    # price cuts are non-breaking, price rises breaking
    old_columns = expected_models(json.loads(old_path.read_text()))
    new_columns = expected_models(json.loads(new_path.read_text()))
    moves = {"cut": 0, "rise": 0}
    for key in both:
        before, after = old_columns[key]["input_cost_per_1m"], new_columns[key]["input_cost_per_1m"]
        if before is None or after is None or before == after:
            continue
        change = next(
            c
            for c in ModelVersion.objects.get(ai_model__key=key, number=2).changes
            if c["field"] == "input_cost_per_1m"
        )
        expected = "non_breaking" if after < before else "breaking"
        moves["cut" if after < before else "rise"] += 1
        assert change["category"] == expected, key
    assert moves["cut"] and moves["rise"]

    # roll o1-mini back to its 1.53.1 state: exact, as a new version
    requester = grant(UserFactory(username="ops"), "add_rollbackrequest")
    approver = grant(UserFactory(username="lead"), "approve_rollbackrequest")
    model = AIModel.objects.get(key="openai/o1-mini")
    request = vservices.rollback_request_create(
        ai_model=model, target_version=1, reason="1.74.0 lost function calling", actor=requester
    )
    done = vservices.rollback_request_approve(rollback_request=request, actor=approver)
    assert done.status == "completed", done.error
    first, _, third = versions_of(model)
    assert (third.number, third.source, third.restored_from) == (3, "rollback", 1)
    assert state_of(model) == snapshot_state(first)
    model.refresh_from_db()
    assert {col: getattr(model, col) for col in old_columns["openai/o1-mini"]} == old_columns[
        "openai/o1-mini"
    ]
    assert model.supports_function_calling is True
