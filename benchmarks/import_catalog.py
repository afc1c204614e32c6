"""Benchmark the catalogue importer on PostgreSQL and print the figures as JSON.

    .venv/bin/python benchmarks/import_catalog.py [--pg postgres://postgres@127.0.0.1:5432] [--no-latest]

Creates its own database (``bench_import_<pid>``) on the server, migrates it, runs the phases
below through ``catalog_import`` and drops the database afterwards:

- sequence A: LiteLLM 1.74.0 into an empty registry (all creates), the same file again (no-op),
  then the latest LiteLLM release from PyPI on top (≈4,800 models: creates and updates);
- sequence B (empty registry again): 1.14.4 → 1.53.1 → 1.74.0.

Per phase: seconds, models/s, SQL queries, the import summary, and the time spent reading and
mapping the file alone (no database). The raw baseline is measured in the same run: a plain
psycopg ``COPY`` (and an ``executemany`` INSERT) of the same number of rows, with the same kind of
columns (text, numbers, three JSONB maps), into a scratch table; ``ratio`` = phase seconds /
COPY seconds.

Snapshots come from /work/shared/catalogs/ or the bundled file; other releases are fetched with
``pip download --no-deps --only-binary :all: litellm[==VERSION]`` and cached in benchmarks/.data/.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from common import admin_sql  # benchmarks/ is sys.path[0] as a script

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / ".data"
SHARED = Path("/work/shared/catalogs")
BUNDLED = ROOT / "models_registry" / "data" / "litellm-1.74.0.json"
MEMBER = "litellm/model_prices_and_context_window_backup.json"


# --- catalogue files ------------------------------------------------------------------------------


def _wheel(spec: str, refresh: bool) -> Path:
    wheels = DATA / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    version = spec.partition("==")[2]
    pattern = f"litellm-{version or '*'}-*.whl"
    found = sorted(glob.glob(str(wheels / pattern)))
    if found and not refresh:
        return Path(found[-1])
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            spec,
            "-d",
            str(wheels),
        ],
        check=True,
    )
    found = sorted(glob.glob(str(wheels / pattern)), key=os.path.getmtime)
    return Path(found[-1])


def snapshot(version: str | None, refresh: bool = False) -> tuple[str, Path]:
    """``(version, path)`` of a LiteLLM catalogue; ``version=None`` is the latest on PyPI."""
    if version == "1.74.0":
        return version, BUNDLED
    if version and (SHARED / f"litellm-{version}.json").exists():
        return version, SHARED / f"litellm-{version}.json"
    wheel = _wheel(f"litellm=={version}" if version else "litellm", refresh)
    found_version = wheel.name.split("-")[1]
    target = DATA / f"litellm-{found_version}.json"
    if not target.exists():
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(MEMBER))
    return found_version, target


# --- database -----------------------------------------------------------------------------------------


def _setup_django(server: str, name: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{name}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _reset_registry() -> None:
    from django.core.management import call_command

    call_command("flush", verbosity=0, interactive=False)


# --- phases ----------------------------------------------------------------------------------------------


def _map_only(path: Path) -> tuple[float, int]:
    from models_registry.catalog import litellm
    from models_registry.catalog.loader import load_catalog

    started = time.perf_counter()
    loaded = load_catalog(str(path))
    mapped = litellm.map_catalog(loaded.data, duplicates=loaded.duplicates)
    return time.perf_counter() - started, len(mapped.items)


def run_phase(label: str, version: str, path: Path) -> dict:
    from django.db import connection

    from models_registry.catalog import catalog_import

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    map_seconds, models = _map_only(path)
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        report = catalog_import(source=str(path), fmt="litellm", reason=f"benchmark {label}")
    seconds = time.perf_counter() - started
    return {
        "phase": label,
        "litellm": version,
        "models": models,
        "seconds": round(seconds, 3),
        "models_per_s": round(models / seconds, 1),
        "queries": queries,
        "read_and_map_seconds": round(map_seconds, 3),
        "summary": report.counts(),
    }


# --- raw baseline ---------------------------------------------------------------------------------------

SCRATCH_DDL = """
CREATE TEMP TABLE bench_raw (
    id bigserial PRIMARY KEY, key varchar(400) UNIQUE, name varchar(255), provider varchar(100),
    mode varchar(64), context_window bigint, max_output_tokens bigint,
    input_cost_per_1m numeric(24, 12), output_cost_per_1m numeric(24, 12),
    pricing jsonb, capabilities jsonb, metadata jsonb, revision int
)
"""
COLUMNS = (
    "key, name, provider, mode, context_window, max_output_tokens, input_cost_per_1m, "
    "output_cost_per_1m, pricing, capabilities, metadata, revision"
)


def _raw_rows(path: Path) -> list[tuple]:
    from psycopg.types.json import Jsonb

    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for model_id, entry in data.items():
        if not isinstance(entry, dict) or "litellm_provider" not in entry:
            continue
        pricing = {k: str(v) for k, v in entry.items() if "cost" in k and not isinstance(v, dict | list)}
        caps = {k: v for k, v in entry.items() if k.startswith("supports_")}
        meta = {k: v for k, v in entry.items() if k in ("rpm", "tpm", "supported_endpoints", "metadata")}
        window = entry.get("max_input_tokens") or entry.get("max_tokens")
        rows.append(
            (
                f"{entry['litellm_provider']}/{model_id}",
                model_id[:255],
                str(entry["litellm_provider"])[:100],
                "chat",
                int(window) if isinstance(window, int | float) and window > 0 else None,
                None,
                entry.get("input_cost_per_token")
                if isinstance(entry.get("input_cost_per_token"), float)
                else None,
                None,
                Jsonb(pricing),
                Jsonb(caps),
                Jsonb(meta),
                1,
            )
        )
    return rows


def raw_baseline(server: str, name: str, path: Path) -> dict:
    """Plain psycopg COPY and executemany of the file's rows into a scratch table."""
    import psycopg

    rows = _raw_rows(path)
    out = {"rows": len(rows)}
    with psycopg.connect(f"{server}/{name}") as conn:
        conn.execute(SCRATCH_DDL)
        conn.commit()
        for method in ("copy", "executemany"):
            conn.execute("TRUNCATE bench_raw")
            conn.commit()
            started = time.perf_counter()
            with conn.cursor() as cur:
                if method == "copy":
                    with cur.copy(f"COPY bench_raw ({COLUMNS}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    placeholders = ", ".join(["%s"] * 12)
                    cur.executemany(f"INSERT INTO bench_raw ({COLUMNS}) VALUES ({placeholders})", rows)
            conn.commit()
            out[f"{method}_seconds"] = round(time.perf_counter() - started, 4)
    return out


# --- main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL.")
    parser.add_argument("--no-latest", action="store_true", help="Skip the latest release (no download).")
    parser.add_argument("--refresh", action="store_true", help="Download the latest release again.")
    args = parser.parse_args()

    files = {v: snapshot(v) for v in ("1.14.4", "1.53.1", "1.74.0")}
    latest = None if args.no_latest else snapshot(None, refresh=args.refresh)
    name = f"bench_import_{os.getpid()}"
    admin_sql(args.pg, f'CREATE DATABASE "{name}"')
    try:
        _setup_django(args.pg, name)
        phases = []
        v, p = files["1.74.0"]
        phases.append(run_phase("A1 1.74.0 into an empty registry", v, p))
        phases.append(run_phase("A2 1.74.0 again (no-op)", v, p))
        if latest:
            phases.append(run_phase(f"A3 latest {latest[0]} on top of 1.74.0", *latest))
        _reset_registry()
        for label, key in (
            ("B1 1.14.4 into an empty registry", "1.14.4"),
            ("B2 1.53.1 on top", "1.53.1"),
            ("B3 1.74.0 on top", "1.74.0"),
        ):
            phases.append(run_phase(label, *files[key]))

        baselines = {}
        for phase in phases:
            path = latest[1] if latest and phase["litellm"] == latest[0] else files[phase["litellm"]][1]
            if phase["litellm"] not in baselines:
                baselines[phase["litellm"]] = raw_baseline(args.pg, name, path)
            base = baselines[phase["litellm"]]
            phase["raw_copy_seconds"] = base["copy_seconds"]
            phase["raw_executemany_seconds"] = base["executemany_seconds"]
            phase["ratio_vs_copy"] = round(phase["seconds"] / base["copy_seconds"], 1)
            phase["ratio_vs_executemany"] = round(phase["seconds"] / base["executemany_seconds"], 1)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        admin_sql(args.pg, f'DROP DATABASE IF EXISTS "{name}"')

    import django

    print(
        json.dumps(
            {
                "database": "postgresql",
                "python": sys.version.split()[0],
                "django": django.get_version(),
                "phases": phases,
                "raw_baselines": baselines,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
