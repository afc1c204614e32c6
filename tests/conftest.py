"""Test-suite wiring: service discovery report, ``REQUIRE_SERVICES``, markers, shared fixtures.

``config.settings.test`` picks PostgreSQL and Redis (from ``DATABASE_URL`` / ``REDIS_URL`` or on
localhost) when they answer. Tests marked ``redis`` or ``postgres`` are skipped when that
service is missing — unless ``REQUIRE_SERVICES=1``, which makes a missing service fail the run.
"""

import os

import pytest
from django.conf import settings

REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"


def _services() -> dict[str, bool]:
    return dict(settings.TEST_SERVICES)


def _summary() -> str:
    services = _services()
    db = settings.DATABASES["default"]
    parts = [
        f"PostgreSQL {db.get('HOST') or 'local'}:{db.get('PORT') or ''}/{db['NAME']}"
        if services["postgres"]
        else "SQLite (PostgreSQL not found: postgres-only tests skipped)",
        f"Redis {settings.REDIS_URL} prefix {settings.TEST_KEY_PREFIX}"
        if services["redis"]
        else "no Redis (redis-only tests skipped)",
    ]
    return "services: " + "; ".join(parts) + ("; REQUIRE_SERVICES=1" if REQUIRED else "")


def pytest_configure(config):
    missing = [name for name, up in _services().items() if not up]
    if REQUIRED and missing:
        raise pytest.UsageError(
            f"REQUIRE_SERVICES=1 but {', '.join(missing)} is not available "
            "(set DATABASE_URL / REDIS_URL or start the service)."
        )


def pytest_report_header(config):
    return _summary()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_line(_summary())


def pytest_collection_modifyitems(config, items):
    services = _services()
    for item in items:
        for name in ("redis", "postgres"):
            if item.get_closest_marker(name) and not services[name]:
                item.add_marker(pytest.mark.skip(reason=f"{name} not available on this machine"))


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_prefix():
    """Remove every Redis key this run wrote under its own prefix."""
    yield
    if not _services()["redis"]:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for key in client.scan_iter(match=f"*{settings.TEST_KEY_PREFIX}*", count=1000):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def redis_client():
    """A raw client on the test Redis (only for tests marked ``redis``)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def reader(db):
    from tests.factories import UserFactory

    return UserFactory(username="reader")


@pytest.fixture
def editor(db):
    from tests.factories import UserFactory, grant

    user = UserFactory(username="editor")
    grant(user, "add_aimodel", "change_aimodel", "delete_aimodel")
    return user


@pytest.fixture
def staff(db):
    from tests.factories import UserFactory

    return UserFactory(username="staff", is_staff=True, is_superuser=True)
