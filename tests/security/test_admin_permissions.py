"""The admin permission matrix: every admin page (changelists, add, change, delete, history, the
custom pages) and every admin action, for every role.

Django's rules: a user who is not logged in, or not staff, is redirected to the admin login; a
staff user without the permission a page needs gets 403; an action the user may not run is not
offered (posting it does nothing). The roles are in ``conftest.py``; the README's
"Permissions" section has the same table.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from caching.models import InvalidationEvent, InvalidationRule
from models_registry.models import AIModel, Provider
from models_registry.sync.models import CatalogSource, SyncChange, SyncRun
from versioning.models import ModelVersion, RollbackRequest

from .conftest import ROLES, World, role_user, rolled_back

pytestmark = pytest.mark.django_db

STAFF_ROLES = ("editor", "approver", "operator", "superuser")
LOGIN = "/admin/login/"

# (url name, argument names, expected status for editor, approver, operator, superuser)
PAGES: list[tuple[str, tuple[str, ...], tuple[int, int, int, int]]] = [
    ("admin:index", (), (200, 200, 200, 200)),
    # AI models and providers
    ("admin:models_registry_aimodel_changelist", (), (200, 200, 403, 200)),
    ("admin:models_registry_aimodel_add", (), (200, 403, 403, 200)),
    ("admin:models_registry_aimodel_change", ("model",), (200, 200, 403, 200)),
    ("admin:models_registry_aimodel_delete", ("model",), (200, 403, 403, 200)),
    ("admin:models_registry_aimodel_history", ("model",), (200, 200, 403, 200)),
    ("admin:models_registry_aimodel_simple_history", ("model", "history"), (200, 200, 403, 200)),
    ("admin:models_registry_provider_changelist", (), (200, 403, 403, 200)),
    ("admin:models_registry_provider_add", (), (200, 403, 403, 200)),
    ("admin:models_registry_provider_change", ("provider",), (200, 403, 403, 200)),
    ("admin:models_registry_provider_history", ("provider",), (200, 403, 403, 200)),
    # scheduled maintenance
    ("admin:models_registry_taskrun_changelist", (), (403, 403, 200, 200)),
    ("admin:django_celery_beat_periodictask_changelist", (), (403, 403, 403, 200)),
    # catalogue sync
    ("admin:models_registry_catalogsource_changelist", (), (403, 403, 200, 200)),
    ("admin:models_registry_catalogsource_add", (), (403, 403, 200, 200)),
    ("admin:models_registry_catalogsource_change", ("source",), (403, 403, 200, 200)),
    ("admin:models_registry_catalogsource_delete", ("source",), (403, 403, 200, 200)),
    ("admin:models_registry_syncrun_changelist", (), (403, 200, 200, 200)),
    ("admin:models_registry_syncrun_change", ("run",), (403, 200, 200, 200)),
    ("admin:models_registry_syncchange_changelist", (), (403, 200, 200, 200)),
    ("admin:models_registry_syncchange_change", ("change",), (403, 200, 200, 200)),
    # versions and rollbacks
    ("admin:versioning_modelversion_changelist", (), (200, 200, 403, 200)),
    ("admin:versioning_modelversion_change", ("version",), (200, 200, 403, 200)),
    ("admin:versioning_modelversion_history", ("version",), (200, 200, 403, 200)),
    ("admin:versioning_modelversion_model", ("model",), (200, 200, 403, 200)),
    ("admin:versioning_modelversion_diff", ("model",), (200, 200, 403, 200)),
    ("admin:versioning_rollbackrequest_changelist", (), (200, 200, 403, 200)),
    ("admin:versioning_rollbackrequest_change", ("rollback",), (200, 200, 403, 200)),
    ("admin:versioning_rollbackrequest_history", ("rollback",), (200, 200, 403, 200)),
    ("admin:versioning_rollbackrequest_request", ("model", "one"), (200, 403, 403, 200)),
    ("admin:versioning_rollbackrequest_approve", ("rollback",), (403, 200, 403, 200)),
    ("admin:versioning_rollbackrequest_reject", ("rollback",), (403, 200, 403, 200)),
    # only the requester (the editor) cancels
    ("admin:versioning_rollbackrequest_cancel", ("rollback",), (200, 403, 403, 403)),
    # cache
    ("admin:caching_invalidationevent_changelist", (), (403, 403, 200, 200)),
    ("admin:caching_dashboard", (), (200, 200, 200, 200)),  # figures: any staff (as the API)
    ("admin:caching_invalidationrule_changelist", (), (403, 403, 200, 200)),
    ("admin:caching_invalidationrule_add", (), (403, 403, 200, 200)),
    ("admin:caching_invalidationrule_change", ("rule",), (403, 403, 200, 200)),
    ("admin:caching_invalidationrule_delete", ("rule",), (403, 403, 200, 200)),
    ("admin:caching_invalidationrule_history", ("rule",), (403, 403, 200, 200)),
    ("admin:caching_invalidationrule_dry_run", ("rule",), (403, 403, 200, 200)),
]


def _args(world: World, names: tuple[str, ...]) -> list:
    version = ModelVersion.objects.get(ai_model=world.model, number=2)
    history = AIModel.history.filter(id=world.model.pk).earliest("history_id")
    values = {
        "model": world.model.pk,
        "provider": world.model.provider_id,
        "source": world.source.pk,
        "run": world.run.pk,
        "change": world.change.pk,
        "version": version.pk,
        "rollback": world.rollback.pk,
        "rule": world.rule.pk,
        "history": history.history_id,
        "one": 1,
    }
    return [values[name] for name in names]


def _client(client, role: str):
    user = role_user(role)
    if user is not None:
        client.force_login(user)
    return client


PAGE_ROWS = [pytest.param(name, args, statuses, id=name.split(":")[1]) for name, args, statuses in PAGES]


@pytest.mark.parametrize("name, args, statuses", PAGE_ROWS)
def test_admin_page(client, world, name, args, statuses):
    """Every role on the page (anonymous and readers: the login redirect)."""
    url = reverse(name, args=_args(world, args))
    wrong = []
    for role, expected in zip(ROLES, (302, 302, *statuses), strict=True):
        with rolled_back():
            client.logout()
            response = _client(client, role).get(url)
            if response.status_code != expected:
                wrong.append((role, expected, response.status_code))
            elif expected == 302 and not response["Location"].startswith(LOGIN):
                wrong.append((role, "login redirect", response["Location"]))
    assert not wrong, (url, wrong)


def test_every_registered_admin_and_custom_page_is_in_the_matrix():
    """New admins or custom admin URLs must get a row (and a decision) here."""
    names = {name.split(":")[1] for name, _, _ in PAGES}
    standard = ("changelist", "add", "change", "delete", "history", "simple_history", "autocomplete")
    ours = ("models_registry", "versioning", "caching")
    missing = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in ours:
            continue
        prefix = f"{model._meta.app_label}_{model._meta.model_name}"
        if f"{prefix}_changelist" not in names:
            missing.append(f"{prefix}_changelist")
        for pattern in model_admin.get_urls():
            name = pattern.name
            if name and not any(name == f"{prefix}_{suffix}" for suffix in standard) and name not in names:
                missing.append(name)
    assert not missing, f"admin pages without a row in the matrix: {sorted(set(missing))}"


def test_history_revert_is_refused_to_everyone(client, world):
    """simple-history's record page would save the old version: a POST is 403 even for a superuser."""
    record = AIModel.history.filter(id=world.model.pk).earliest("history_id")
    url = reverse("admin:models_registry_aimodel_simple_history", args=[world.model.pk, record.history_id])
    for role in ("editor", "superuser"):
        response = _client(client, role).post(url, {"display_name": "GPT-4o"})
        assert response.status_code == 403, role
    world.model.refresh_from_db()
    assert (world.model.revision, world.model.display_name) == (2, "GPT 4o")


