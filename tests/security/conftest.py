"""Roles of the permission matrix: one Django group per role with exactly its permissions, and a
user per role built with the factories.

| role       | staff | permissions                                                                 |
|------------|-------|-----------------------------------------------------------------------------|
| anonymous  | -     | none (not logged in)                                                        |
| reader     | no    | none: authenticated users read the catalogue, versions and rollbacks       |
| editor     | yes   | add/change/delete/view AI model, add/change/view provider, view versions,   |
|            |       | view and add (request) rollbacks                                            |
| approver   | yes   | approve + view rollbacks, approve + view sync changes, view sync runs,      |
|            |       | view AI models and versions                                                 |
| operator   | yes   | invalidate the cache, view events, add/change/delete/view rules, run and    |
|            |       | edit catalogue sources, view sync runs and changes, view task runs          |
| superuser  | yes   | everything                                                                  |
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.test import APIClient

from caching.models import InvalidationEvent, InvalidationRule
from models_registry import services
from models_registry.models import AIModel
from models_registry.sync.models import CatalogSource, SyncChange, SyncRun
from tests.factories import AIModelFactory, ProviderFactory, UserFactory
from versioning.models import RollbackRequest
from versioning.services import rollback_request_create

ROLES = ("anonymous", "reader", "editor", "approver", "operator", "superuser")

# role → (is_staff, ["app_label.codename", ...])
ROLE_PERMISSIONS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "reader": (False, ()),
    "editor": (
        True,
        (
            "models_registry.add_aimodel",
            "models_registry.change_aimodel",
            "models_registry.delete_aimodel",
            "models_registry.view_aimodel",
            "models_registry.add_provider",
            "models_registry.change_provider",
            "models_registry.view_provider",
            "versioning.view_modelversion",
            "versioning.view_rollbackrequest",
            "versioning.add_rollbackrequest",
        ),
    ),
    "approver": (
        True,
        (
            "versioning.approve_rollbackrequest",
            "versioning.view_rollbackrequest",
            "versioning.view_modelversion",
            "models_registry.view_aimodel",
            "models_registry.approve_syncchange",
            "models_registry.view_syncchange",
            "models_registry.view_syncrun",
        ),
    ),
    "operator": (
        True,
        (
            "caching.invalidate_cache",
            "caching.view_invalidationevent",
            "caching.add_invalidationrule",
            "caching.change_invalidationrule",
            "caching.delete_invalidationrule",
            "caching.view_invalidationrule",
            "models_registry.run_catalogsource",
            "models_registry.add_catalogsource",
            "models_registry.change_catalogsource",
            "models_registry.delete_catalogsource",
            "models_registry.view_catalogsource",
            "models_registry.view_syncrun",
            "models_registry.view_syncchange",
            "models_registry.view_taskrun",
        ),
    ),
}


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def role_user(role: str, *, suffix: str = ""):
    """A user of ``role`` (``None`` for anonymous); ``suffix`` makes a second one (four eyes)."""
    if role == "anonymous":
        return None
    username = f"{role}{suffix}"
    if role == "superuser":
        return UserFactory(username=username, is_staff=True, is_superuser=True)
    is_staff, names = ROLE_PERMISSIONS[role]
    group, created = Group.objects.get_or_create(name=f"role-{role}")
    if created:
        group.permissions.set(_permissions(names))
    user = UserFactory(username=username, is_staff=is_staff)
    user.groups.add(group)
    return user


def api_client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@contextmanager
def rolled_back():
    """Run a request (or several) in a savepoint that is rolled back afterwards, so every role of
    a matrix row starts from the same objects without building them again."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def roles(db) -> dict:
    """``{role: user or None}`` for every role."""
    return {role: role_user(role) for role in ROLES}


@dataclass
class World:
    """The objects the matrix requests are about."""

    model: AIModel
    other: AIModel  # no open rollback request: a new request can be made for it
    rollback: RollbackRequest  # pending, requested by the editor
    rule: InvalidationRule
    source: CatalogSource
    run: SyncRun
    change: SyncChange  # held, from a run of another user

    def fill(self, url: str) -> str:
        return url.format(
            model=self.model.pk,
            other=self.other.pk,
            key=self.model.key,
            rollback=self.rollback.pk,
            rule=self.rule.pk,
            source=self.source.pk,
            run=self.run.pk,
            change=self.change.pk,
        )


@pytest.fixture
def world(db, tmp_path) -> World:
    openai = ProviderFactory(slug="openai", name="OpenAI")
    model = AIModelFactory(provider=openai, name="gpt-4o", display_name="GPT-4o")
    services.ai_model_update(ai_model=model, data={"display_name": "GPT 4o"}, reason="rename", source="api")
    other = AIModelFactory(provider=openai, name="gpt-4o-mini")
    services.ai_model_update(ai_model=other, data={"display_name": "mini"}, reason="rename", source="api")
    editor = role_user("editor")
    rollback = rollback_request_create(
        ai_model=model, target_version=1, reason="undo the rename", actor=editor
    )
    runner = UserFactory(username="sync-runner", is_staff=True)
    rule = InvalidationRule.objects.create(
        name="existing", events=["manual"], actions=[{"type": "invalidate"}], created_by=runner
    )
    InvalidationEvent.objects.create(scope=InvalidationEvent.Scope.ALL, reason="setup", count=0)
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"gpt-4o": {"litellm_provider": "openai", "mode": "chat"}}))
    source = CatalogSource.objects.create(name="litellm", location=str(catalogue))
    run = SyncRun.objects.create(source=source, policy=source.policy, status=SyncRun.Status.OK, actor=runner)
    change = SyncChange.objects.create(
        run=run,
        model_key=model.key,
        action=SyncChange.Action.UPDATE,
        impact="high",
        breaking=True,
        would_hold=True,
        state=SyncChange.State.HELD,
        proposed={"context_window": 64_000},
        changes=[{"field": "context_window", "old": 128_000, "new": 64_000, "kind": "modified"}],
    )
    UserFactory(username="token-user", password="token-pass-123")
    return World(
        model=model, other=other, rollback=rollback, rule=rule, source=source, run=run, change=change
    )
