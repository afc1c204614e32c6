"""Fixtures of the sync tests: catalogue sources, the real LiteLLM snapshots, users."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models_registry.sync.models import CatalogSource
from tests.factories import UserFactory, grant

SHARED = Path("/work/shared/catalogs")


def snapshot(version: str) -> Path:
    path = SHARED / f"litellm-{version}.json"
    if not path.exists():
        pytest.skip(f"{path} not found: the shared LiteLLM snapshots live in /work/shared/catalogs/")
    return path


def truncated(src: Path, dest: Path, count: int) -> Path:
    data = json.loads(src.read_text(encoding="utf-8"))
    dest.write_text(json.dumps(dict(list(data.items())[:count])), encoding="utf-8")
    return dest


def source_for(path: Path, *, policy=CatalogSource.Policy.HOLD_BREAKING, **extra) -> CatalogSource:
    source, _ = CatalogSource.objects.update_or_create(
        name=extra.pop("name", "litellm"),
        defaults={"format": "litellm", "location": str(path), "policy": policy, **extra},
    )
    return source


@pytest.fixture
def approver():
    return grant(UserFactory(username="approver"), "approve_syncchange")


@pytest.fixture
def operator():
    return grant(UserFactory(username="operator"), "approve_syncchange", "run_catalogsource")
