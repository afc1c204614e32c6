"""The whole system as a hypothesis state machine: random sequences of API calls against a
plain-dict reference model.

Rules (HTTP through the WSGI application, token authentication, real commits, the two-tier cache
on): create a model, PATCH it with ``If-Match`` (also with a stale ETag, and no-op PATCHes), soft
delete it, request a rollback (as an editor), approve or reject it (as another user), invalidate
the cache, read it back in this process and in a second OS process (``concurrency_reader.py``,
reading through its own L1 and the shared L2).

Checked against the reference after every step: what both processes read equals the reference —
the other process within the documented staleness (it is asked again until it agrees, for at most
``OTHER_PROCESS_BOUND`` s; the number of re-reads is printed); version numbers are 1..n without
gaps; the revision grows by exactly one per change and not at all on a no-op; every change has its
audit (history) row. The service-level counterpart is ``tests/versioning/test_stateful.py``.

``MR_STATEFUL_EXAMPLES`` / ``MR_STATEFUL_STEPS`` size the run (defaults 10 and 30).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from caching.service import model_cache, reset_model_cache
from models_registry.models import AIModel
from tests.caching.conftest import _delete_namespace, cache_settings
from tests.caching.helpers import database_url
from tests.factories import ProviderFactory, UserFactory, grant
from versioning.models import ModelVersion, RollbackRequest

from .concurrency_reader import OtherProcess

pytestmark = [pytest.mark.system, pytest.mark.redis, pytest.mark.postgres]

EXAMPLES = int(os.environ.get("MR_STATEFUL_EXAMPLES", "10"))
STEPS = int(os.environ.get("MR_STATEFUL_STEPS", "30"))
L1_TTL = 5.0
OTHER_PROCESS_BOUND = L1_TTL + 1.0  # the hard bound (L1 TTL cap) plus one read
PROVIDER = "statemachine"
_names = itertools.count()

descriptions = st.sampled_from(["", "fast", "slow", "multilingual"])
windows = st.sampled_from([None, 4096, 8192, 128_000])


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _etag(model_id: int, revision: int) -> str:
    return f'"v1-{model_id}-{revision}"'


class Stats:
    rules: Counter = Counter()
    steps = 0
    other_reads = 0
    other_retries = 0
    max_other_delay = 0.0


class APIMachine(RuleBasedStateMachine):
    """Reference: ``self.models[id] = {"key", "revision", "states": [state per version], "state"}``
    where a state is ``(description, context_window, is_active)``."""

    models = Bundle("models")

    def __init__(self):
        super().__init__()
        self.ref: dict[int, dict] = {}
        self.open_requests: dict[int, tuple[int, int]] = {}  # request id → (model id, target number)

    # -- helpers ---------------------------------------------------------------------------------

    def _expect_change(self, model_id: int, new_state: tuple, response) -> None:
        entry = self.ref[model_id]
        changed = new_state != entry["state"]
        if changed:
            entry["revision"] += 1
            entry["state"] = new_state
            entry["states"].append(new_state)
        if response is not None and response.status_code == 200 and "revision" in response.data:
            assert response.data["revision"] == entry["revision"], (response.data["revision"], entry)

    # -- rules -----------------------------------------------------------------------------------

    @rule(target=models, description=descriptions, window=windows)
    def create(self, description, window):
        Stats.rules["create"] += 1
        name = f"m{os.getpid()}-{next(_names)}"
        response = EDITOR.post(
            "/api/v1/models/",
            {
                "provider": PROVIDER,
                "name": name,
                "mode": "chat",
                "description": description,
                "context_window": window,
            },
            format="json",
        )
        assert response.status_code == 201, response.data
        model_id = response.data["id"]
        state = (description, window, True)
        revision = response.data["revision"]
        self.ref[model_id] = {
            "key": f"{PROVIDER}/{name}",
            "revision": revision,
            "state": state,
            "states": [state],
        }
        return model_id

    @rule(model_id=models, description=descriptions, window=windows)
    def patch(self, model_id, description, window):
        Stats.rules["patch"] += 1
        entry = self.ref[model_id]
        response = EDITOR.patch(
            f"/api/v1/models/{model_id}/",
            {"description": description, "context_window": window},
            format="json",
            HTTP_IF_MATCH=_etag(model_id, entry["revision"]),
        )
        assert response.status_code == 200, response.data
        self._expect_change(model_id, (description, window, entry["state"][2]), response)

    @rule(model_id=models)
    def patch_noop(self, model_id):
        Stats.rules["patch_noop"] += 1
        entry = self.ref[model_id]
        description, window, _ = entry["state"]
        response = EDITOR.patch(
            f"/api/v1/models/{model_id}/",
            {"description": description, "context_window": window},
            format="json",
        )
        assert response.status_code == 200, response.data
        assert response.data["revision"] == entry["revision"]  # a no-op is not a change

    @precondition(lambda self: any(e["revision"] > 1 for e in self.ref.values()))
    @rule(data=st.data())
    def patch_with_stale_etag(self, data):
        Stats.rules["patch_with_stale_etag"] += 1
        model_id = data.draw(st.sampled_from(sorted(i for i, e in self.ref.items() if e["revision"] > 1)))
        entry = self.ref[model_id]
        response = EDITOR.patch(
            f"/api/v1/models/{model_id}/",
            {"description": "stale writer"},
            format="json",
            HTTP_IF_MATCH=_etag(model_id, entry["revision"] - 1),
        )
        assert response.status_code == 412, response.data

    @rule(model_id=models)
    def soft_delete(self, model_id):
        Stats.rules["soft_delete"] += 1
        entry = self.ref[model_id]
        response = EDITOR.delete(f"/api/v1/models/{model_id}/")
        assert response.status_code in (204, 404), response.status_code
        if entry["state"][2]:
            assert response.status_code == 204
        self._expect_change(model_id, (*entry["state"][:2], False), None)

    @precondition(lambda self: any(len(e["states"]) > 1 for e in self.ref.values()))
    @rule(data=st.data())
    def request_rollback(self, data):
        Stats.rules["request_rollback"] += 1
        model_id = data.draw(st.sampled_from(sorted(i for i, e in self.ref.items() if len(e["states"]) > 1)))
        entry = self.ref[model_id]
        differing = [n for n, state in enumerate(entry["states"], start=1) if state != entry["state"]]
        if differing and data.draw(st.integers(0, 3), label="pick") > 0:  # mostly a real rollback
            target = data.draw(st.sampled_from(differing), label="target")
        else:
            target = data.draw(st.integers(1, len(entry["states"])), label="target")
        response = EDITOR.post(
            "/api/v1/rollbacks/",
            {"model": model_id, "target_version": target, "reason": "state machine"},
            format="json",
        )
        has_open = any(m == model_id for m, _ in self.open_requests.values())
        Stats.rules[f"request_rollback_{response.status_code}"] += 1
        if entry["states"][target - 1] == entry["state"]:  # checked first: nothing to roll back
            assert response.status_code == 400, response.data
        elif has_open:  # at most one open request per model
            assert response.status_code == 409, response.data
        else:
            assert response.status_code == 201, response.data
            assert response.data["status"] == "pending"
            self.open_requests[response.data["id"]] = (model_id, target)

    @precondition(lambda self: self.open_requests)
    @rule(data=st.data())
    def approve(self, data):
        self._decide(data, approve=True)

    @precondition(lambda self: self.open_requests)
    @rule(data=st.data())
    def reject(self, data):
        self._decide(data, approve=False)

    def _decide(self, data, *, approve: bool):
        Stats.rules["approve" if approve else "reject"] += 1
        request_id = data.draw(st.sampled_from(sorted(self.open_requests)), label="request")
        model_id, target = self.open_requests.pop(request_id)
        entry = self.ref[model_id]
        if approve:
            response = APPROVER.post(f"/api/v1/rollbacks/{request_id}/approve/", {}, format="json")
            assert response.status_code == 200, response.data
            state = entry["states"][target - 1]
            if state == entry["state"]:  # the model came back to the target by itself meanwhile
                assert response.data["status"] in ("completed", "failed"), response.data
            else:
                assert response.data["status"] == "completed", response.data
            self._expect_change(model_id, state, None)
        else:
            response = APPROVER.post(
                f"/api/v1/rollbacks/{request_id}/reject/", {"comment": "no"}, format="json"
            )
            assert response.status_code == 200, response.data
            assert response.data["status"] == "rejected"
        # the request's own audit trail: one history row per transition at least
        assert RollbackRequest.history.filter(id=request_id).count() >= 2

    @rule(everything=st.booleans(), model_id=models)
    def invalidate(self, everything, model_id):
        Stats.rules["invalidate"] += 1
        body = {"all": True} if everything else {"models": [self.ref[model_id]["key"]]}
        response = STAFF.post("/api/v1/cache/invalidate/", body, format="json")
        assert response.status_code == 200, response.data

    @rule(model_id=models)
    def read_here(self, model_id):
        Stats.rules["read_here"] += 1
        entry = self.ref[model_id]
        response = READER.get(f"/api/v1/models/{model_id}/")
        assert response.status_code == 200, response.status_code
        got = response.data
        assert (got["description"], got["context_window"], got["is_active"]) == entry["state"]
        assert got["revision"] == entry["revision"]
        by_key = READER.get(f"/api/v1/models/by-key/{entry['key']}")
        assert by_key.status_code == 200 and by_key.data["revision"] == entry["revision"]

    @rule(model_id=models)
    def read_in_other_process(self, model_id):
        Stats.rules["read_in_other_process"] += 1
        entry = self.ref[model_id]
        expected = (*entry["state"], entry["revision"])
        started = time.monotonic()
        while True:
            got = OTHER.read(entry["key"])
            assert "error" not in got, got
            Stats.other_reads += 1
            seen = (
                got.get("description"),
                got.get("context_window"),
                got.get("is_active"),
                got.get("revision"),
            )
            if seen == expected:
                break
            # only an older revision may be seen, and only for a bounded time
            assert got.get("revision", 0) < entry["revision"], (seen, expected)
            assert time.monotonic() - started < OTHER_PROCESS_BOUND, (seen, expected)
            Stats.other_retries += 1
            time.sleep(0.01)
        Stats.max_other_delay = max(Stats.max_other_delay, time.monotonic() - started)

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def history_matches_reference(self):
        Stats.steps += 1
        if not self.ref:
            return
        rows = AIModel.objects.filter(pk__in=self.ref).values_list(
            "pk", "revision", "description", "context_window", "is_active"
        )
        numbers: dict[int, list[int]] = {}
        for model_id, number in (
            ModelVersion.objects.filter(ai_model_id__in=self.ref)
            .order_by("number")
            .values_list("ai_model_id", "number")
        ):
            numbers.setdefault(model_id, []).append(number)
        history = {}
        for model_id, revision in AIModel.history.model.objects.filter(id__in=self.ref).values_list(
            "id", "revision"
        ):
            history.setdefault(model_id, set()).add(revision)
        for pk, revision, description, window, active in rows:
            entry = self.ref[pk]
            assert revision == entry["revision"], (pk, revision, entry)
            assert (description, window, active) == entry["state"], (pk, entry)
            # one version per change, numbered 1..n; one audit row per revision
            assert numbers[pk] == list(range(1, len(entry["states"]) + 1)), (pk, numbers[pk], entry)
            first = entry["revision"] - len(entry["states"]) + 1
            assert set(range(first, entry["revision"] + 1)) <= history[pk], (pk, history[pk], entry)


EDITOR = READER = APPROVER = STAFF = OTHER = None


def test_api_state_machine(transactional_db, capsys):
    global EDITOR, READER, APPROVER, STAFF, OTHER
    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis")
    namespace = f"{django_settings.TEST_KEY_PREFIX}-sm-{uuid.uuid4().hex[:8]}"
    ProviderFactory(slug=PROVIDER, name="State machine")
    editor = grant(
        UserFactory(username="sm-editor"),
        "add_aimodel", "change_aimodel", "delete_aimodel", "add_rollbackrequest", "view_rollbackrequest",
        "view_modelversion",
    )  # fmt: skip
    approver = grant(UserFactory(username="sm-approver"), "approve_rollbackrequest", "view_rollbackrequest")
    reader = UserFactory(username="sm-reader")
    staff = UserFactory(username="sm-staff", is_staff=True, is_superuser=True)
    EDITOR, APPROVER, READER, STAFF = (
        _client(Token.objects.get_or_create(user=user)[0].key) for user in (editor, approver, reader, staff)
    )
    started = time.monotonic()
    # merged: the test settings keep the API rate limits off
    registry = {**django_settings.MODEL_REGISTRY, **cache_settings(namespace, L1_TTL=L1_TTL)}
    with override_settings(MODEL_REGISTRY=registry):
        reset_model_cache()
        model_cache()
        OTHER = OtherProcess(
            database_url=database_url(),
            redis_url=django_settings.REDIS_URL,
            namespace=namespace,
            l1_ttl=L1_TTL,
        )
        try:
            run_state_machine_as_test(
                APIMachine,
                settings=settings(
                    max_examples=EXAMPLES,
                    stateful_step_count=STEPS,
                    deadline=None,
                    database=None,
                    phases=[
                        Phase.explicit,
                        Phase.reuse,
                        Phase.generate,
                    ],  # no shrinking: each step is real I/O
                    suppress_health_check=list(HealthCheck),
                ),
            )
        finally:
            OTHER.stop()
            reset_model_cache()
            _delete_namespace(namespace)
    with capsys.disabled():
        print(
            f"\nAPI state machine: {EXAMPLES} examples x up to {STEPS} steps ({Stats.steps} checked states, "
            f"{time.monotonic() - started:.1f} s); other process: {Stats.other_reads} reads, "
            f"{Stats.other_retries} re-reads while stale, "
            f"longest wait {Stats.max_other_delay * 1000:.0f} ms; "
            f"rules run: {dict(Stats.rules)}"
        )
    assert Stats.steps > 0
