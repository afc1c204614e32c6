"""Sensitive metadata values are encrypted at rest (model table, history, versions, rollback
requests, sync change-sets), in Redis and never logged; Python objects and allowed readers still
get plaintext, a wrong key raises."""

import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from caching import keys as k
from caching.rules.receivers import model_context
from models_registry import checks, crypto, selectors, services
from models_registry.models import AIModel
from models_registry.sensitive import MASK
from tests.caching.conftest import cache_tx, namespace  # noqa: F401 - fixtures
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from versioning.diff import Change
from versioning.models import ModelVersion, RollbackRequest
from versioning.services import rollbacks

pytestmark = pytest.mark.django_db

SECRET = "sk-live-7f3a9c1e5b"
SECRET_2 = "sk-live-0d4e8b2a6c"
METADATA = {"family": "llama", "api_key": SECRET, "Endpoint_Secret": {"url": "https://10.0.0.7/x"}}


def registry(**extra) -> dict:
    return {**settings.MODEL_REGISTRY, **extra}


def raw_column(model_class, column: str, pk) -> str:
    """The stored JSON text of one column, read with SQL (no field conversion)."""
    table = connection.ops.quote_name(model_class._meta.db_table)
    pk_column = connection.ops.quote_name(model_class._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE {pk_column} = %s", [pk]
        )
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else json.dumps(value)


def all_raw(model_class, column: str) -> str:
    table = connection.ops.quote_name(model_class._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table}")
        rows = cursor.fetchall()
    return " ".join(value if isinstance(value, str) else json.dumps(value) for (value,) in rows)


@pytest.fixture
def model(db):
    return AIModelFactory(provider=ProviderFactory(slug="azure"), name="gpt-4o", metadata=METADATA)


# -- the database ----------------------------------------------------------------------------------


def test_model_row_holds_tokens_and_objects_hold_plaintext(model):
    stored = json.loads(raw_column(AIModel, "metadata", model.pk))
    assert stored["family"] == "llama"  # not sensitive: plaintext, still queryable
    assert crypto.is_token(stored["api_key"]) and crypto.is_token(stored["Endpoint_Secret"])
    assert SECRET not in json.dumps(stored) and "10.0.0.7" not in json.dumps(stored)
    assert AIModel.objects.get(pk=model.pk).metadata == METADATA
    assert dict(AIModel.objects.values_list("metadata", flat=True).get(pk=model.pk)) == METADATA
    assert AIModel.objects.values_list("metadata__api_key", flat=True).get(pk=model.pk) == SECRET


def test_history_table_holds_tokens(model):
    services.ai_model_update(ai_model=model, data={"metadata": {**METADATA, "api_key": SECRET_2}})
    history = AIModel.history.model
    raw = all_raw(history, "metadata")
    assert raw.count(crypto.PREFIX) >= 4  # two history rows, two sensitive keys each
    assert SECRET not in raw and SECRET_2 not in raw
    assert [h.metadata["api_key"] for h in AIModel.history.filter(id=model.pk).order_by("history_id")] == [
        SECRET,
        SECRET_2,
    ]


def test_version_snapshot_and_changes_hold_tokens(model):
    services.ai_model_update(ai_model=model, data={"metadata": {**METADATA, "api_key": SECRET_2}})
    v2 = ModelVersion.objects.get(ai_model=model, number=2)
    for column in ("snapshot", "changes"):
        raw = all_raw(ModelVersion, column)
        assert SECRET not in raw and SECRET_2 not in raw, column
        assert crypto.PREFIX in raw
    assert v2.snapshot["metadata"]["api_key"] == SECRET_2
    (change,) = [c for c in v2.changes if c["field"] == "metadata.api_key"]
    assert (change["old"], change["new"]) == (SECRET, SECRET_2)
    v1 = ModelVersion.objects.get(ai_model=model, number=1)
    assert v1.snapshot["metadata"] == METADATA


def test_rollback_restores_the_secret_exactly_and_requests_hold_tokens(model):
    services.ai_model_update(ai_model=model, data={"metadata": {**METADATA, "api_key": SECRET_2}})
    requester = grant(UserFactory(username="req"), "add_rollbackrequest")
    approver = grant(UserFactory(username="appr"), "approve_rollbackrequest", "add_rollbackrequest")
    request = rollbacks.rollback_request_create(
        ai_model=model, target_version=1, reason="bad key", actor=requester
    )
    done = rollbacks.rollback_request_approve(rollback_request=request, actor=approver, comment="ok")
    assert done.status == RollbackRequest.Status.COMPLETED
    assert AIModel.objects.get(pk=model.pk).metadata == METADATA
    for column in ("requested_changes", "approved_changes"):
        raw = raw_column(RollbackRequest, column, request.pk)
        assert SECRET not in raw and SECRET_2 not in raw and crypto.PREFIX in raw
    assert RollbackRequest.objects.get(pk=request.pk).requested_changes[0]["new"] == SECRET