@pytest.mark.parametrize(
    "role, expected",
    [
        ("anonymous", 302),
        ("reader", 302),
        ("editor", 403),
        ("approver", 403),
        ("operator", 302),
        ("superuser", 302),
    ],
)
def test_dashboard_invalidation_needs_the_permission(client, world, role, expected):
    before = InvalidationEvent.objects.count()
    data = {"scope": "all", "targets": "", "reason": "admin matrix", "confirmed": "True"}
    response = _client(client, role).post(reverse("admin:caching_dashboard"), data)
    assert response.status_code == expected
    done = InvalidationEvent.objects.count() - before
    assert done == (1 if role in ("operator", "superuser") else 0)
    if role in ("anonymous", "reader"):
        assert response["Location"].startswith(LOGIN)


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------


def _model_state(world):
    world.model.refresh_from_db()
    return (world.model.is_active, world.model.is_deprecated, world.model.revision)


ACTIONS = {
    # action: (changelist url name, selected object, extra POST data, "did it happen?", roles that may)
    "aimodel.delete_selected": (
        "admin:models_registry_aimodel_changelist",
        "model",
        {"post": "yes", "reason": "matrix"},
        lambda w: not AIModel.objects.get(pk=w.model.pk).is_active,
        ("editor", "superuser"),
    ),
    "aimodel.deactivate_selected": (
        "admin:models_registry_aimodel_changelist",
        "model",
        {},
        lambda w: not AIModel.objects.get(pk=w.model.pk).is_active,
        ("editor", "superuser"),
    ),
    "aimodel.mark_deprecated": (
        "admin:models_registry_aimodel_changelist",
        "model",
        {},
        lambda w: AIModel.objects.get(pk=w.model.pk).is_deprecated,
        ("editor", "superuser"),
    ),
    "aimodel.reactivate_selected": (
        "admin:models_registry_aimodel_changelist",
        "inactive",
        {},
        lambda w: AIModel.objects.get(pk=w.other.pk).is_active,
        ("editor", "superuser"),
    ),
    "rollbackrequest.approve_selected": (
        "admin:versioning_rollbackrequest_changelist",
        "rollback",
        {"post": "yes", "comment": "ok"},
        lambda w: RollbackRequest.objects.get(pk=w.rollback.pk).status == RollbackRequest.Status.COMPLETED,
        ("approver", "superuser"),
    ),
    "rollbackrequest.reject_selected": (
        "admin:versioning_rollbackrequest_changelist",
        "rollback",
        {"post": "yes", "comment": "no"},
        lambda w: RollbackRequest.objects.get(pk=w.rollback.pk).status == RollbackRequest.Status.REJECTED,
        ("approver", "superuser"),
    ),
    "catalogsource.sync_dry_run": (
        "admin:models_registry_catalogsource_changelist",
        "source",
        {},
        lambda w: SyncRun.objects.filter(source=w.source).count() == 2,
        ("operator", "superuser"),
    ),
    "catalogsource.sync_now": (
        "admin:models_registry_catalogsource_changelist",
        "source",
        {},
        lambda w: SyncRun.objects.filter(source=w.source).count() == 2,
        ("operator", "superuser"),
    ),
    "syncchange.approve_selected": (
        "admin:models_registry_syncchange_changelist",
        "change",
        {"confirm": "yes", "comment": "ok"},
        lambda w: SyncChange.objects.get(pk=w.change.pk).state == SyncChange.State.APPROVED,
        ("approver", "superuser"),
    ),
    "syncchange.reject_selected": (
        "admin:models_registry_syncchange_changelist",
        "change",
        {"confirm": "yes", "comment": "no"},
        lambda w: SyncChange.objects.get(pk=w.change.pk).state == SyncChange.State.REJECTED,
        ("approver", "superuser"),
    ),
    "invalidationrule.delete_selected": (
        "admin:caching_invalidationrule_changelist",
        "rule",
        {"post": "yes"},
        lambda w: not InvalidationRule.objects.filter(pk=w.rule.pk).exists(),
        ("operator", "superuser"),
    ),
    # A source with runs is never deleted (its runs and decided changes are the sync's audit
    # trail; their admin allows no deletion, so Django refuses the cascade): disable it instead.
    "catalogsource.delete_selected": (
        "admin:models_registry_catalogsource_changelist",
        "source",
        {"post": "yes"},
        lambda w: not CatalogSource.objects.filter(pk=w.source.pk).exists(),
        (),
    ),
    "invalidationrule.dry_run_selected": (
        "admin:caching_invalidationrule_changelist",
        "rule",
        {},
        None,  # read-only: the page is shown (200) to whoever may see the rules
        ("operator", "superuser"),
    ),
}

