"""Degraded mode: the database unreachable for a request (simulated with an execute wrapper that
raises ``OperationalError``; tests/system/test_postgres_faults.py does it for real).

Cached reads answer with ``X-Registry-Stale`` and ``Age`` (token checks remembered), uncached
reads and writes answer 503 with ``Retry-After``, a write failing at any point leaves nothing
behind, and everything works again once the database answers.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import OperationalError, connection
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from caching.service import model_cache, reset_model_cache
from models_registry.api import authentication, degraded
from models_registry.models import AIModel
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from versioning.models import ModelVersion

from .conftest import MODELS_URL, by_key_url, detail_url

WRITE_MESSAGE = "The database is unavailable; the change was not saved. Retry later."


class DatabaseDown:
    """Every query fails with ``OperationalError`` (after the first ``fail_after`` ones), except
    the rollbacks that clean up after the failure."""

    def __init__(self, fail_after: int = 0):
        self.fail_after = fail_after
        self.seen = 0
        self.failed = 0

    def __call__(self, execute, sql, params, many, context):
        self.seen += 1
        if self.seen > self.fail_after and not sql.lstrip().upper().startswith("ROLLBACK"):
            self.failed += 1
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        return execute(sql, params, many, context)


@contextlib.contextmanager
def database_down(fail_after: int = 0):
    wrapper = DatabaseDown(fail_after)
    with connection.execute_wrapper(wrapper):
        yield wrapper


@pytest.fixture
def registry(db):
    """The model cache on (L2 = the test Redis when there is one) in a namespace of its own."""
    namespace = f"{settings.TEST_KEY_PREFIX}-deg-{uuid.uuid4().hex[:8]}"
    config = {**settings.MODEL_REGISTRY, "CACHE_ENABLED": True, "CACHE_NAMESPACE": namespace}
    with override_settings(MODEL_REGISTRY=config):
        reset_model_cache()
        authentication.forget_all_local()
        model_cache().subscriber = None  # no second process here: own invalidations drop L1
        yield config
        reset_model_cache()
    authentication.forget_all_local()
    degraded.hint.succeeded()


@pytest.fixture
def model(registry):
    return AIModelFactory(
        provider=ProviderFactory(slug="openai"),
        name="gpt-4o",
        description="before",
        metadata={"region": "eu", "api_key": "sk-secret"},
    )


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def reader_token(reader) -> APIClient:
    return token_client(reader)


@pytest.fixture
def editor_token(editor) -> APIClient:
    return token_client(editor)


def assert_unavailable(response, message: str | None = None) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "database_unavailable"
    if message:
        assert response.json()["detail"] == message
    assert "X-Registry-Stale" not in response


# -- reads -----------------------------------------------------------------------------------------


def test_cached_model_is_served_stale_with_its_age_while_the_database_is_down(reader_token, model):
    fresh = reader_token.get(detail_url(model.pk))
    assert fresh.status_code == 200 and "X-Registry-Stale" not in fresh
    with database_down() as down:
        by_id = reader_token.get(detail_url(model.pk))
        by_key = reader_token.get(by_key_url(model.key))
    assert down.failed >= 2  # the token checks tried the database and fell back
    for response in (by_id, by_key):
        assert response.status_code == 200, response.content
        assert response["X-Registry-Stale"] == "true"
        assert 0 <= int(response["Age"]) <= 60
        assert response.json() == fresh.json()
        assert response["ETag"] == fresh["ETag"]


def test_age_counts_from_when_the_value_was_read_from_the_database(reader_token, model, monkeypatch):
    reader_token.get(detail_url(model.pk))
    real_time = time.time

    class Later:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def time():
            return real_time() + 120

    monkeypatch.setattr(degraded, "time", Later)
    with database_down():
        response = reader_token.get(detail_url(model.pk))
    assert response.status_code == 200
    assert 120 <= int(response["Age"]) <= 180


def test_a_value_older_than_stale_max_age_is_not_served(reader_token, model, monkeypatch, registry):
    reader_token.get(detail_url(model.pk))
    real_time = time.time

    class Later:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def time():
            return real_time() + 301

    monkeypatch.setattr(degraded, "time", Later)
    with database_down():
        assert_unavailable(reader_token.get(detail_url(model.pk)))
    with override_settings(MODEL_REGISTRY={**registry, "STALE_MAX_AGE": 600}), database_down():
        assert reader_token.get(detail_url(model.pk)).status_code == 200


def test_stale_max_age_zero_never_serves_stale(reader_token, model, registry):
    reader_token.get(detail_url(model.pk))
    with override_settings(MODEL_REGISTRY={**registry, "STALE_MAX_AGE": 0}), database_down():
        assert_unavailable(reader_token.get(detail_url(model.pk)))


def test_an_uncached_model_is_503_not_404_or_500(reader_token, model):
    other = AIModelFactory(provider=model.provider, name="never-read")
    reader_token.get(detail_url(model.pk))  # the token check is remembered
    with database_down():
        assert_unavailable(reader_token.get(detail_url(other.pk)))
        assert_unavailable(reader_token.get(by_key_url(other.key)))
        assert_unavailable(reader_token.get(detail_url(999_999)))


def test_a_cached_list_page_is_served_stale(reader_token, model):
    AIModelFactory(provider=model.provider, name="o3")
    fresh = reader_token.get(MODELS_URL, {"provider": "openai"})
    assert fresh.json()["count"] == 2
    with database_down():
        cached = reader_token.get(MODELS_URL, {"provider": "openai"})
        uncached = reader_token.get(MODELS_URL, {"provider": "anthropic"})
    assert cached.status_code == 200 and cached["X-Registry-Stale"] == "true"
    assert cached.json() == fresh.json()
    assert_unavailable(uncached)


def test_sensitive_metadata_stays_masked_by_the_remembered_permissions(reader, model):
    viewer = grant(UserFactory(username="viewer"), "view_sensitive_metadata")
    reader_client, viewer_client = token_client(reader), token_client(viewer)
    assert reader_client.get(detail_url(model.pk)).json()["metadata"]["api_key"] != "sk-secret"
    assert viewer_client.get(detail_url(model.pk)).json()["metadata"]["api_key"] == "sk-secret"
    with database_down():
        masked = reader_client.get(detail_url(model.pk))
        shown = viewer_client.get(detail_url(model.pk))
    assert masked["X-Registry-Stale"] == shown["X-Registry-Stale"] == "true"
    assert masked.json()["metadata"]["api_key"] != "sk-secret"
    assert shown.json()["metadata"]["api_key"] == "sk-secret"


# -- authentication --------------------------------------------------------------------------------


def test_the_remembered_entry_holds_no_token_and_expires(reader, model, registry):
    token = Token.objects.create(user=reader)
    client = token_client(reader)
    assert client.get(detail_url(model.pk)).status_code == 200
    stored_key = "mr:auth:v1:" + authentication.token_digest(token.key)
    entry = caches["default"].get(stored_key)
    assert entry["username"] == "reader" and entry["is_active"] is True
    assert token.key not in str(entry)
    with override_settings(MODEL_REGISTRY={**registry, "AUTH_CACHE_TTL": 0}), database_down():
        assert_unavailable(client.get(detail_url(model.pk)))  # fallback off


def test_a_token_never_seen_is_refused_while_the_database_is_down(model):
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    with database_down():
        assert_unavailable(stranger.get(detail_url(model.pk)))


def test_a_deleted_token_is_forgotten_at_once(reader, model):
    client = token_client(reader)
    assert client.get(detail_url(model.pk)).status_code == 200
    Token.objects.filter(user=reader).delete()
    refused = client.get(detail_url(model.pk))
    assert refused.status_code == 401
    with database_down():
        assert_unavailable(client.get(detail_url(model.pk)))


def test_a_deactivated_user_is_refused_at_once_when_the_database_answers(reader, model):
    client = token_client(reader)
    assert client.get(detail_url(model.pk)).status_code == 200
    type(reader).objects.filter(pk=reader.pk).update(is_active=False)
    assert client.get(detail_url(model.pk)).status_code == 401


def test_anonymous_requests_still_get_401_with_www_authenticate(model):
    response = APIClient().get(detail_url(model.pk))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# -- writes ----------------------------------------------------------------------------------------


def _state(model_id: int) -> tuple:
    instance = AIModel.objects.get(pk=model_id)
    return (
        instance.revision,
        instance.description,
        ModelVersion.objects.filter(ai_model_id=model_id).count(),
        instance.history.count(),
    )


def test_writes_while_the_database_is_down_are_503_and_change_nothing(editor_token, model):
    before = _state(model.pk)
    etag = editor_token.get(detail_url(model.pk))["ETag"]
    with database_down():
        patch = editor_token.patch(detail_url(model.pk), {"description": "after"}, HTTP_IF_MATCH=etag)
        delete = editor_token.delete(detail_url(model.pk), HTTP_IF_MATCH=etag)
        create = editor_token.post(MODELS_URL, {"provider": "openai", "name": "new-one"})
    for response in (patch, delete, create):
        assert_unavailable(response, WRITE_MESSAGE)
    assert _state(model.pk) == before
    assert not AIModel.objects.filter(name="new-one").exists()


def test_a_write_failing_at_any_query_is_all_or_nothing_and_says_which(transactional_db, editor, model):
    # transactional_db: the write is a real top-level transaction, as in production
    client = APIClient()
    client.force_authenticate(user=editor)  # no token query: every query counted is the write's
    assert client.patch(detail_url(model.pk), {"description": "warm-up"}).status_code == 200
    with database_down(fail_after=10**6) as counter:  # counts, fails nothing
        assert client.patch(detail_url(model.pk), {"description": "probe"}).status_code == 200
    total = counter.seen  # the queries of one write, from its first to the answer
    assert total >= 4
    outcomes = set()
    for fail_after in range(total):
        before = _state(model.pk)
        description = f"attempt {fail_after}"
        with database_down(fail_after=fail_after) as down:
            response = client.patch(detail_url(model.pk), {"description": description})
        assert down.failed >= 1, fail_after
        after = _state(model.pk)
        if response.json().get("saved"):  # the error came after the commit: all of it is there
            assert_unavailable(response)
            assert "was saved" in response.json()["detail"]
            assert after == (before[0] + 1, description, before[2] + 1, before[3] + 1)
        else:  # nothing of it is there
            assert_unavailable(response, WRITE_MESSAGE)
            assert after == before, f"half-written after {fail_after} queries"
        outcomes.add(bool(response.json().get("saved")))
    assert False in outcomes
    assert client.patch(detail_url(model.pk), {"description": "works again"}).status_code == 200
    assert _state(model.pk)[1] == "works again"


# -- recovery --------------------------------------------------------------------------------------


def test_everything_works_again_when_the_database_answers(editor_token, model):
    editor_token.get(detail_url(model.pk))
    with database_down():
        assert editor_token.get(detail_url(model.pk))["X-Registry-Stale"] == "true"
    response = editor_token.get(detail_url(model.pk))
    assert response.status_code == 200 and "X-Registry-Stale" not in response
    assert not degraded.hint.down()
    patched = editor_token.patch(
        detail_url(model.pk), {"description": "after"}, HTTP_IF_MATCH=response["ETag"]
    )
    assert patched.status_code == 200 and patched.json()["description"] == "after"
