"""The API permission matrix: every endpoint × method × role → the expected status, asserted
against the real views (APIClient, real database); then object-level access (no BOLA: what a
caller may not see is a 404 — or, for an endpoint the caller may not use at all, the same 403
whether the object exists or not).

The roles are defined in ``conftest.py``; the same table is in the README ("Permissions").
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from caching.models import InvalidationRule
from models_registry import services
from models_registry.sync.models import SyncChange
from tests.factories import AIModelFactory
from versioning.models import RollbackRequest

from .conftest import ROLES, World, api_client_for, role_user, rolled_back

pytestmark = pytest.mark.django_db

API = "/api/v1"
RULE_BODY = {
    "name": "drop-deprecated",
    "events": ["manual"],
    "conditions": [{"field": "is_deprecated", "operator": "equals", "value": True}],
    "actions": [{"type": "invalidate"}],
}


# Expected status per role, in the order of ROLES: anonymous, reader, editor, approver, operator, superuser.
READ = (401, 200, 200, 200, 200, 200)  # authenticated users
STAFF_READ = (401, 403, 200, 200, 200, 200)  # staff users
MODEL_WRITE = lambda ok: (401, 403, ok, 403, 403, ok)  # noqa: E731 - editor (model permissions)
DECIDE = (401, 403, 403, 200, 403, 200)  # approver (approve_* permission; sync: staff too)
OPERATE = lambda ok: (401, 403, 403, 403, ok, ok)  # noqa: E731 - operator (cache/rules/sync permissions)
PUBLIC = (200, 200, 200, 200, 200, 200)

# (method, url template, JSON body, expected statuses by role)
MATRIX: list[tuple[str, str, dict | None, tuple[int, ...]]] = [
    # -- catalogue ------------------------------------------------------------------------------
    ("GET", "/models/", None, READ),
    ("POST", "/models/", {"provider": "openai", "name": "new-model"}, MODEL_WRITE(201)),
    ("GET", "/models/stats/", None, READ),
    ("GET", "/models/by-key/{key}", None, READ),
    ("GET", "/models/{model}/", None, READ),
    ("PUT", "/models/{model}/", {"display_name": "Replaced"}, MODEL_WRITE(200)),
    ("PATCH", "/models/{model}/", {"display_name": "Changed"}, MODEL_WRITE(200)),
    ("DELETE", "/models/{model}/", None, MODEL_WRITE(204)),
    ("GET", "/providers/", None, READ),
    ("GET", "/providers/openai/", None, READ),
    ("POST", "/auth/token/", {"username": "token-user", "password": "token-pass-123"}, PUBLIC),
    # -- versions and rollbacks -----------------------------------------------------------------
    ("GET", "/models/{model}/versions/", None, READ),
    ("GET", "/models/{model}/versions/1/", None, READ),
    ("GET", "/models/{model}/versions/2/diff/", None, READ),
    ("GET", "/versions/stats/", None, READ),
    ("GET", "/changes/", None, READ),
    ("GET", "/rollbacks/", None, READ),
    ("POST", "/rollbacks/", {"model": "{other}", "target_version": 1, "reason": "undo"}, MODEL_WRITE(201)),
    ("GET", "/rollbacks/{rollback}/", None, READ),
    ("POST", "/rollbacks/{rollback}/approve/", {"comment": "ok"}, DECIDE),
    ("POST", "/rollbacks/{rollback}/reject/", {"comment": "no"}, DECIDE),
    # only the requester (here the editor) cancels; the request is visible to all readers → 403
    ("POST", "/rollbacks/{rollback}/cancel/", {}, (401, 403, 200, 403, 403, 403)),
    # -- cache, invalidation events and rules ---------------------------------------------------
    ("GET", "/cache/stats/", None, STAFF_READ),
    ("POST", "/cache/invalidate/", {"all": True, "reason": "matrix"}, OPERATE(200)),
    ("GET", "/invalidation-events/", None, STAFF_READ),
    ("GET", "/invalidation-events/stats/", None, STAFF_READ),
    ("GET", "/invalidation-rules/", None, STAFF_READ),
    ("POST", "/invalidation-rules/", RULE_BODY, OPERATE(201)),
    ("GET", "/invalidation-rules/{rule}/", None, STAFF_READ),
    ("PUT", "/invalidation-rules/{rule}/", RULE_BODY, OPERATE(200)),
    ("PATCH", "/invalidation-rules/{rule}/", {"priority": 5}, OPERATE(200)),
    ("DELETE", "/invalidation-rules/{rule}/", None, OPERATE(204)),
    ("POST", "/invalidation-rules/{rule}/dry-run/", {}, STAFF_READ),
    ("POST", "/invalidation-rules/{rule}/run/", {}, OPERATE(200)),
    # -- catalogue sync -------------------------------------------------------------------------
    ("POST", "/sync/sources/{source}/run/", {"dry_run": True}, OPERATE(200)),
    ("GET", "/sync/runs/", None, STAFF_READ),
    ("GET", "/sync/runs/{run}/", None, STAFF_READ),
    ("GET", "/sync/changes/", None, STAFF_READ),
    ("POST", "/sync/changes/{change}/approve/", {"comment": "ok"}, DECIDE),
    ("POST", "/sync/changes/{change}/reject/", {"comment": "no"}, DECIDE),
]

# Outside /api/v1/ (anonymous by design).
PUBLIC_PAGES = ["/api/schema/", "/api/docs/"]
OPTIONAL_PUBLIC_PAGES = ["/health/", "/health/live/", "/metrics"]  # when the project mounts them


def _body(world: World, body):
    if body is None:
        return None
    return {
        k: (int(world.fill(v)) if isinstance(v, str) and v.startswith("{") else v) for k, v in body.items()
    }


def _request(client, method: str, url: str, body):
    call = getattr(client, method.lower())
    return call(url, body, format="json") if body is not None else call(url)


ROWS = [
    pytest.param(method, url, body, expected, id=f"{method} {url}") for method, url, body, expected in MATRIX
]


@pytest.mark.parametrize("method, url, body, expected", ROWS)
def test_matrix_row(world, method, url, body, expected):
    """Every cell of the row: each role's request runs in a savepoint rolled back afterwards, so
    every role starts from the same objects; all wrong cells are reported together."""
    wrong = []
    for role, wanted in zip(ROLES, expected, strict=True):
        with rolled_back():
            client = api_client_for(role_user(role))
            response = _request(client, method, API + world.fill(url), _body(world, body))
            if response.status_code != wanted:
                wrong.append((role, wanted, response.status_code, response.content[:200]))
            elif wanted in (401, 403):
                assert response.json()["code"] in ("not_authenticated", "permission_denied", "forbidden")
                _assert_untouched(world)
    assert not wrong, wrong


def _assert_untouched(world: World) -> None:
    """A refused request changed nothing."""
    world.model.refresh_from_db()
    world.change.refresh_from_db()
    world.rollback.refresh_from_db()
    assert (world.model.revision, world.model.is_active) == (2, True)
    assert world.change.state == SyncChange.State.HELD
    assert world.rollback.status == RollbackRequest.Status.PENDING
    assert InvalidationRule.objects.get(pk=world.rule.pk).priority == 0
    assert RollbackRequest.objects.count() == 1
    assert not InvalidationRule.objects.filter(name=RULE_BODY["name"]).exists()


@override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "ALLOW_ANONYMOUS_READS": True})
@pytest.mark.parametrize(
    "method, url, body, expected",
    [pytest.param(m, u, b, e, id=f"{m} {u}") for m, u, b, e in MATRIX if e[0] != 200],
)
def test_anonymous_reads_switch_opens_only_catalogue_reads(world, method, url, body, expected):
    """``ALLOW_ANONYMOUS_READS`` turns the authenticated-reader cells into 200 for anonymous
    clients; staff reads and every write still answer 401."""
    response = _request(api_client_for(None), method, API + world.fill(url), _body(world, body))
    wanted = 200 if (method == "GET" and expected == READ) else 401
    assert response.status_code == wanted, response.content[:300]


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_schema_and_docs_are_public(db, url):
    assert api_client_for(None).get(url).status_code == 200


@pytest.mark.parametrize("url", OPTIONAL_PUBLIC_PAGES)
def test_health_and_metrics_are_anonymous_when_mounted(db, url):
    from django.urls import Resolver404, resolve

    try:
        resolve(url)
    except Resolver404:
        pytest.skip(f"{url} is not mounted in this project")
    assert api_client_for(None).get(url).status_code in (200, 503)


def _api_routes() -> set[str]:
    """Every route under /api/v1/ as ``/path/`` with ``{}`` for each parameter."""
    import re

    routes: set[str] = set()

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern):
                routes.add(re.sub(r"<[^>]+>", "{}", prefix + route))

    walk(get_resolver().url_patterns, "/")
    return {r for r in routes if r.startswith("/api/v1/")}


def test_the_matrix_covers_every_api_route():
    import re

    covered = {re.sub(r"/(\{[^}]+\}|\d+)(?=/)", "/{}", API + url) for _, url, _, _ in MATRIX}
    # by-key takes the rest of the path; providers/<ref>/ takes a slug
    covered |= {f"{API}/models/by-key/{{}}", f"{API}/providers/{{}}/"}
    missing = sorted(_api_routes() - covered)
    assert not missing, f"API routes without a row in the permission matrix: {missing}"


# --------------------------------------------------------------------------------------------
# Object-level access (BOLA)
# --------------------------------------------------------------------------------------------

MISSING = 987_654


@pytest.mark.parametrize(
    "url",
    [
        f"/models/{MISSING}/",
        f"/models/{MISSING}/versions/",
        f"/models/{MISSING}/versions/1/",
        f"/models/{MISSING}/versions/1/diff/",
        f"/models/{MISSING}/?as_of=2020-01-01T00:00:00Z",
        f"/rollbacks/{MISSING}/",
        "/models/by-key/openai/no-such-model",
        "/providers/no-such-provider/",
    ],
)
def test_unknown_objects_are_404_for_readers(world, url):
    response = api_client_for(role_user("reader")).get(API + url)
    assert response.status_code == 404, response.content[:300]


def test_a_version_number_of_another_model_is_404(world):
    """The model has versions 1 and 2; asking a one-version model for its version 2 is a 404,
    never another model's version."""
    single = AIModelFactory(provider=world.model.provider, name="single")
    client = api_client_for(role_user("reader"))
    assert client.get(f"{API}/models/{single.pk}/versions/2/").status_code == 404
    assert client.get(f"{API}/models/{single.pk}/versions/2/diff/").status_code == 404
    own = client.get(f"{API}/models/{world.model.pk}/versions/2/").json()
    assert own["model"] == world.model.pk


