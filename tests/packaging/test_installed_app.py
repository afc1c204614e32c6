"""The distribution is complete: the wheel, installed into a fresh virtual environment with a
minimal host project, migrates, loads its bundled catalogue and serves the API and the admin.

Steps (package-scoped fixtures in ``conftest.py``, built once; about 40-60 s in all on an idle
machine, most of it the pip install of the dependencies):

1. copy the packages and build metadata to a temporary folder and build the wheel there
   (``pip wheel --no-deps``, with build isolation: the ``[build-system]`` table is what builds it);
2. check that every file of the three packages (migrations, templates, Lua scripts, bundled
   catalogue, static files if any) is in it, and nothing else (no ``config``, no ``tests``);
3. create a virtual environment with ``python -m venv`` and ``pip install`` the wheel with its
   ``prod`` extra; only its declared dependencies are there, so one missing from
   ``pyproject.toml`` makes the later steps fail; the apps must be imported from that
   environment, never from the checkout;
4. copy ``host_project/`` (the settings README's "Reusing the app" section asks for, no
   ``MODEL_REGISTRY`` dict, no cache alias, no Celery), then ``migrate``, ``check``,
   ``load_bundled_catalog``, ``createsuperuser``, ``drf_create_token`` and ``runserver``;
5. over HTTP: the API with the token, anonymous refusal, a write, health and metrics, the admin
   login and pages;
6. this checkout's ``config/`` and ``manage.py`` (what the Dockerfile copies) on the installed
   wheel with production settings: ``check --deploy``, ``collectstatic``, gunicorn with
   ``config/gunicorn.conf.py`` — static files, SSL redirect and HSTS, JSON access log lines, the
   Prometheus multiprocess directory.

pip resolves the dependencies from the configured package index (its cache makes repeated runs
cheap); ``PIP_*`` variables (e.g. ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``) reach it, for offline use.

On PostgreSQL (the test settings' database) the host gets its own database and two roles from
``deploy/postgres/roles.sql`` (names suffixed with this process's id, dropped afterwards):
migrations run as the owner role and everything else — the server included — as the runtime
role, which must not be able to change the schema. Without PostgreSQL the host uses SQLite.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import secrets
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .support import PACKAGES, ROOT, clean_env, fetch, package_files, run

pytestmark = pytest.mark.packaging

BUNDLED_MODELS = 1139  # models in models_registry/data/litellm-1.74.0.json (README)

# Named so that a packaging rule that drops a whole kind of file fails with a readable message.
EXPECTED_MEMBERS = (
    "models_registry/migrations/0001_initial.py",
    "models_registry/migrations/0002_json_gin_indexes.py",
    "caching/migrations/0001_initial.py",
    "versioning/migrations/0001_initial.py",
    "models_registry/management/commands/load_bundled_catalog.py",
    "models_registry/management/commands/import_catalog.py",
    "models_registry/data/litellm-1.74.0.json",
    "models_registry/data/NOTICE",
    "models_registry/templates/models_registry/admin/index.html",
    "caching/templates/caching/admin/dashboard.html",
    "versioning/templates/versioning/admin/diff.html",
    "caching/lua/fill.lua",
    "caching/lua/invalidate.lua",
    "caching/lua/bump_generation.lua",
)


# -- the wheel --------------------------------------------------------------------------------


def test_wheel_contains_every_package_file_and_nothing_else(wheel):
    members = set(zipfile.ZipFile(wheel).namelist())
    missing_named = [name for name in EXPECTED_MEMBERS if name not in members]
    assert not missing_named, f"named files missing from the wheel: {missing_named}"
    missing = sorted(package_files() - members)
    assert not missing, f"files of the packages missing from the wheel (package-data?): {missing}"
    top_level = {
        name.split("/", 1)[0] for name in members if not name.split("/", 1)[0].endswith(".dist-info")
    }
    assert top_level == set(PACKAGES)


def test_wheel_metadata_matches_pyproject(wheel):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert f"Version: {project['version']}" in metadata
    declared = {_name(match) for match in re.findall(r"^Requires-Dist: ([A-Za-z0-9._-]+)", metadata, re.M)}
    wanted = {
        _name(re.match(r"[A-Za-z0-9._-]+", dependency).group()) for dependency in project["dependencies"]
    }
    assert wanted <= declared, f"not declared in the wheel: {wanted - declared}"
    assert {"gunicorn", "whitenoise"} <= declared  # the prod extra


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", requirement).lower()


# -- the fresh virtual environment ------------------------------------------------------------


def test_apps_are_imported_from_the_new_environment_not_the_checkout(host, venv):
    code = (
        "import json, sys, importlib.metadata as m, models_registry, caching, versioning;"
        "print(json.dumps({'files': [models_registry.__file__, caching.__file__, versioning.__file__],"
        "'version': m.version('django-model-registry'), 'prefix': sys.prefix}))"
    )
    result = run([venv, "-c", code], cwd=host.path, env=clean_env())
    found = json.loads(result.stdout)
    site_packages = Path(found["prefix"]) / "lib"
    assert Path(found["prefix"]).resolve() == venv.parent.parent.resolve()
    for file in found["files"]:
        assert Path(file).resolve().is_relative_to(site_packages.resolve()), file
        assert not Path(file).resolve().is_relative_to(ROOT), file
    assert found["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    # Every declared dependency resolved and consistent.
    run([venv, "-m", "pip", "check"], env=clean_env())


# -- the host project -------------------------------------------------------------------------


def test_host_migrates_checks_and_loads_the_bundled_catalogue(host, migrated):
    plan = host.manage("showmigrations", "models_registry", "caching", "versioning").stdout
    assert "[X] 0001_initial" in plan
    assert "[ ]" not in plan, plan
    host.manage("check", "--fail-level", "WARNING")
    # The shipped migrations match the models under the host's settings.
    pending = host.manage("makemigrations", "--check", "--dry-run", *PACKAGES).stdout
    assert "No changes detected" in pending, pending
    assert f"created={BUNDLED_MODELS} " in migrated["load"], migrated["load"]


def test_app_settings_take_their_defaults_without_a_model_registry_dict(host, migrated):
    code = (
        "import json; from django.conf import settings;"
        "from models_registry.conf import registry_settings as s;"
        "from caching.remote import redis_client;"
        "print(json.dumps({'has_dict': hasattr(settings, 'MODEL_REGISTRY'), 'cache': s.CACHE_ENABLED,"
        "'l1_ttl': s.L1_TTL, 'approval': s.ROLLBACK_REQUIRES_APPROVAL, 'anonymous': s.ALLOW_ANONYMOUS_READS,"
        "'sensitive': list(s.SENSITIVE_METADATA_KEYS), 'l2': redis_client() is not None}))"
    )
    values = json.loads(host.manage("shell", "-c", code).stdout.strip().splitlines()[-1])
    assert values == {
        "has_dict": False,
        "cache": True,
        "l1_ttl": 5.0,
        "approval": True,
        "anonymous": False,
        "sensitive": ["api_key", "api_secret", "access_token", "endpoint_secret"],
        "l2": False,  # no "model_registry" cache alias: L1 only
    }


def test_host_serves_the_api_to_a_token_and_refuses_anonymous_clients(server, migrated):
    status, anonymous = fetch(f"{server}/api/v1/models/")
    assert status == 401, anonymous

    status, page = fetch(f"{server}/api/v1/models/?limit=5", token=migrated["token"])
    assert status == 200, page
    assert page["count"] > 1000
    assert len(page["results"]) == 5
    first = page["results"][0]
    assert {"id", "key", "provider", "name", "context_window", "input_cost_per_1m", "revision"} <= set(first)

    status, by_key = fetch(f"{server}/api/v1/models/by-key/{first['key']}", token=migrated["token"])
    assert status == 200, by_key
    assert by_key["id"] == first["id"]

    status, ready = fetch(f"{server}/health/")
    assert status == 200, ready
    assert ready["checks"]["database"]["status"] == "up"
    status, metrics = fetch(f"{server}/metrics")  # loopback is allowed by default
    assert status == 200
    assert "model_registry_http_request_duration_seconds" in metrics


def test_host_writes_through_the_api_as_the_runtime_role(server, migrated):
    token = migrated["token"]
    status, created = fetch(
        f"{server}/api/v1/models/",
        token=token,
        method="POST",
        body={"provider": "openai", "name": "packaging-host-model", "context_window": 8192},
    )
    assert status == 201, created
    assert created["key"] == "openai/packaging-host-model"
    status, versions = fetch(f"{server}/api/v1/models/{created['id']}/versions/", token=token)
    assert status == 200, versions
    assert [v["number"] for v in versions["results"]] == [1]

    status, updated = fetch(
        f"{server}/api/v1/models/{created['id']}/",
        token=token,
        method="PATCH",
        body={"context_window": 16384},
    )
    assert status == 200, updated
    assert updated["context_window"] == 16384
    assert updated["revision"] == created["revision"] + 1


def test_host_serves_the_admin_with_the_packaged_templates(server, migrated):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, login_page = fetch(f"{server}/admin/login/", opener=opener)
    assert status == 200
    assert 'name="csrfmiddlewaretoken"' in login_page
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = urllib.parse.urlencode(
        {
            "username": "admin",
            "password": migrated["password"],
            "csrfmiddlewaretoken": csrf,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{server}/admin/login/?next=/admin/", data=form, headers={"Referer": f"{server}/admin/login/"}
    )
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
        assert response.url.rstrip("/").endswith("/admin")

    # Each page renders a template of the wheel (the index is models_registry's index_template).
    pages = {
        "/admin/": 'id="registry-catalogue-stats"',
        "/admin/caching/invalidationevent/dashboard/": "Figures (this process and Redis)",
        "/admin/models_registry/aimodel/?q=gpt-4o": "gpt-4o",
    }
    for path, marker in pages.items():
        status, page = fetch(f"{server}{path}", opener=opener)
        assert status == 200, (path, page[:500])
        assert marker in page, path
        assert "Log out" in page, path


def test_runtime_role_cannot_change_the_schema(host, migrated):
    if not host.postgres:
        pytest.skip("the host runs on SQLite here (no PostgreSQL roles to check)")
    import psycopg

    db = host.db
    with psycopg.connect(
        host=db["HOST_DB_HOST"],
        port=db["HOST_DB_PORT"],
        user=db["HOST_DB_USER"],
        password=db["HOST_DB_PASSWORD"],
        dbname=db["HOST_DB_NAME"],
        autocommit=True,
    ) as connection:
        row = connection.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        assert row.fetchone() == (False, False, False)
        for statement in (
            "CREATE TABLE packaging_probe (id int)",
            "ALTER TABLE models_registry_aimodel ADD COLUMN probe int",
            "TRUNCATE models_registry_aimodel CASCADE",
            "DROP TABLE models_registry_provider CASCADE",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)


# -- the project in production mode on the installed wheel -----------------------------------

HTTPS = {"X-Forwarded-Proto": "https"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_production_settings_pass_the_deploy_check_and_collect_static(production):
    assert "System check identified no issues" in production["check"], production["check"]
    assert "static files copied" in production["collect"]
    manifest = json.loads((production["static"] / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    assert hashed != "admin/css/base.css"  # content hash in the name
    assert (production["static"] / f"{hashed}.gz").is_file()  # compressed copy


def test_gunicorn_serves_static_files_health_and_the_api(production, migrated):
    base = production["base"]
    with urllib.request.urlopen(
        urllib.request.Request(f"{base}/static/admin/css/base.css", headers=HTTPS)
    ) as r:
        assert r.status == 200
        assert r.headers.get_content_type() == "text/css"
        assert b"body" in r.read()
    hashed = json.loads((production["static"] / "staticfiles.json").read_text())["paths"][
        "admin/css/base.css"
    ]
    request = urllib.request.Request(f"{base}/static/{hashed}", headers={**HTTPS, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert "immutable" in r.headers["Cache-Control"]

    status, login_page = fetch(f"{base}/admin/login/", headers=HTTPS)
    assert status == 200
    assert f"/static/{hashed}" in login_page  # pages link the hashed names

    status, page = fetch(f"{base}/api/v1/models/?limit=2", token=migrated["token"], headers=HTTPS)
    assert status == 200, page
    assert page["count"] > 1000

    status, ready = fetch(f"{base}/health/")  # plain http: health checks are not redirected
    assert status == 200, ready


def test_production_redirects_plain_http_and_sets_security_headers(production):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(f"{production['base']}/admin/login/", timeout=30)
        raise AssertionError("plain http was not redirected")
    except urllib.error.HTTPError as error:
        assert error.code == 301
        assert error.headers["Location"].startswith("https://")
    request = urllib.request.Request(f"{production['base']}/admin/login/", headers=HTTPS)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert "max-age=31536000" in response.headers["Strict-Transport-Security"]
        cookie = response.headers["Set-Cookie"] or ""
        assert "csrftoken" in cookie and "Secure" in cookie


def test_gunicorn_logs_json_access_lines_and_keeps_the_prometheus_contract(production):
    request_id = f"pkg-{secrets.token_hex(4)}"
    request = urllib.request.Request(
        f"{production['base']}/health/live/", headers={**HTTPS, "X-Request-ID": request_id}
    )
    urllib.request.urlopen(request, timeout=30).close()
    directory = production["prometheus"]
    assert not (directory / "counter_999999.db").exists()  # emptied by the master on start
    deadline = time.monotonic() + 10
    while True:  # the access line is written after the response
        lines = [
            line
            for line in production["log"].read_text().splitlines()
            if request_id in line and '"duration_us"' in line  # the access line, not the app's
        ]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert lines, production["log"].read_text()[-2000:]
    entry = json.loads(lines[0])
    assert entry["request_id"] == request_id
    assert entry["path"] == "/health/live/"
    assert entry["status"] == "200"
    assert any(directory.glob("*.db")), "no worker wrote prometheus multiprocess files"