def test_bulk_import_path_encrypts_on_create_and_update(db):
    def upsert(secret):
        item = services.BulkItem(
            provider="bulkco", name="m1", fields={"mode": "chat", "metadata": {"api_key": secret, "tier": 1}}
        )
        return services.ai_model_bulk_upsert(items=[item], reason="import")

    assert upsert(SECRET).created == ["bulkco/m1"]
    assert upsert(SECRET_2).updated == ["bulkco/m1"]
    model = AIModel.objects.get(key="bulkco/m1")
    assert model.metadata == {"api_key": SECRET_2, "tier": 1}
    for model_class, column in (
        (AIModel, "metadata"),
        (AIModel.history.model, "metadata"),
        (ModelVersion, "snapshot"),
        (ModelVersion, "changes"),
    ):
        raw = all_raw(model_class, column)
        assert SECRET not in raw and SECRET_2 not in raw, (model_class, column)


def test_lookups_on_non_sensitive_keys_still_work(model):
    assert list(AIModel.objects.filter(metadata__family="llama")) == [model]
    assert not AIModel.objects.filter(metadata__family="mistral").exists()
    if connection.vendor == "postgresql":  # no JSON containment on SQLite
        assert list(AIModel.objects.filter(metadata__contains={"family": "llama"})) == [model]
        assert not AIModel.objects.filter(metadata__contains={"family": "mistral"}).exists()


def test_no_write_when_nothing_changed(model):
    """Tokens differ on every encryption: the write path must compare plaintext."""
    again = services.ai_model_update(ai_model=model, data={"metadata": dict(METADATA)})
    assert again.revision == model.revision
    assert ModelVersion.objects.filter(ai_model=model).count() == 1


# -- keys ------------------------------------------------------------------------------------------


def test_wrong_key_raises_and_never_returns_the_token(model):
    with override_settings(MODEL_REGISTRY=registry(ENCRYPTION_KEYS=[Fernet.generate_key().decode()])):
        with pytest.raises(crypto.EncryptionError):
            AIModel.objects.get(pk=model.pk)
        with pytest.raises(crypto.EncryptionError):
            ModelVersion.objects.get(ai_model=model, number=1)
        with pytest.raises(crypto.EncryptionError):
            AIModel.objects.values_list("metadata__api_key", flat=True).get(pk=model.pk)
    assert AIModel.objects.get(pk=model.pk).metadata == METADATA  # the right key again


def test_configured_keys_newest_first_and_old_keys_decrypt():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(MODEL_REGISTRY=registry(ENCRYPTION_KEYS=f"{old}")):
        token = crypto.encrypt_value(SECRET)
    with override_settings(MODEL_REGISTRY=registry(ENCRYPTION_KEYS=f" {new}, {old} ")):
        assert crypto.configured_keys() == [new, old]
        assert crypto.decrypt_value(token) == SECRET
        assert not crypto.is_current(token)
        assert crypto.is_current(crypto.rotate_value(token))
        assert Fernet(new.encode()).decrypt(crypto.encrypt_value(SECRET)[len(crypto.PREFIX) :].encode())


def test_no_double_encryption_and_spoofed_prefix_is_plaintext():
    token = crypto.encrypt_value(SECRET)
    assert crypto.encrypt_value(token) == token
    spoof = crypto.PREFIX + "not-a-token"
    stored = crypto.encrypt_value(spoof)
    assert stored != spoof and crypto.decrypt_value(stored) == spoof


def test_malformed_key_raises_and_is_reported_by_the_checks():
    with override_settings(MODEL_REGISTRY=registry(ENCRYPTION_KEYS=["short"])):
        with pytest.raises(crypto.EncryptionError, match="not valid Fernet keys"):
            crypto.encrypt_value(SECRET)
        assert [m.id for m in checks.check_encryption_keys()] == ["models_registry.E001"]


def test_deploy_check_warns_without_configured_keys():
    with override_settings(MODEL_REGISTRY=registry(ENCRYPTION_KEYS=[])):
        assert [m.id for m in checks.check_encryption_keys_configured()] == ["models_registry.W001"]
    with override_settings(MODEL_REGISTRY=registry(ENCRYPTION_KEYS=[Fernet.generate_key().decode()])):
        assert checks.check_encryption_keys_configured() == []
        assert checks.check_encryption_keys() == []


def test_derived_key_depends_on_the_secret_key():
    assert crypto.derived_key("a") != crypto.derived_key("b")
    Fernet(crypto.derived_key("a").encode())  # a valid Fernet key


# -- property: round trips -------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.just(crypto.PREFIX + "looks-like-a-token")
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
metadata_keys = st.sampled_from(
    ["api_key", "API_SECRET", "access_token", "endpoint_secret", "family"]
) | st.text(max_size=10)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.dictionaries(metadata_keys, json_values, max_size=6))
def test_round_trip_of_arbitrary_metadata(metadata):
    stored = crypto.encrypt_metadata(metadata)
    for key, value in stored.items():
        if value is not None and key.lower() in {"api_key", "api_secret", "access_token", "endpoint_secret"}:
            assert crypto.is_token(value)
    assert crypto.decrypt_metadata(json.loads(json.dumps(stored))) == metadata
    state = {"metadata": metadata, "name": "x"}
    assert crypto.reveal_state(json.loads(json.dumps(crypto.protect_state(state)))) == state
    changes = [
        {"field": f"metadata.{key}", "path": ["metadata", key], "old": None, "new": value, "kind": "added"}
        for key, value in metadata.items()
    ] + [{"field": "metadata", "path": ["metadata"], "old": metadata, "new": {}, "kind": "changed"}]
    assert crypto.reveal_changes(json.loads(json.dumps(crypto.protect_changes(changes)))) == changes


