"""``import_catalog``: unreadable files, the integrity guard, URLs, --deactivate-missing, --actor."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError
from django.test import override_settings

from models_registry import services
from models_registry.catalog import catalog_import
from models_registry.exceptions import CatalogError, CatalogIntegrityError
from models_registry.models import AIModel, Provider
from tests.factories import AIModelFactory, UserFactory
from tests.models_registry.test_import_support import (
    ODDITIES,
    OPENROUTER,
    run_import,
    summary_of,
    synthetic_litellm,
    write_litellm,
)

pytestmark = pytest.mark.django_db


def _nothing_written():
    return AIModel.objects.count() == 0 and Provider.objects.count() == 0 and AIModel.history.count() == 0


# --- files that cannot be imported -------------------------------------------------------------------


def test_truncated_file_is_a_clean_error(tmp_path):
    text = ODDITIES.read_text(encoding="utf-8")
    path = tmp_path / "truncated.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(CommandError, match=r"not valid JSON \(the file looks truncated\)"):
        run_import(path, "--format", "litellm")
    assert _nothing_written()


def test_non_utf8_file_is_a_clean_error(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"caf\u00e9-model": {"litellm_provider": "openai", "mode": "chat"}}'.encode("latin-1"))
    with pytest.raises(CommandError, match=r"not UTF-8 text \(byte 0xe9 at offset 5"):
        run_import(path, "--format", "litellm")
    assert _nothing_written()


def test_openrouter_file_with_litellm_format_is_refused():
    with pytest.raises(CommandError, match="looks like an OpenRouter catalogue.*--format openrouter"):
        run_import(OPENROUTER, "--format", "litellm")
    assert _nothing_written()


def test_litellm_file_with_openrouter_format_is_refused():
    with pytest.raises(CommandError, match="looks like a LiteLLM catalogue.*--format litellm"):
        run_import(ODDITIES, "--format", "openrouter")
    assert _nothing_written()


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        ("[1, 2, 3]", "litellm", "top level is a JSON list"),
        ('{"a": {"mode": "chat"}}', "litellm", "no entry has a 'litellm_provider'"),
        ("{}", "litellm", "no entry has a 'litellm_provider'"),
        ('{"data": {}}', "openrouter", "expected"),
        ("", "litellm", "the file is empty"),
        ('{"a": NaN}', "litellm", "not valid JSON"),
    ],
)
def test_other_unusable_files(tmp_path, content, fmt, message):
    path = tmp_path / "x.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        catalog_import(source=str(path), fmt=fmt)
    assert _nothing_written()


def test_missing_file_and_size_cap(tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        run_import(tmp_path / "nope.json", "--format", "litellm")
    with override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "IMPORT_MAX_BYTES": 1000}):
        with pytest.raises(CommandError, match="over the 1000-byte limit"):
            run_import(ODDITIES, "--format", "litellm")
    assert _nothing_written()


def test_command_exits_non_zero_with_the_message(tmp_path):
    path = tmp_path / "truncated.json"
    path.write_text('{"gpt-4o": {"litellm_provider": "openai", "mode": ', encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "manage.py", "import_catalog", str(path), "--format", "litellm"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "not valid JSON" in done.stderr
    assert "created=" not in done.stdout


# --- URLs and the integrity guard --------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path):
    """``(directory, base_url)``: files written to ``directory`` are served on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_small_catalogue_from_url_is_refused_unless_forced(http_dir):
    root, base = http_dir
    (root / "small.json").write_bytes(ODDITIES.read_bytes())
    with pytest.raises(CommandError, match="has 17 models, fewer than IMPORT_MIN_MODELS=50"):
        run_import(f"{base}/small.json", "--format", "litellm")
    assert _nothing_written()
    with pytest.raises(CatalogIntegrityError):
        catalog_import(source=f"{base}/small.json", fmt="litellm", dry_run=True)

    out, _ = run_import(f"{base}/small.json", "--format", "litellm", "--force")
    assert summary_of(out)["created"] == 17
    # the same small file from a path is fine: the minimum guards fetched catalogues
    out, _ = run_import(ODDITIES, "--format", "litellm")
    assert summary_of(out)["unchanged"] == 17


def test_large_enough_catalogue_from_url_imports(http_dir):
    root, base = http_dir
    write_litellm(root / "ok.json", synthetic_litellm(60))
    out, err = run_import(f"{base}/ok.json", "--format", "litellm")
    assert out.strip().splitlines()[-1] == "created=60 updated=0 unchanged=0 deactivated=0 skipped=0"
    model = AIModel.objects.get(key="testprov/m-7")
    assert model.history.first().history_change_reason == f"import litellm from {base}/ok.json"


def test_url_errors_are_clean(http_dir):
    _, base = http_dir
    with pytest.raises(CommandError, match="HTTP 404"):
        run_import(f"{base}/missing.json", "--format", "litellm")
    with pytest.raises(CommandError, match="cannot fetch"):
        run_import("http://127.0.0.1:9/none.json", "--format", "litellm")