# Which staff roles can open the changelist at all (else the POST is a 403 before any action).
CHANGELIST_VIEWERS = {
    "admin:models_registry_aimodel_changelist": ("editor", "approver", "superuser"),
    "admin:versioning_rollbackrequest_changelist": ("editor", "approver", "superuser"),
    "admin:models_registry_catalogsource_changelist": ("operator", "superuser"),
    "admin:models_registry_syncchange_changelist": ("approver", "operator", "superuser"),
    "admin:caching_invalidationrule_changelist": ("operator", "superuser"),
}


def test_every_admin_action_is_in_the_matrix(rf):
    """Every action any of our admins offers (to a superuser) has a row in ``ACTIONS``."""
    request = rf.get("/admin/")
    request.user = role_user("superuser")
    offered = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in ("models_registry", "versioning", "caching"):
            offered |= {f"{model._meta.model_name}.{name}" for name in model_admin.get_actions(request)}
    assert offered - set(ACTIONS) == set(), sorted(offered - set(ACTIONS))


@pytest.mark.parametrize("action", list(ACTIONS))
def test_admin_action(client, world, action):
    """Every role posts the action (each in a rolled-back savepoint): it happens for the roles
    allowed to run it and leaves everything as it was for the others."""
    for role in ROLES:
        with rolled_back():
            client.logout()
            _check_action(_client(client, role), world, action, role)


