"""Helpers of the packaging tests: clean subprocess environments, commands that fail loudly, the
host project's manage.py as one database role or the other, servers started and waited for,
HTTP requests with the standard library only."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST_TEMPLATE = Path(__file__).resolve().parent / "host_project"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
PACKAGES = ("models_registry", "caching", "versioning")
PIP_TIMEOUT = 600
COMMAND_TIMEOUT = 180
START_TIMEOUT = 60


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a process of the new virtual environment: nothing of this checkout's
    Django, database or Python path settings leaks into it (pip's own configuration does)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update({name: value for name, value in os.environ.items() if name.startswith("PIP_")})
    env.update(extra)
    return env


def run(args, *, cwd=None, env=None, timeout=COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a command; a non-zero exit fails the test with the tail of its output."""
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(str(a) for a in args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


def package_files() -> set[str]:
    """Every file of the three packages in the checkout that belongs in the wheel."""
    files = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            if path.name.startswith(".") or path.name.endswith("~"):
                continue
            files.add(path.relative_to(ROOT).as_posix())
    return files


@dataclass
class Host:
    """The host project folder and how to run its manage.py as one database role or the other."""

    path: Path
    python: Path
    secret_key: str
    db: dict[str, str] = field(default_factory=dict)  # HOST_DB_* of the runtime role (empty: SQLite)
    owner: dict[str, str] = field(default_factory=dict)  # HOST_DB_* of the owner role (migrations)

    @property
    def postgres(self) -> bool:
        return bool(self.db)

    def env(self, *, as_owner: bool = False, **extra: str) -> dict[str, str]:
        return clean_env(HOST_SECRET_KEY=self.secret_key, **(self.owner if as_owner else self.db), **extra)

    def manage(self, *args, as_owner: bool = False, env: dict[str, str] | None = None, **kwargs):
        return run(
            [self.python, "manage.py", *args],
            cwd=self.path,
            env={**self.env(as_owner=as_owner), **(env or {})},
            **kwargs,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(args, *, cwd: Path, env: dict[str, str], probe_url: str, log_path: Path) -> Iterator[None]:
    """Start a server process, wait until ``probe_url`` answers (any HTTP status), stop it after."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(a) for a in args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    urllib.request.urlopen(probe_url, timeout=10).close()
                    break
                except urllib.error.HTTPError:
                    break
                except (urllib.error.URLError, OSError):  # refused, reset, or a worker still booting
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        pytest.fail(f"{args[0]} did not start:\n{log_path.read_text()[-4000:]}")
                    time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def fetch(url, *, token=None, method="GET", body=None, opener=None, headers=None):
    """(status, parsed JSON or text) of one request; HTTP errors are answers, not exceptions."""
    headers = {"Accept": "application/json", **(headers or {})}
    data = None
    if token:
        headers["Authorization"] = f"Token {token}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get_content_type()
    text = raw.decode()
    return status, (json.loads(text) if kind == "application/json" and text else text)
