"""Request body size, page size and offset bounds, and cache key validation at every entry point
(no Redis command is sent for a refused key: counted on a Redis server of the test's own)."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import modify_settings, override_settings
from django.test.client import AsyncClientHandler, ClientHandler, FakePayload
from django.urls import URLPattern, get_resolver
from rest_framework.test import APIClient

from caching import keys as k
from caching.models import InvalidationEvent
from caching.services import cache_invalidate
from models_registry import selectors, services
from models_registry.api.pagination import RegistryPagination
from models_registry.conf import registry_settings
from models_registry.exceptions import ModelNotFound, RegistryValidationError
from tests.caching.helpers import RedisServer, cache_at
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant

pytestmark = [pytest.mark.django_db]

TOKEN = "/api/v1/auth/token/"
LIMIT = 1024 * 1024
MIDDLEWARE = "models_registry.api.limits.RequestBodyLimitMiddleware"


@pytest.fixture
def superuser():
    return UserFactory(username=f"root-{uuid.uuid4().hex[:6]}", is_staff=True, is_superuser=True)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def json_body(size: int) -> bytes:
    """A JSON token request of exactly ``size`` bytes."""
    head, tail = b'{"username": "nobody", "password": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


# -- request body size -----------------------------------------------------------------------


def test_the_limit_is_one_figure_for_the_api_and_django():
    assert registry_settings.MAX_REQUEST_BODY_BYTES == LIMIT == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert MIDDLEWARE in settings.MIDDLEWARE


def test_json_body_over_the_limit_is_413_before_anything_is_read(superuser):
    response = client_for(superuser).post(
        "/api/v1/models/", json_body(LIMIT + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request body is larger than the limit of {LIMIT} bytes.",
        "code": "request_too_large",
        "max_bytes": LIMIT,
    }
    anonymous = APIClient().post(TOKEN, json_body(LIMIT + 1), content_type="application/json")
    assert anonymous.status_code == 413


def test_json_body_at_the_limit_reaches_the_view():
    response = APIClient().post(TOKEN, json_body(LIMIT), content_type="application/json")
    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]


@modify_settings(MIDDLEWARE={"remove": [MIDDLEWARE]})
def test_without_the_middleware_the_api_has_no_clear_answer():
    # DRF 3.18 reads JSON bodies through request.body, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    # does refuse them, but as an unhandled RequestDataTooBig: Django's HTML 400 page, not the
    # API's JSON error (and multipart bodies, which the token endpoint accepts, are streamed to
    # disk without that check). The middleware answers first, with a 413 in the API's shape.
    response = APIClient().post(TOKEN, json_body(2 * LIMIT), content_type="application/json")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


def test_form_bodies_of_other_views_keep_djangos_own_limit(client):
    response = client.post("/admin/login/", {"username": "x", "password": "y" * (LIMIT + 10)})
    assert response.status_code == 400  # RequestDataTooBig: Django's check, not the API's 413


def wsgi_post(path: str, body: bytes, *, terminated: bool = True, **meta):
    """A POST through the WSGI handler with the environ a server would build; without
    ``CONTENT_LENGTH`` unless given (a chunked request, as gunicorn hands it over)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **meta,
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    return ClientHandler(enforce_csrf_checks=False)(environ)