# -- Redis -----------------------------------------------------------------------------------------


@pytest.mark.redis
def test_l2_holds_tokens_and_reads_back_plaintext(cache_tx, redis_client):  # noqa: F811
    model = AIModelFactory(provider=ProviderFactory(slug="azure"), name="gpt-4o", metadata=METADATA)
    record = selectors.ai_model_get(key=model.key)
    assert record.metadata["api_key"] == SECRET
    raw = redis_client.get(k.value_key(cache_tx.gen, model.key))
    assert raw is not None and crypto.PREFIX.encode() in raw
    assert SECRET.encode() not in raw and b"10.0.0.7" not in raw
    cache_tx.local.clear()
    again = selectors.ai_model_get(key=model.key)  # an L2 hit, decrypted
    assert again.metadata["api_key"] == SECRET
    assert dict(again.metadata["Endpoint_Secret"]) == METADATA["Endpoint_Secret"]
    count, records = selectors.ai_model_list_page(limit=10)  # list pages are cached too
    assert count == 1 and records[0].metadata["api_key"] == SECRET
    strings = [name for name in redis_client.scan_iter(match=f"{k.prefix()}*", count=1000)]
    strings = [name for name in strings if redis_client.type(name) == b"string"]
    assert len(strings) >= 3  # the value, the id reference, the list page (and generations)
    for name in strings:
        assert SECRET.encode() not in (redis_client.get(name) or b""), name


# -- logs, rule contexts, API ----------------------------------------------------------------------


def test_secret_never_logged_on_write_rollback_and_import(model, caplog, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps({"azure/gpt-4o": {"litellm_provider": "azure", "mode": "chat", "max_input_tokens": 1000}})
    )
    requester = grant(UserFactory(username="req"), "add_rollbackrequest")
    approver = grant(UserFactory(username="appr"), "approve_rollbackrequest", "add_rollbackrequest")
    connection.force_debug_cursor = True  # SQL statements and their parameters are logged too
    try:
        with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="django.db.backends"):
            services.ai_model_update(ai_model=model, data={"metadata": {**METADATA, "api_key": SECRET_2}})
            request = rollbacks.rollback_request_create(
                ai_model=model, target_version=1, reason="restore", actor=requester
            )
            rollbacks.rollback_request_approve(rollback_request=request, actor=approver)
            with override_settings(MODEL_REGISTRY=registry(IMPORT_MIN_MODELS=0)):
                call_command(
                    "import_catalog", str(catalog), "--format", "litellm", stdout=open("/dev/null", "w")
                )
    finally:
        connection.force_debug_cursor = False
    assert AIModel.objects.get(pk=model.pk).metadata["api_key"] == SECRET
    assert len(caplog.records) > 10  # the SQL log ran
    text = "\n".join(f"{r.getMessage()} {r.args!r} {getattr(r, '__dict__', {})!r}" for r in caplog.records)
    assert crypto.PREFIX in text  # the metadata parameters were logged: as tokens
    assert SECRET not in text and SECRET_2 not in text


def test_rule_context_masks_sensitive_changes(model):
    changes = [
        Change("metadata.api_key", SECRET, SECRET_2, "changed", ("metadata", "api_key")),
        Change("metadata.family", "a", "b", "changed", ("metadata", "family")),
        Change("metadata", None, {"api_key": SECRET}, "added", ("metadata",)),
    ]
    write = {
        "key": model.key,
        "model_id": model.pk,
        "provider": "azure",
        "action": "update",
        "source": "api",
        "reason": "",
        "actor": None,
        "revision": 2,
        "version": "1.1.0",
        "changes": changes,
    }
    context = model_context([write])
    assert SECRET not in json.dumps(context) and SECRET_2 not in json.dumps(context)
    assert [(c["old"], c["new"]) for c in context["changes"]] == [
        (MASK, MASK),
        ("a", "b"),
        (None, {"api_key": MASK}),
    ]


def test_api_plaintext_for_allowed_users_masked_for_others(model):
    allowed = grant(UserFactory(username="keeper"), "view_sensitive_metadata", "view_aimodel")
    reader = grant(UserFactory(username="reader"), "view_aimodel")
    for user, expected in ((allowed, SECRET), (reader, MASK)):
        client = APIClient()
        client.force_authenticate(user=user)
        response = client.get(f"/api/v1/models/{model.pk}/")
        assert response.status_code == 200, response.content
        assert response.json()["metadata"]["api_key"] == expected
