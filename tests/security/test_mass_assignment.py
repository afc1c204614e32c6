"""Mass assignment: every write endpoint refuses server-owned and unknown fields with a 400 naming
the field — never silently ignores them — and changes nothing.

One mechanism does it (``models_registry.api.strict.StrictInputMixin``); these tests send each
server-owned field of each resource to each write endpoint, as a user who may otherwise write.
"""

from __future__ import annotations

import pytest
from rest_framework import serializers

from caching.api import InvalidateSerializer
from caching.api_rules import DryRunInputSerializer, InvalidationRuleInputSerializer, RunInputSerializer
from caching.models import InvalidationEvent, InvalidationRule
from models_registry.api.serializers import AIModelCreateSerializer, AIModelUpdateSerializer
from models_registry.api.strict import StrictInputMixin
from models_registry.models import AIModel
from models_registry.sync import serializers as sync_serializers
from models_registry.sync.models import SyncChange, SyncRun
from versioning.api import serializers as versioning_serializers
from versioning.models import ModelVersion, RollbackRequest

from .conftest import World, api_client_for, role_user, rolled_back

pytestmark = pytest.mark.django_db

API = "/api/v1"
RULE = {"name": "r", "events": ["manual"], "actions": [{"type": "invalidate"}]}

MODEL_SERVER_OWNED = {
    "id": 999,
    "key": "openai/other",
    "revision": 99,
    "version": "9.0.0",
    "created_at": "2020-01-01T00:00:00Z",
    "updated_at": "2020-01-01T00:00:00Z",
    "aliases": ["x"],
}
ROLLBACK_SERVER_OWNED = {
    "id": 999,
    "status": "completed",
    "requested_by": "superuser",
    "decided_by": "approver",
    "decided_at": "2020-01-01T00:00:00Z",
    "result_version": 1,
    "base_revision": 1,
    "created_at": "2020-01-01T00:00:00Z",
    "executed_at": "2020-01-01T00:00:00Z",
    "error": "",
}
RULE_SERVER_OWNED = {"id": 999, "created_by": "approver", "created_at": "2020-01-01T00:00:00Z"}
EVENT_SERVER_OWNED = {"actor": "approver", "count": 0, "outcome": "ok", "scope": "all", "created_at": "x"}
SYNC_RUN_SERVER_OWNED = {"actor": "approver", "status": "ok", "source": 1, "applied": 0}
SYNC_CHANGE_SERVER_OWNED = {"state": "approved", "decided_by": "approver", "result_version": "9.0.0"}
UNKNOWN = {"colour": "blue", "is_superuser": True}

# (role, method, url template, valid body, {field: value} that must each be refused)
ENDPOINTS = [
    ("editor", "POST", "/models/", {"provider": "openai", "name": "fresh"}, MODEL_SERVER_OWNED),
    ("editor", "PATCH", "/models/{model}/", {"display_name": "X"}, {**MODEL_SERVER_OWNED, "provider": "x"}),
    ("editor", "PUT", "/models/{model}/", {"display_name": "X"}, {**MODEL_SERVER_OWNED, "name": "other"}),
    (
        "editor",
        "POST",
        "/rollbacks/",
        {"model": "{other}", "target_version": 1, "reason": "r"},
        ROLLBACK_SERVER_OWNED,
    ),
    ("approver", "POST", "/rollbacks/{rollback}/approve/", {"comment": "ok"}, ROLLBACK_SERVER_OWNED),
    ("approver", "POST", "/rollbacks/{rollback}/reject/", {"comment": "no"}, ROLLBACK_SERVER_OWNED),
    ("editor", "POST", "/rollbacks/{rollback}/cancel/", {}, ROLLBACK_SERVER_OWNED),
    ("operator", "POST", "/invalidation-rules/", RULE, RULE_SERVER_OWNED),
    ("operator", "PATCH", "/invalidation-rules/{rule}/", {"priority": 3}, RULE_SERVER_OWNED),
    ("operator", "PUT", "/invalidation-rules/{rule}/", RULE, RULE_SERVER_OWNED),
    ("operator", "POST", "/invalidation-rules/{rule}/dry-run/", {}, {"dry_run": False, "actor": "x"}),
    ("operator", "POST", "/invalidation-rules/{rule}/run/", {}, {"event": "manual", "actor": "x"}),
    ("operator", "POST", "/cache/invalidate/", {"all": True}, EVENT_SERVER_OWNED),
    ("operator", "POST", "/sync/sources/{source}/run/", {"dry_run": True}, SYNC_RUN_SERVER_OWNED),
    ("approver", "POST", "/sync/changes/{change}/approve/", {"comment": "ok"}, SYNC_CHANGE_SERVER_OWNED),
    ("approver", "POST", "/sync/changes/{change}/reject/", {"comment": "no"}, SYNC_CHANGE_SERVER_OWNED),
]


def _fill(world: World, body: dict) -> dict:
    return {
        k: (int(world.fill(v)) if isinstance(v, str) and v.startswith("{") else v) for k, v in body.items()
    }


