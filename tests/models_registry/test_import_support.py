"""Shared helpers for the importer tests (no tests here): paths, the command runner, and an
expectation of a LiteLLM entry computed straight from the raw JSON — written
independently of ``models_registry.catalog`` so the tests do not check the code against itself."""

from __future__ import annotations

import json
from decimal import Context, Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

import models_registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "catalogs"
ODDITIES = FIXTURES / "litellm_oddities.json"
OPENROUTER = FIXTURES / "openrouter_small.json"
BUNDLED = Path(models_registry.__file__).resolve().parent / "data" / "litellm-1.74.0.json"
SHARED = Path("/work/shared/catalogs")

_TWELVE = Context(prec=12)


def run_import(source, *args: str) -> tuple[str, str]:
    """``import_catalog`` through ``call_command``; returns (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("import_catalog", str(source), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary_of(stdout: str) -> dict[str, int]:
    """The counts of the command's last stdout line."""
    last = stdout.strip().splitlines()[-1]
    return {name: int(value) for name, value in (part.split("=") for part in last.split())}


def shared_snapshot(version: str) -> Path:
    path = SHARED / f"litellm-{version}.json"
    if not path.exists():
        pytest.skip(f"{path} not found: the shared LiteLLM snapshots live in /work/shared/catalogs/")
    return path


def write_litellm(path: Path, entries: dict) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def synthetic_litellm(count: int, *, prefix: str = "m", provider: str = "testprov") -> dict:
    return {
        f"{prefix}-{i}": {
            "litellm_provider": provider,
            "mode": "chat",
            "max_input_tokens": 1000 + i,
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06,
        }
        for i in range(count)
    }


# --- independent expectation of the LiteLLM mapping (columns only) -------------------------------


def expected_price(per_token) -> Decimal | None:
    """USD per 1M tokens: the float's shortest repr, 12 significant digits, × 10⁶."""
    if per_token is None:
        return None
    return _TWELVE.plus(Decimal(repr(float(per_token)))) * 1_000_000


def expected_tokens(value) -> int | None:
    if value is None or int(value) == 0:
        return None
    return int(value)


def expected_models(raw: dict) -> dict[str, dict]:
    """key → expected column values, for every real model entry of a LiteLLM file."""
    chosen: dict[str, tuple[str, dict]] = {}
    for model_id, entry in raw.items():
        provider = entry.get("litellm_provider") if isinstance(entry, dict) else None
        if not provider or " " in provider or "/" in provider:  # skips sample_spec's prose
            continue
        name = model_id.split("/", 1)[1] if model_id.startswith(provider + "/") else model_id
        key = provider + "/" + name
        if key in chosen and not model_id.startswith(provider + "/"):
            continue  # the id with the provider prefix wins
        chosen[key] = (model_id, entry)
    out = {}
    for key, (model_id, entry) in chosen.items():
        window = entry.get("max_input_tokens")
        if window is None:
            window = entry.get("max_tokens")
        out[key] = {
            "source_id": model_id,
            "context_window": expected_tokens(window),
            "max_output_tokens": expected_tokens(entry.get("max_output_tokens")),
            "input_cost_per_1m": expected_price(entry.get("input_cost_per_token")),
            "output_cost_per_1m": expected_price(entry.get("output_cost_per_token")),
            "supports_streaming": entry.get("supports_streaming"),
            "supports_function_calling": entry.get("supports_function_calling"),
            "supports_vision": entry.get("supports_vision"),
        }
    return out
