"""Fixtures of the versioning tests: the four-eyes cast (requester, approver, outsider), a model
with a few versions, and helpers to read versions back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from models_registry import services
from models_registry.models import AIModel
from models_registry.records import ai_model_state
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from versioning.models import ModelVersion
from versioning.snapshots import decode_state


@pytest.fixture
def requester(db):
    user = UserFactory(username="requester")
    return grant(user, "add_rollbackrequest", "view_modelversion", "view_rollbackrequest")


@pytest.fixture
def approver(db):
    user = UserFactory(username="approver")
    return grant(
        user, "approve_rollbackrequest", "add_rollbackrequest", "view_modelversion", "view_rollbackrequest"
    )


@pytest.fixture
def outsider(db):
    """Authenticated, may request, may not approve."""
    return grant(UserFactory(username="outsider"), "add_rollbackrequest")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def gpt(db, requester) -> AIModel:
    """openai/gpt-4o with four versions: created, price raised, capability added, renamed."""
    openai = ProviderFactory(slug="openai", name="OpenAI")
    model = AIModelFactory(
        provider=openai,
        name="gpt-4o",
        display_name="GPT-4o",
        input_cost_per_1m=Decimal("2.5"),
        output_cost_per_1m=Decimal("10"),
        context_window=128_000,
        supports_function_calling=True,
        capabilities={"prompt_caching": True},
        pricing={"input_cost_per_image": "0.003613"},
        tags=["flagship"],
    )
    services.ai_model_update(
        ai_model=model, data={"input_cost_per_1m": "3"}, actor=requester, reason="price up", source="api"
    )
    services.ai_model_update(
        ai_model=model, data={"capabilities": {"prompt_caching": True, "reasoning": True}}, source="admin"
    )
    services.ai_model_update(ai_model=model, data={"display_name": "GPT 4o"}, source="admin")
    model.refresh_from_db()
    return model


def versions_of(model) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(ai_model=model).order_by("number"))


def state_of(model) -> dict:
    return ai_model_state(AIModel.objects.select_related("provider", "successor").get(pk=model.pk))


def snapshot_state(version: ModelVersion) -> dict:
    return decode_state(version.snapshot)