def test_chunked_body_over_the_limit_is_413_after_reading_at_most_limit_plus_one():
    stream = io.BytesIO(json_body(3 * LIMIT))
    response = wsgi_post(TOKEN, b"", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": stream})
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "request_too_large"
    assert stream.tell() == LIMIT + 1


def test_chunked_body_within_the_limit_is_handed_on_with_its_length():
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:6]}")
    body = json.dumps({"username": user.username, "password": "pass-word-123"}).encode()
    response = wsgi_post(TOKEN, body, HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["token"]


def test_chunked_body_on_a_server_that_cannot_end_it_is_411():
    response = wsgi_post(TOKEN, b'{"username": "a"}', terminated=False, HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert json.loads(response.content)["code"] == "length_required"


def test_asgi_body_without_length_over_the_limit_is_413():
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": TOKEN,
        "raw_path": TOKEN.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "_body_file": FakePayload(json_body(2 * LIMIT)),
    }
    response = async_to_sync(AsyncClientHandler(enforce_csrf_checks=False))(scope)
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "request_too_large"


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_malformed_content_length_is_400(length):
    response = wsgi_post(TOKEN, b"{}", CONTENT_LENGTH=length)
    assert response.status_code == 400
    assert json.loads(response.content)["code"] == "invalid_content_length"


# -- page size and offset --------------------------------------------------------------------


@pytest.fixture
def listed(superuser):
    """Three of everything the list endpoints show that is cheap to make."""
    providers = [ProviderFactory(slug=f"p{n}") for n in range(3)]
    model = AIModelFactory(provider=providers[0], name="m0")
    for n in range(1, 3):
        AIModelFactory(provider=providers[n], name=f"m{n}")
    for n in range(3):
        services.ai_model_update(
            ai_model=model.pk, data={"description": f"v{n}"}, actor=superuser, reason="test"
        )
    return model


def list_urls(model) -> list[str]:
    return [
        "/api/v1/models/",
        "/api/v1/providers/",
        f"/api/v1/models/{model.pk}/versions/",
        "/api/v1/rollbacks/",
        "/api/v1/invalidation-events/",
        "/api/v1/invalidation-rules/",
        "/api/v1/sync/runs/",
        "/api/v1/sync/changes/",
    ]


def test_every_list_endpoint_bounds_limit_and_offset(superuser, listed):
    api = client_for(superuser)
    maximum = registry_settings.MAX_PAGE_OFFSET
    for url in list_urls(listed):
        assert api.get(url, {"limit": 10**30}).status_code == 200, url  # capped, not refused
        assert api.get(url, {"offset": maximum}).status_code == 200, url
        for params, field in [
            ({"offset": maximum + 1}, "offset"),
            ({"offset": "9" * 5000}, "offset"),  # never converted: no slow int(), no SQL overflow
            ({"offset": "-1"}, "offset"),
            ({"limit": "1_000"}, "limit"),
            ({"limit": "1e3"}, "limit"),
            ({"limit": "٣"}, "limit"),
            ({"limit": "0"}, "limit"),
        ]:
            response = api.get(url, params)
            assert response.status_code == 400, (url, params, response.content)
            assert field in response.json()["errors"], (url, params)


def test_limit_above_the_maximum_is_capped_everywhere(superuser, listed):
    api = client_for(superuser)
    with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "MAX_PAGE_SIZE": 2}):
        for url in ["/api/v1/models/", "/api/v1/providers/", f"/api/v1/models/{listed.pk}/versions/"]:
            page = api.get(url, {"limit": 1000}).json()
            assert page["count"] >= 3 and len(page["results"]) == 2, url
            assert "limit=2" in page["next"], url
        feed = api.get("/api/v1/changes/", {"limit": 1000}).json()
        assert len(feed["results"]) == 2 and feed["has_more"] is True
        assert api.get("/api/v1/changes/", {"limit": "x"}).status_code == 400


def test_every_paginated_route_uses_the_bounded_pagination():
    def walk(patterns):
        for entry in patterns:
            if isinstance(entry, URLPattern):
                yield entry
            else:
                yield from walk(entry.url_patterns)

    paginated = []
    for pattern in walk(get_resolver().url_patterns):
        cls = getattr(pattern.callback, "cls", None)
        pagination = getattr(cls, "pagination_class", None)
        if pagination is not None:
            assert issubclass(pagination, RegistryPagination), pattern.name
            paginated.append(pattern.name)
    assert {"model-list", "provider-list", "version-list", "rollback-list", "invalidation-events"} <= set(
        paginated
    )


# -- cache keys ------------------------------------------------------------------------------

IGNORED_COMMANDS = ("info", "ping", "subscribe", "psubscribe", "hello", "client", "select", "config")


def data_commands(server: RedisServer) -> int:
    """Commands the server has run, apart from connection housekeeping and this count itself."""
    stats = server.client().info("commandstats")
    return sum(
        value["calls"]
        for name, value in stats.items()
        if name.removeprefix("cmdstat_").split("|")[0].lower() not in IGNORED_COMMANDS
    )


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def cached(own_redis, db):
    """The model cache on, against a Redis server of the test's own, with one model cached."""
    with cache_at(own_redis.url, f"{settings.TEST_KEY_PREFIX}-limits-{uuid.uuid4().hex[:6]}") as cache:
        model = AIModelFactory(provider=ProviderFactory(slug="acme"), name="a", tags=["beta"])
        selectors.ai_model_get(key=model.key)
        yield cache


BAD_KEYS = ["acme/" + "x" * 10_000, "acme/a\x00b", "acme/a\nb", "acme/\tx", "acme/a\x7f", "acme/a\rb"]


