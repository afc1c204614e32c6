"""``config/gunicorn.conf.py``: settings from the environment, the JSON access log format and the
prometheus-client multiprocess hooks, evaluated the way gunicorn does (a Python file run as code).
gunicorn serving for real is covered by ``test_installed_app.py`` and tests/observability."""

from __future__ import annotations

import json
import multiprocessing
import runpy
from collections import defaultdict
from types import SimpleNamespace

import pytest

from .support import ROOT

CONF = ROOT / "config" / "gunicorn.conf.py"
VARIABLES = (
    "GUNICORN_BIND",
    "PORT",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_ACCESS_LOG",
    "GUNICORN_CONTROL_SOCKET",
    "PROMETHEUS_MULTIPROC_DIR",
)


@pytest.fixture
def load(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def load_with(**env: str) -> dict:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return load_with


def test_defaults(load):
    conf = load()
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["workers"] == 2 * multiprocessing.cpu_count() + 1
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] == 4
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["timeout"] == 30
    assert conf["accesslog"] == "-"
    assert conf["preload_app"] is False
    assert conf["control_socket_disable"] is True
    assert conf["wsgi_app"] == "config.wsgi:application"


def test_environment_overrides(load):
    conf = load(
        GUNICORN_BIND="127.0.0.1:9001,unix:/run/mr.sock",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        GUNICORN_MAX_REQUESTS="0",
        GUNICORN_ACCESS_LOG="",
        GUNICORN_CONTROL_SOCKET="/run/mr/gunicorn.ctl",
    )
    assert conf["bind"] == ["127.0.0.1:9001", "unix:/run/mr.sock"]
    assert (conf["workers"], conf["threads"], conf["max_requests"]) == (3, 8, 0)
    assert conf["accesslog"] is None
    assert conf["control_socket_disable"] is False
    assert conf["control_socket"] == "/run/mr/gunicorn.ctl"


def test_port_binds_every_interface_unless_a_bind_is_given(load):
    assert load(PORT="8080")["bind"] == ["0.0.0.0:8080"]
    assert load(PORT="8080", GUNICORN_BIND="127.0.0.1:1")["bind"] == ["127.0.0.1:1"]


def test_access_log_lines_are_json_with_the_request_id(load):
    template = load()["access_log_format"]
    atoms = defaultdict(lambda: 'va"lue')  # gunicorn escapes quotes in atoms; mimic that
    atoms.update({"{x-request-id}o": "req-1", "s": "200"})
    line = template % _Escaped(atoms)
    entry = json.loads(line)
    assert entry["request_id"] == "req-1"
    assert entry["status"] == "200"
    assert {"time", "remote", "method", "path", "duration_us", "user_agent"} <= set(entry)


class _Escaped(dict):
    """Atoms as gunicorn hands them to the format: double quotes escaped."""

    def __init__(self, atoms):
        super().__init__()
        self.atoms = atoms

    def __getitem__(self, key):
        return self.atoms[key].replace('"', '\\"')


def test_on_starting_empties_or_creates_the_multiprocess_directory(load, tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "nested").mkdir()
    (directory / "nested" / "x").write_bytes(b"stale")
    server = SimpleNamespace(log=SimpleNamespace(info=lambda *args: None))

    load(PROMETHEUS_MULTIPROC_DIR=str(directory))["on_starting"](server)
    assert list(directory.iterdir()) == []

    missing = tmp_path / "new" / "prometheus"
    load(PROMETHEUS_MULTIPROC_DIR=str(missing))["on_starting"](server)
    assert missing.is_dir()


def test_on_starting_does_nothing_without_the_variable(load, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "counter_1.db").write_bytes(b"kept")
    load()["on_starting"](None)  # would fail on any use of the server (its log)
    assert [p.name for p in tmp_path.iterdir()] == ["counter_1.db"]


def test_child_exit_marks_the_worker_dead(load, tmp_path, monkeypatch):
    from prometheus_client import multiprocess

    dead = []
    monkeypatch.setattr(multiprocess, "mark_process_dead", dead.append)
    conf = load(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    conf["child_exit"](None, SimpleNamespace(pid=4242))
    assert dead == [4242]

    dead.clear()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    conf["child_exit"](None, SimpleNamespace(pid=4243))
    assert dead == []
