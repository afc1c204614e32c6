"""``manage.py rotate_encryption_keys``: re-encrypts every stored sensitive value under the newest
key (and plaintext left from before), per batch, resumable, idempotent, without new versions."""

import io
import json
import re

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from caching.models import InvalidationEvent
from models_registry import crypto, reencryption, services
from models_registry.models import AIModel, CatalogSource, SyncChange, SyncRun
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from versioning.models import ModelVersion
from versioning.services import rollbacks

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
SECRETS = ("sk-old-1111", "sk-old-2222", "sk-old-3333")
TOKEN_RE = re.compile(re.escape(crypto.PREFIX) + r"[A-Za-z0-9_=-]+")

# (model, column) of every encrypted column
COLUMNS = [(label, column) for label, columns in reencryption.TARGETS for column in columns]


def keys(*names: str):
    return override_settings(MODEL_REGISTRY={**settings.MODEL_REGISTRY, "ENCRYPTION_KEYS": list(names)})


def _model(label: str):
    from django.apps import apps

    return apps.get_model(label)


def raw_text(label: str, column: str) -> str:
    model = _model(label)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table}")
        return " ".join(
            v if isinstance(v, str) else json.dumps(v) for (v,) in cursor.fetchall() if v is not None
        )


def tokens_everywhere() -> list[str]:
    return [token for label, column in COLUMNS for token in TOKEN_RE.findall(raw_text(label, column))]


def rotate(*args) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def changed_counts(output: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(\S+): scanned=\d+ changed=(\d+)$", output, re.M)}


@pytest.fixture
def catalogue(db):
    """Rows in every encrypted table, written under OLD; one model also has a plaintext secret
    left from before encryption (written with SQL, as an old release would have)."""
    with keys(OLD):
        provider = ProviderFactory(slug="azure")
        models = []
        for n, secret in enumerate(SECRETS):
            m = AIModelFactory(provider=provider, name=f"m{n}", metadata={"api_key": secret, "n": n})
            services.ai_model_update(ai_model=m, data={"metadata": {"api_key": secret + "-v2", "n": n}})
            models.append(m)
        requester = grant(UserFactory(username="req"), "add_rollbackrequest")
        request = rollbacks.rollback_request_create(
            ai_model=models[0], target_version=1, reason="restore", actor=requester
        )
        source = CatalogSource.objects.create(name="up", location="/nowhere.json")
        run = SyncRun.objects.create(source=source, policy=source.policy)
        SyncChange.objects.create(
            run=run,
            model_key=models[1].key,
            action="update",
            changes=[
                {
                    "field": "metadata.api_key",
                    "path": ["metadata", "api_key"],
                    "old": "a",
                    "new": "sync-secret",
                    "kind": "changed",
                }
            ],
            impact="high",
            state="held",
            proposed={"metadata": {"api_key": "sync-secret"}},
        )
    legacy = AIModelFactory(provider=provider, name="legacy", metadata={"n": 9})
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AIModel._meta.db_table} SET metadata = %s WHERE id = %s",
            [json.dumps({"api_key": "plain-legacy", "n": 9}), legacy.pk],
        )
    return {"models": models, "legacy": legacy, "request": request}


def _state():
    return {
        "revisions": dict(AIModel.objects.values_list("key", "revision")),
        "versions": ModelVersion.objects.count(),
        "history": AIModel.history.count(),
    }


def _everything_readable():
    """Every encrypted column of every row, through the fields (raises if a key is missing)."""
    read = {}
    for label, column in COLUMNS:
        read[(label, column)] = list(
            _model(label)._base_manager.order_by("pk").values_list(column, flat=True)
        )
    return read


def test_rotation_moves_every_row_to_the_new_key(catalogue):
    with keys(OLD):
        before = _everything_readable()
        state = _state()
    with keys(NEW, OLD):
        output = rotate("--batch-size", "2")
    counts = changed_counts(output)
    assert set(counts) == {label for label, _ in reencryption.TARGETS}
    assert counts["models_registry.AIModel"] == 4  # three models and the plaintext legacy row
    assert counts["models_registry.SyncChange"] == 1 and counts["versioning.RollbackRequest"] == 1
    assert all(counts.values()), counts
    assert "model cache invalidated" in output
    assert InvalidationEvent.objects.filter(scope="all", reason="encryption keys rotated").exists()

    new = Fernet(NEW.encode())
    tokens = tokens_everywhere()
    assert len(tokens) >= 20
    for token in tokens:
        new.decrypt(token[len(crypto.PREFIX) :].encode())  # every token opens with the new key alone
    with pytest.raises(InvalidToken):
        Fernet(OLD.encode()).decrypt(tokens[0][len(crypto.PREFIX) :].encode())
    assert "plain-legacy" not in raw_text("models_registry.AIModel", "metadata")

    with keys(NEW):  # the old key removed: everything still decrypts, to the same values
        after = _everything_readable()
        assert _state() == state  # no revision bump, no version, no history row
        assert AIModel.objects.get(pk=catalogue["legacy"].pk).metadata == {"api_key": "plain-legacy", "n": 9}
    assert after == before

    with keys(NEW, OLD):
        again = changed_counts(rotate())
    assert set(again.values()) == {0}  # idempotent


def test_interrupted_rotation_completes_when_run_again(catalogue, monkeypatch):
    real_write = reencryption._write
    calls = {"n": 0}

    def crash_after_the_first_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(reencryption, "_write", crash_after_the_first_batch)
    with keys(NEW, OLD):
        with pytest.raises(RuntimeError, match="killed"):
            rotate("--batch-size", "1")
        monkeypatch.setattr(reencryption, "_write", real_write)
        new = Fernet(NEW.encode())

        def under_new() -> int:
            n = 0
            for token in tokens_everywhere():
                try:
                    new.decrypt(token[len(crypto.PREFIX) :].encode())
                    n += 1
                except InvalidToken:
                    pass
            return n

        assert 0 < under_new() < len(tokens_everywhere())  # the first batch committed, no more
        counts = changed_counts(rotate("--batch-size", "1"))
        assert counts["models_registry.AIModel"] == 3  # the first row was done before the crash
        assert under_new() == len(tokens_everywhere())
        assert set(changed_counts(rotate()).values()) == {0}


def test_dry_run_writes_nothing(catalogue):
    with keys(NEW, OLD):
        before = tokens_everywhere()
        output = rotate("--dry-run")
        assert changed_counts(output)["models_registry.AIModel"] == 4
        assert "nothing written" in output
        assert tokens_everywhere() == before


def test_a_missing_key_stops_the_rotation(catalogue):
    with keys(NEW):
        with pytest.raises(CommandError, match="cannot be decrypted"):
            rotate()
    with keys(NEW, OLD):  # with the key back it completes
        assert changed_counts(rotate())["models_registry.AIModel"] == 4


def test_malformed_key_is_refused_before_anything_is_read(db):
    with keys("not-a-key"):
        with pytest.raises(CommandError, match="not valid Fernet keys"):
            rotate()