def _snapshot(world: World) -> tuple:
    model = AIModel.objects.get(pk=world.model.pk)
    return (
        model.revision,
        model.display_name,
        AIModel.objects.count(),
        RollbackRequest.objects.get(pk=world.rollback.pk).status,
        RollbackRequest.objects.count(),
        list(InvalidationRule.objects.order_by("pk").values_list("pk", "name", "priority", "created_by_id")),
        InvalidationEvent.objects.count(),
        SyncRun.objects.count(),
        SyncChange.objects.get(pk=world.change.pk).state,
    )


@pytest.mark.parametrize(
    "role, method, url, body, refused", [pytest.param(*e, id=f"{e[1]} {e[2]}") for e in ENDPOINTS]
)
def test_server_owned_and_unknown_fields_are_refused_by_name(world, role, method, url, body, refused):
    client = api_client_for(role_user(role))
    target = API + world.fill(url)
    before = _snapshot(world)
    for name, value in {**refused, **UNKNOWN}.items():
        with rolled_back():
            response = getattr(client, method.lower())(
                target, {**_fill(world, body), name: value}, format="json"
            )
            assert response.status_code == 400, (name, response.status_code, response.content[:300])
            errors = response.json()["errors"]
            assert list(errors) == [name], errors
            expected = "Unknown field." if name in UNKNOWN else ("read-only" if name in refused else "")
            assert expected in " ".join(errors[name]) or "cannot be changed" in " ".join(errors[name])
            assert _snapshot(world) == before, name
    with rolled_back():  # the same body without the extra field is accepted: the field was the reason
        response = getattr(client, method.lower())(target, _fill(world, body), format="json")
        assert response.status_code in (200, 201), response.content[:300]


def test_every_problem_is_reported_at_once(world):
    """A type error and a refused field in one body: both named in one 400."""
    client = api_client_for(role_user("editor"))
    response = client.patch(
        f"{API}/models/{world.model.pk}/",
        {"context_window": "many", "revision": 7, "colour": "red"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"context_window", "revision", "colour"}


def test_source_and_provenance_fields_are_writable_but_the_version_source_is_not(world):
    """Decision: the model's own ``source`` / ``source_id`` / ``discovered_at`` say where its data
    came from and are editable like any catalogue field; the *version's* source (``api``), its
    actor and its reason are set by the server and cannot be chosen by the client."""
    client = api_client_for(role_user("editor"))
    response = client.patch(
        f"{API}/models/{world.model.pk}/", {"source": "litellm", "source_id": "gpt-4o"}, format="json"
    )
    assert response.status_code == 200
    version = ModelVersion.objects.filter(ai_model=world.model).order_by("-number").first()
    assert (version.source, version.created_by.username) == ("api", "editor")
    refused = client.patch(f"{API}/models/{world.model.pk}/", {"created_by": "superuser"}, format="json")
    assert refused.status_code == 400 and "created_by" in refused.json()["errors"]


INPUT_SERIALIZERS = [
    AIModelCreateSerializer,
    AIModelUpdateSerializer,
    versioning_serializers.RollbackRequestCreateSerializer,
    versioning_serializers.RollbackApproveSerializer,
    versioning_serializers.RollbackRejectSerializer,
    versioning_serializers.RollbackCancelSerializer,
    InvalidationRuleInputSerializer,
    DryRunInputSerializer,
    RunInputSerializer,
    InvalidateSerializer,
    sync_serializers.SyncRunInputSerializer,
    sync_serializers.SyncDecisionSerializer,
    sync_serializers.SyncRejectSerializer,
]


@pytest.mark.parametrize("serializer_class", INPUT_SERIALIZERS, ids=lambda c: c.__name__)
def test_every_input_serializer_is_strict(serializer_class):
    assert issubclass(serializer_class, StrictInputMixin)
    serializer = serializer_class(data={"zz_not_a_field": 1}, partial=True)
    assert not serializer.is_valid()
    assert serializer.errors["zz_not_a_field"] == ["Unknown field."]


def test_no_write_view_uses_a_lenient_serializer():
    """Every serializer class named ``*Input*``, ``*Create*``, ``*Update*``, ``*Decision*``,
    ``*Reject*``, ``*Approve*``, ``*Cancel*`` or ``Invalidate*`` in the API modules is strict."""
    import importlib
    import inspect

    modules = [
        "models_registry.api.serializers",
        "versioning.api.serializers",
        "caching.api",
        "caching.api_rules",
        "models_registry.sync.serializers",
    ]
    markers = ("Input", "Create", "Update", "Decision", "Reject", "Approve", "Cancel", "Invalidate")
    lenient = []
    for name in modules:
        for attr, obj in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if (
                issubclass(obj, serializers.Serializer)
                and obj.__module__ == name
                and any(marker in attr for marker in markers)
                and not issubclass(obj, StrictInputMixin)
            ):
                lenient.append(f"{name}.{attr}")
    assert not lenient, lenient