def test_deactivate_missing_soft_deletes_only_that_source(tmp_path):
    write_litellm(tmp_path / "full.json", synthetic_litellm(10))
    run_import(tmp_path / "full.json", "--format", "litellm")
    manual = AIModelFactory(name="hand-made")
    catalog_import(source=str(OPENROUTER), fmt="openrouter")
    other_source = AIModel.objects.get(key="openrouter/openrouter/auto")

    kept = {k: v for k, v in synthetic_litellm(10).items() if int(k.split("-")[1]) < 6}
    write_litellm(tmp_path / "six.json", kept)
    out, _ = run_import(tmp_path / "six.json", "--format", "litellm", "--deactivate-missing")
    assert summary_of(out) == {"created": 0, "updated": 0, "unchanged": 6, "deactivated": 4, "skipped": 0}
    gone = AIModel.objects.filter(key__in=[f"testprov/m-{i}" for i in range(6, 10)])
    assert gone.count() == 4 and not gone.filter(is_active=True).exists()
    for model in gone:
        assert model.revision == 2 and model.history.count() == 2
    manual.refresh_from_db()
    other_source.refresh_from_db()
    assert manual.is_active and other_source.is_active

    # present upstream again: left inactive (staff decision or earlier sync), with a warning
    out, err = run_import(tmp_path / "full.json", "--format", "litellm")
    assert summary_of(out)["unchanged"] == 10
    assert "testprov/m-7 is inactive in the registry; left inactive" in err
    # without --deactivate-missing nothing is deactivated
    assert AIModel.objects.filter(source="litellm", is_active=True).count() == 6


def test_shrink_below_half_is_refused_unless_forced(tmp_path):
    write_litellm(tmp_path / "full.json", synthetic_litellm(10))
    run_import(tmp_path / "full.json", "--format", "litellm")
    history = AIModel.history.count()

    four = {k: v for k, v in synthetic_litellm(10).items() if int(k.split("-")[1]) < 4}
    write_litellm(tmp_path / "four.json", {**four, **synthetic_litellm(20, prefix="new")})
    with pytest.raises(CommandError, match="would deactivate 6 of the 10 active litellm models, leaving 4"):
        run_import(tmp_path / "four.json", "--format", "litellm", "--deactivate-missing")
    assert AIModel.objects.count() == 10 and AIModel.history.count() == history
    assert AIModel.objects.filter(is_active=True).count() == 10

    # the same file without --deactivate-missing is an ordinary import
    out, _ = run_import(tmp_path / "four.json", "--format", "litellm", "--dry-run")
    assert summary_of(out)["created"] == 20

    out, _ = run_import(tmp_path / "four.json", "--format", "litellm", "--deactivate-missing", "--force")
    assert summary_of(out) == {"created": 20, "updated": 0, "unchanged": 4, "deactivated": 6, "skipped": 0}


def test_shrink_to_exactly_half_is_allowed(tmp_path):
    write_litellm(tmp_path / "full.json", synthetic_litellm(10))
    run_import(tmp_path / "full.json", "--format", "litellm")
    half = {k: v for k, v in synthetic_litellm(10).items() if int(k.split("-")[1]) < 5}
    write_litellm(tmp_path / "half.json", half)
    out, _ = run_import(tmp_path / "half.json", "--format", "litellm", "--deactivate-missing")
    assert summary_of(out)["deactivated"] == 5


# --- dry run, actor, reason ----------------------------------------------------------------------------


def test_dry_run_on_a_populated_registry_changes_nothing(tmp_path):
    run_import(ODDITIES, "--format", "litellm")
    raw = json.loads(ODDITIES.read_text())
    raw["gpt-4o"]["input_cost_per_token"] = 5e-06
    raw.pop("gpt-4.1")
    path = write_litellm(tmp_path / "changed.json", raw)
    before = list(AIModel.objects.order_by("key").values())
    history = AIModel.history.count()
    out, _ = run_import(path, "--format", "litellm", "--dry-run", "--deactivate-missing")
    assert summary_of(out) == {"created": 0, "updated": 1, "unchanged": 15, "deactivated": 1, "skipped": 6}
    assert list(AIModel.objects.order_by("key").values()) == before
    assert AIModel.history.count() == history


def test_actor_and_reason(tmp_path):
    user = UserFactory(username="curator")
    run_import(ODDITIES, "--format", "litellm", "--actor", "curator", "--reason", "weekly sync")
    row = AIModel.objects.get(key="openai/gpt-4o").history.get()
    assert (row.history_user, row.history_change_reason) == (user, "weekly sync")


def test_default_actor_is_the_system_user():
    run_import(ODDITIES, "--format", "litellm")
    row = AIModel.objects.get(key="openai/gpt-4o").history.get()
    assert row.history_user == services.system_user_get()
    assert row.history_change_reason == f"import litellm from {ODDITIES}"


def test_unknown_actor_is_refused():
    with pytest.raises(CommandError, match="Unknown user 'nobody'"):
        run_import(ODDITIES, "--format", "litellm", "--actor", "nobody")
    assert _nothing_written()


def test_progress_callback_and_report_api():
    calls = []
    report = catalog_import(source=str(ODDITIES), fmt="litellm", progress=lambda *a: calls.append(a))
    assert ("write", 17, 17) in calls and calls[-1] == ("write", 17, 17)
    assert any(stage == "map" for stage, _, _ in calls)
    assert report.counts() == {"created": 17, "updated": 0, "unchanged": 0, "deactivated": 0, "skipped": 6}
    assert report.models_in_file == 17


def test_unknown_format_is_refused():
    with pytest.raises(CatalogError, match="Unknown catalogue format 'yaml'"):
        catalog_import(source=str(ODDITIES), fmt="yaml")
