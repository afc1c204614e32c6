"""Fixtures of the system tests: committed data, a private Redis, fault proxies, gunicorn.

- ``system_data``: real catalogue files imported into the test database and *committed*
  (``transactional_db``: other processes see them), users ``sys-reader`` / ``sys-editor`` /
  ``sys-staff`` with tokens; the tables are flushed after the test (the shared
  ``model_registry`` database is never touched).
- ``private_redis``: a ``redis-server`` on a spare port owned by the test.
- ``redis_proxy`` / ``pg_proxy``: ``FaultProxy`` in front of the private Redis / PostgreSQL.
- ``stack``: all of the above plus ``stack.server(**kw)``, a started ``Gunicorn`` going
  through both proxies (stopped after the test).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from tests.caching.helpers import database_url

from .harness import FaultProxy, Gunicorn, RedisServer, SystemData, with_port

CATALOGS = Path(__file__).resolve().parents[1] / "fixtures" / "catalogs"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.system)
            item.add_marker(pytest.mark.postgres)


def _load_catalogue() -> None:
    with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "IMPORT_MIN_MODELS": 0}):
        with open(os.devnull, "w") as sink:
            call_command(
                "import_catalog", str(CATALOGS / "litellm_oddities.json"), fmt="litellm", force=True,
                stdout=sink, stderr=sink,
            )  # fmt: skip
            call_command(
                "import_catalog", str(CATALOGS / "openrouter_small.json"), fmt="openrouter", force=True,
                stdout=sink, stderr=sink,
            )  # fmt: skip


def _users() -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    from tests.factories import UserFactory, grant

    reader = UserFactory(username="sys-reader")
    editor = grant(UserFactory(username="sys-editor"), "add_aimodel", "change_aimodel", "delete_aimodel")
    staff = UserFactory(username="sys-staff", is_staff=True, is_superuser=True)
    return {
        name: Token.objects.get_or_create(user=user)[0].key
        for name, user in (("reader", reader), ("editor", editor), ("staff", staff))
    }


@pytest.fixture
def system_data(transactional_db) -> SystemData:
    """Committed catalogue, users and tokens in the test database (``transactional_db``: real
    commits other processes see; the tables are flushed after the test)."""
    if not settings.TEST_SERVICES["postgres"]:
        pytest.skip("system tests need PostgreSQL")
    from models_registry.models import AIModel

    _load_catalogue()
    tokens = _users()
    models = [
        {"id": m.id, "key": m.key, "revision": m.revision, "description": m.description}
        for m in AIModel.objects.filter(is_active=True).order_by("key")
    ]
    assert len(models) >= 20, "the catalogue fixtures should give at least 20 models"
    return SystemData(database_url=database_url(), tokens=tokens, models=models)


@pytest.fixture
def private_redis():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_proxy(private_redis):
    with FaultProxy(private_redis.port) as proxy:
        yield proxy


@pytest.fixture
def pg_proxy():
    db = settings.DATABASES["default"]
    with FaultProxy(int(db.get("PORT") or 5432), target_host=db.get("HOST") or "127.0.0.1") as proxy:
        yield proxy


@dataclass
class Stack:
    data: SystemData
    redis: RedisServer
    redis_proxy: FaultProxy
    pg_proxy: FaultProxy
    servers: list[Gunicorn] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        """The test database, through the PostgreSQL proxy."""
        return with_port(self.data.database_url, self.pg_proxy.port)

    @property
    def redis_url(self) -> str:
        """The private Redis, through its proxy."""
        return with_port(self.redis.url, self.redis_proxy.port)

    def server(self, **kwargs) -> Gunicorn:
        kwargs.setdefault("database_url", self.database_url)
        kwargs.setdefault("redis_url", self.redis_url)
        kwargs.setdefault("ready_token", self.data.tokens["reader"])
        server = Gunicorn(**kwargs)
        self.servers.append(server)
        return server.start()


@pytest.fixture
def stack(system_data, private_redis, redis_proxy, pg_proxy, request):
    built = Stack(system_data, private_redis, redis_proxy, pg_proxy)
    try:
        yield built
    finally:
        failed = getattr(request.node, "rep_call", None)
        for server in built.servers:
            if failed is not None and failed.failed:
                print(f"--- gunicorn log ({server.url}) ---\n{server.log_tail()}")
            with contextlib.suppress(Exception):
                server.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