def test_a_rollback_for_an_unknown_model_is_404_and_creates_nothing(world):
    client = api_client_for(role_user("editor"))
    response = client.post(
        f"{API}/rollbacks/", {"model": MISSING, "target_version": 1, "reason": "x"}, format="json"
    )
    assert response.status_code == 404
    assert RollbackRequest.objects.count() == 1


@pytest.mark.parametrize(
    "role, verb",
    [("reader", "approve"), ("operator", "approve"), ("reader", "reject"), ("editor", "reject")],
)
def test_deciding_without_the_permission_is_the_same_403_for_existing_and_missing_requests(world, role, verb):
    client = api_client_for(role_user(role))
    existing = client.post(f"{API}/rollbacks/{world.rollback.pk}/{verb}/", {"comment": "x"}, format="json")
    missing = client.post(f"{API}/rollbacks/{MISSING}/{verb}/", {"comment": "x"}, format="json")
    assert existing.status_code == missing.status_code == 403
    assert existing.json() == missing.json()  # nothing tells them apart
    world.rollback.refresh_from_db()
    assert world.rollback.status == RollbackRequest.Status.PENDING


def test_cancelling_another_users_request_is_refused_and_changes_nothing(world):
    """Rollback requests are visible to every reader (they are part of the audit trail, like
    versions), so another user's request is a 403, not a 404; only the requester cancels."""
    for role in ("reader", "approver", "superuser"):
        response = api_client_for(role_user(role)).post(
            f"{API}/rollbacks/{world.rollback.pk}/cancel/", {}, format="json"
        )
        assert response.status_code == 403, role
    world.rollback.refresh_from_db()
    assert world.rollback.status == RollbackRequest.Status.PENDING
    assert (
        api_client_for(role_user("reader")).post(f"{API}/rollbacks/{MISSING}/cancel/", {}).status_code == 404
    )


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("GET", "/invalidation-rules/{id}/", None),
        ("PATCH", "/invalidation-rules/{id}/", {"priority": 1}),
        ("DELETE", "/invalidation-rules/{id}/", None),
        ("POST", "/invalidation-rules/{id}/dry-run/", {}),
        ("POST", "/invalidation-rules/{id}/run/", {}),
        ("GET", "/sync/runs/{id}/", None),
        ("POST", "/sync/changes/{id}/approve/", {"comment": "x"}),
        ("POST", "/sync/changes/{id}/reject/", {"comment": "x"}),
        ("POST", "/sync/sources/{id}/run/", {"dry_run": True}),
    ],
)
@pytest.mark.parametrize("role", ["reader", "approver_without_staff"])
def test_staff_objects_answer_the_same_403_whether_they_exist_or_not(world, method, url, body, role):
    """Rules and sync runs/changes are staff objects: a non-staff caller learns nothing about
    which ids exist (and a non-staff holder of the approval permission cannot decide either)."""
    if role == "approver_without_staff":
        user = role_user("approver", suffix="-nostaff")
        user.is_staff = False
        user.save()
    else:
        user = role_user(role)
    client = api_client_for(user)
    real_id = {"invalidation-rules": world.rule.pk, "runs": world.run.pk, "changes": world.change.pk}
    real_id["sources"] = world.source.pk
    kind = next(name for name in real_id if f"/{name}/" in url)
    existing = _request(client, method, API + url.format(id=real_id[kind]), body)
    missing = _request(client, method, API + url.format(id=MISSING), body)
    assert existing.status_code == missing.status_code == 403
    assert existing.json() == missing.json()
    world.change.refresh_from_db()
    assert world.change.state == SyncChange.State.HELD
    assert InvalidationRule.objects.filter(pk=world.rule.pk).exists()


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("GET", f"/invalidation-rules/{MISSING}/", None),
        ("POST", f"/invalidation-rules/{MISSING}/dry-run/", {}),
        ("GET", f"/sync/runs/{MISSING}/", None),
    ],
)
def test_unknown_staff_objects_are_404_for_staff(world, method, url, body):
    assert _request(api_client_for(role_user("operator")), method, API + url, body).status_code == 404


def test_inactive_models_are_visible_to_readers_by_design(world):
    """Soft-deleted models stay readable (by id, by key, with ``?is_active=false``): a gateway
    must be able to tell "deactivated" from "never existed". Documented in the README."""
    services.ai_model_deactivate(ai_model=world.other, reason="retired")
    client = api_client_for(role_user("reader"))
    assert client.get(f"{API}/models/{world.other.pk}/").json()["is_active"] is False
    listed = client.get(f"{API}/models/", {"is_active": "false"}).json()
    assert [m["key"] for m in listed["results"]] == [world.other.key]
    assert world.other.key not in [m["key"] for m in client.get(f"{API}/models/").json()["results"]]