def _check_action(client, world, action, role):
    changelist, selected, extra, happened, allowed = ACTIONS[action]
    if selected == "inactive":
        from models_registry import services

        services.ai_model_deactivate(ai_model=world.other, reason="setup")
    pk = {
        "model": world.model.pk,
        "inactive": world.other.pk,
        "rollback": world.rollback.pk,
        "source": world.source.pk,
        "change": world.change.pk,
        "rule": world.rule.pk,
    }[selected]
    state = (_model_state(world), RollbackRequest.objects.get(pk=world.rollback.pk).status)
    data = {"action": action.split(".")[1], "_selected_action": [pk], "index": 0, **extra}
    response = client.post(reverse(changelist), data)
    if role in ("anonymous", "reader"):
        assert response.status_code == 302 and response["Location"].startswith(LOGIN), role
    elif role not in CHANGELIST_VIEWERS[changelist]:
        assert response.status_code == 403, role
    elif happened is None:
        assert response.status_code == (200 if role in allowed else 302), role
    else:  # refused actions are not offered (302) or, for a refused cascade, a 403; effects are checked
        assert response.status_code in ((200, 302) if role in allowed else (200, 302, 403)), role
    if happened is not None:
        assert happened(world) == (role in allowed), (action, role)
    if role not in allowed:
        assert (_model_state(world), RollbackRequest.objects.get(pk=world.rollback.pk).status) == state, role
        assert SyncChange.objects.get(pk=world.change.pk).state == SyncChange.State.HELD, role
        assert InvalidationRule.objects.filter(pk=world.rule.pk).exists(), role
        assert CatalogSource.objects.filter(pk=world.source.pk).exists(), role


# --------------------------------------------------------------------------------------------
# Object-level access in the admin
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, role",
    [
        ("admin:versioning_rollbackrequest_approve", "editor"),
        ("admin:versioning_rollbackrequest_reject", "operator"),
        ("admin:caching_invalidationrule_dry_run", "approver"),
    ],
)
def test_custom_pages_answer_403_before_looking_the_object_up(client, world, name, role):
    """A staff user without the permission cannot tell existing ids from missing ones."""
    logged_in = _client(client, role)
    real = world.rollback.pk if "rollback" in name else world.rule.pk
    assert logged_in.get(reverse(name, args=[real])).status_code == 403
    assert logged_in.get(reverse(name, args=[987_654])).status_code == 403


def test_cancel_page_of_another_users_request_is_403_and_cancels_nothing(client, world):
    url = reverse("admin:versioning_rollbackrequest_cancel", args=[world.rollback.pk])
    response = _client(client, "superuser").post(url, {"comment": "not mine"})
    assert response.status_code == 403
    world.rollback.refresh_from_db()
    assert world.rollback.status == RollbackRequest.Status.PENDING
    assert Provider.objects.count() == 1