def test_bad_keys_in_by_key_urls_are_400_without_a_redis_call(cached, own_redis, superuser):
    api = client_for(superuser)
    before = data_commands(own_redis)
    for key in BAD_KEYS:
        encoded = "".join(ch if ch.isalnum() or ch == "/" else f"%{ord(ch):02X}" for ch in key)
        response = api.get(f"/api/v1/models/by-key/{encoded}")
        if "\n" in key:  # the <path:> converter does not match a newline: no route, Django's 404
            assert response.status_code == 404
            continue
        assert response.status_code == 400, (key[:20], response.status_code)
        assert "key" in response.json()["errors"]
    assert data_commands(own_redis) == before
    # not UTF-8: Django keeps the bytes percent-encoded, and there is no such model
    response = api.get("/api/v1/models/by-key/acme/%FF%FE")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert api.get("/api/v1/models/by-key/acme/a").status_code == 200


def test_bad_keys_in_the_python_read_api_raise_without_a_redis_call(cached, own_redis):
    before = data_commands(own_redis)
    for key in BAD_KEYS:
        with pytest.raises(ModelNotFound, match="characters"):
            selectors.ai_model_get(key=key)
    assert selectors.ai_model_get_many(keys=BAD_KEYS) == dict.fromkeys(BAD_KEYS)
    assert data_commands(own_redis) == before
    with pytest.raises(k.InvalidCacheKey):
        cached.get("acme/a\x00", lambda keys: {})  # the cache itself refuses before any call


@pytest.mark.parametrize(
    "body",
    [
        {"models": ["acme/" + "x" * 10_000]},
        {"models": ["acme/a\nb"]},
        {"models": ["acme/a\x00b"]},
        {"providers": ["*"]},
        {"providers": ["ac?me"]},
        {"providers": ["[a-z]*"]},
        {"providers": ["acme\nx"]},
        {"providers": ["a" * 101]},
        {"tags": ["b" * 65]},
        {"tags": ["be\x01ta"]},
    ],
)
def test_bad_names_in_cache_invalidation_are_400_without_a_redis_call(cached, own_redis, body):
    operator = grant(UserFactory(username=f"op-{uuid.uuid4().hex[:6]}", is_staff=True), "invalidate_cache")
    before = data_commands(own_redis)
    response = client_for(operator).post("/api/v1/cache/invalidate/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) & {"models", "providers", "tags"}
    assert data_commands(own_redis) == before
    assert not InvalidationEvent.objects.exists()


def test_glob_characters_in_names_are_literal(cached, own_redis):
    gen = cached.gen
    value = k.value_key(gen, "acme/a")
    assert own_redis.client().exists(value)
    cache_invalidate(models=["acme/*"], reason="glob")  # a legal key ("bedrock/*/…"), not a pattern
    assert cache_invalidate(tags=["*"], reason="glob").count == 0
    assert cache_invalidate(tags=["b*"], reason="glob").count == 0
    assert own_redis.client().exists(value)  # acme/a (tag "beta") survived all three
    assert cache_invalidate(tags=["beta"], reason="literal").count == 1
    assert not own_redis.client().exists(value)
    with pytest.raises(RegistryValidationError):
        cache_invalidate(providers=["ac*"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "manual", "strategy_params": {"keys": ["acme/" + "x" * 10_000]}}, "strategy_params"),
        ({"strategy": "manual", "strategy_params": {"keys": ["acme/a\nb"]}}, "strategy_params"),
        ({"strategy": "provider_update", "strategy_params": {"providers": ["ac\x00me"]}}, "strategy_params"),
        ({"actions": [{"type": "tag", "tag": "be\nta"}]}, "actions"),
        ({"actions": [{"type": "tag", "tag": "b" * 65}]}, "actions"),
    ],
)
def test_bad_names_in_invalidation_rules_are_400(superuser, change, field):
    rule = {"name": "r", "events": ["manual"], "actions": [{"type": "invalidate"}], **change}
    response = client_for(superuser).post("/api/v1/invalidation-rules/", rule, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


def test_bad_keys_in_a_rule_run_context_never_reach_redis(cached, own_redis, superuser):
    api = client_for(superuser)
    rule = api.post(
        "/api/v1/invalidation-rules/",
        {"name": "manual", "events": ["manual"], "actions": [{"type": "invalidate"}]},
        format="json",
    ).json()
    before = data_commands(own_redis)
    response = api.post(
        f"/api/v1/invalidation-rules/{rule['id']}/dry-run/",
        {"context": {"keys": ["acme/" + "x" * 10_000, "acme/a\nb"]}},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "context" in response.json()["errors"]
    run = api.post(
        f"/api/v1/invalidation-rules/{rule['id']}/run/", {"context": {"tag": "be\x00ta"}}, format="json"
    )
    assert run.status_code == 400, run.content
    assert data_commands(own_redis) == before
