"""Fixtures of the packaging tests, built once for the package (in this order): the wheel, a fresh
virtual environment with it, the host project (with its own PostgreSQL database and roles when
the test settings use PostgreSQL), the host migrated and loaded, the host served by runserver,
and this checkout's project in production mode on the installed wheel, served by gunicorn."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings

from .support import (
    COMMAND_TIMEOUT,
    HOST_TEMPLATE,
    PACKAGES,
    PIP_TIMEOUT,
    ROLES_SQL,
    ROOT,
    Host,
    clean_env,
    free_port,
    run,
    serving,
)


@pytest.fixture(scope="package")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="package")
def wheel(workdir) -> Path:
    """The wheel, built from a copy of the packages and build metadata (never inside the checkout:
    an in-tree build would write ``build/`` and ``*.egg-info`` into the working tree), with build
    isolation, so the ``[build-system]`` table is what builds it."""
    source = workdir / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    for pattern in ("pyproject.toml", "README*", "NOTICE*", "LICEN[CS]E*", "AUTHORS*", "COPYING*"):
        for path in ROOT.glob(pattern):
            shutil.copy2(path, source / path.name)
    out = workdir / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", out, source],
        env=clean_env(),
        timeout=PIP_TIMEOUT,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="package")
def venv(workdir, wheel) -> Path:
    """A fresh virtual environment with the wheel, its declared dependencies and its ``prod`` extra
    (what the Dockerfile installs); its python."""
    path = workdir / "venv"
    run([sys.executable, "-m", "venv", path])
    python = path / "bin" / "python"
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{wheel}[prod]",
        ],
        env=clean_env(),
        timeout=PIP_TIMEOUT,
    )
    return python


def _postgres_admin() -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        "PGHOST": str(db.get("HOST") or "127.0.0.1"),
        "PGPORT": str(db.get("PORT") or "5432"),
        "PGUSER": str(db.get("USER") or "postgres"),
        "PGPASSWORD": str(db.get("PASSWORD") or ""),
        "PGDATABASE": "postgres",
    }


@pytest.fixture(scope="package")
def host(workdir, venv):
    """The host project (a copy of ``host_project/``). On PostgreSQL: its own database and owner and
    runtime roles from ``deploy/postgres/roles.sql``, named after this process, dropped after."""
    path = workdir / "host"
    shutil.copytree(HOST_TEMPLATE, path, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    host = Host(path=path, python=venv, secret_key=secrets.token_urlsafe(50))
    if not (settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and shutil.which("psql")):
        yield host
        return

    suffix = os.getpid()
    names = {"db": f"mr_pkg_{suffix}", "owner": f"mr_pkg_{suffix}_owner", "app": f"mr_pkg_{suffix}_app"}
    passwords = {"owner_password": secrets.token_urlsafe(24), "app_password": secrets.token_urlsafe(24)}
    admin = _postgres_admin()
    psql_env = clean_env(**admin)
    variables = [arg for name, value in {**names, **passwords}.items() for arg in ("-v", f"{name}={value}")]
    try:
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *variables, "-f", ROLES_SQL], env=psql_env)
        common = {
            "HOST_DB_NAME": names["db"],
            "HOST_DB_HOST": admin["PGHOST"],
            "HOST_DB_PORT": admin["PGPORT"],
        }
        host.db = {**common, "HOST_DB_USER": names["app"], "HOST_DB_PASSWORD": passwords["app_password"]}
        host.owner = {
            **common,
            "HOST_DB_USER": names["owner"],
            "HOST_DB_PASSWORD": passwords["owner_password"],
        }
        yield host
    finally:
        drop = [
            f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)',
            f'DROP ROLE IF EXISTS "{names["app"]}"',
            f'DROP ROLE IF EXISTS "{names["owner"]}"',
        ]
        subprocess.run(
            ["psql", "-X", "-q", *[arg for sql in drop for arg in ("-c", sql)]],
            env=psql_env,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
        )


@pytest.fixture(scope="package")
def migrated(host) -> dict[str, str]:
    """Migrate (as the owner role), then load the bundled catalogue and create an admin user and
    its API token (as the runtime role). Returns the outputs and credentials."""
    migrate = host.manage("migrate", "--noinput", as_owner=True)
    load = host.manage("load_bundled_catalog")
    password = secrets.token_urlsafe(18)
    host.manage(
        "createsuperuser",
        "--noinput",
        "--username=admin",
        "--email=admin@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": password},
    )
    token = host.manage("drf_create_token", "admin").stdout.split()[2]  # "Generated token KEY for user admin"
    return {"migrate": migrate.stdout, "load": load.stdout, "password": password, "token": token}


@pytest.fixture(scope="package")
def server(host, migrated, workdir):
    """The host project served by ``runserver --noreload`` (as the runtime role); its base URL."""
    base = f"http://127.0.0.1:{free_port()}"
    with serving(
        [host.python, "manage.py", "runserver", "--noreload", base.removeprefix("http://")],
        cwd=host.path,
        env=host.env(),
        probe_url=f"{base}/admin/login/",
        log_path=workdir / "runserver.log",
    ):
        yield base


def _database_url(host: Host) -> str:
    if not host.postgres:
        return f"sqlite:///{host.path / 'host.sqlite3'}"
    db = host.db
    return (
        f"postgres://{db['HOST_DB_USER']}:{urllib.parse.quote(db['HOST_DB_PASSWORD'])}"
        f"@{db['HOST_DB_HOST']}:{db['HOST_DB_PORT']}/{db['HOST_DB_NAME']}"
    )


@pytest.fixture(scope="package")
def production(host, migrated, workdir):
    """This checkout's project (``config/`` and ``manage.py``, as the Dockerfile copies them) on top
    of the installed wheel, with production settings and the documented environment, on the host's
    database (runtime role): ``check --deploy``, ``collectstatic``, then gunicorn with
    ``config/gunicorn.conf.py``. Yields the base URL, the commands' output and the folders."""
    from cryptography.fernet import Fernet

    project = workdir / "project"
    project.mkdir()
    shutil.copy2(ROOT / "manage.py", project / "manage.py")
    shutil.copytree(ROOT / "config", project / "config", ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    bin_dir = host.python.parent
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=_database_url(host),
        MODEL_REGISTRY_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "prometheus"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="2",
    )
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    (workdir / "prometheus").mkdir()  # every process with PROMETHEUS_MULTIPROC_DIR set needs it
    manage = [host.python, "manage.py"]
    check = run([*manage, "check", "--deploy", "--fail-level", "WARNING"], cwd=project, env=env)
    collect = run([*manage, "collectstatic", "--noinput"], cwd=project, env=env)
    (workdir / "prometheus" / "counter_999999.db").write_bytes(b"left over from a previous run")

    base = f"http://127.0.0.1:{port}"
    log_path = workdir / "gunicorn.log"
    with serving(
        [bin_dir / "gunicorn", "-c", "config/gunicorn.conf.py"],
        cwd=project,
        env=env,
        probe_url=f"{base}/health/live/",
        log_path=log_path,
    ):
        yield {
            "base": base,
            "check": check.stdout + check.stderr,
            "collect": collect.stdout,
            "static": workdir / "static",
            "prometheus": workdir / "prometheus",
            "log": log_path,
        }
