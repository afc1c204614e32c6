"""Concurrency against the real stack: gunicorn workers on PostgreSQL and Redis, and reader processes.

1. Many PATCHes with the same ``If-Match`` ETag at once (threads against two gunicorn workers):
   exactly one answers 200, every other one 412, and the database holds exactly one new version.
2. Several approvers approve one rollback request at once while other clients PATCH the same
   model: each approval completes once or gets a clear 409 / 412; version numbers stay 1..n
   without gaps or duplicates, and the final state of the model is the newest version's snapshot.
3. Two reader processes holding the model in their L1 while this process writes, thousands of
   times: after every commit both readers serve the new value, never an older one, and never
   later than the hard bound (``L1_TTL``); the observed delays are printed.

Sizes can be raised from the environment: ``MR_SYSTEM_ETAG_ROUNDS``, ``MR_SYSTEM_ROLLBACK_ROUNDS``,
``MR_SYSTEM_COHERENCE_ITERATIONS``.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.authtoken.models import Token

from caching.service import model_cache, reset_model_cache
from models_registry import services
from models_registry.models import AIModel
from models_registry.records import ai_model_state
from tests.caching.conftest import _delete_namespace, cache_settings
from tests.caching.helpers import ChildReader
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from versioning.models import ModelVersion, RollbackRequest
from versioning.selectors import version_latest, version_state

from .harness import Gunicorn

pytestmark = [pytest.mark.system, pytest.mark.redis, pytest.mark.postgres]

PATCHERS = 16
ETAG_ROUNDS = int(os.environ.get("MR_SYSTEM_ETAG_ROUNDS", "4"))
ROLLBACK_ROUNDS = int(os.environ.get("MR_SYSTEM_ROLLBACK_ROUNDS", "4"))
APPROVERS = 4
RACING_PATCHERS = 4
COHERENCE_ITERATIONS = int(os.environ.get("MR_SYSTEM_COHERENCE_ITERATIONS", "200"))
HARD_BOUND = 5.0  # the readers' L1_TTL: the documented worst case when messages are lost


# -- helpers ---------------------------------------------------------------------------------------


def _at_once(calls: list) -> list:
    """Run every callable in its own thread, released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except BaseException as exc:  # reported by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return results


def _client(server: Gunicorn, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Token {token}"}, timeout=30)


def _numbers(model_id: int) -> list[int]:
    return list(
        ModelVersion.objects.filter(ai_model_id=model_id).order_by("number").values_list("number", flat=True)
    )


def _assert_history_consistent(model_id: int) -> None:
    """Versions 1..n, no gaps or duplicates; the model is exactly its newest version's snapshot."""
    numbers = _numbers(model_id)
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    model = AIModel.objects.select_related("provider", "successor").get(pk=model_id)
    latest = version_latest(ai_model_id=model_id)
    assert latest.number == numbers[-1]
    assert version_state(latest) == ai_model_state(model)


@pytest.fixture
def server(system_data, private_redis):
    with Gunicorn(
        database_url=system_data.database_url,
        redis_url=private_redis.url,
        workers=2,
        threads=PATCHERS // 2 + 2,
        ready_token=system_data.tokens["reader"],
    ) as started:
        yield started


# -- 1. same ETag --------------------------------------------------------------------------------


def test_concurrent_patches_with_one_etag_exactly_one_wins(system_data, server):
    token = system_data.tokens["editor"]
    model_id = system_data.models[0]["id"]
    outcomes = Counter()
    with _client(server, token) as reader:
        for round_no in range(ETAG_ROUNDS):
            response = reader.get(f"/api/v1/models/{model_id}/")
            assert response.status_code == 200
            etag, revision = response.headers["ETag"], response.json()["revision"]
            versions_before = len(_numbers(model_id))
            clients = [_client(server, token) for _ in range(PATCHERS)]
            try:
                calls = [
                    (lambda c=c, n=n, etag=etag, round_no=round_no: c.patch(
                        f"/api/v1/models/{model_id}/",
                        json={"description": f"round {round_no} writer {n}"},
                        headers={"If-Match": etag},
                    ))
                    for n, c in enumerate(clients)
                ]  # fmt: skip
                responses = _at_once(calls)
            finally:
                for c in clients:
                    c.close()
            errors = [r for r in responses if isinstance(r, BaseException)]
            assert errors == []
            statuses = Counter(r.status_code for r in responses)
            outcomes.update(statuses)
            assert statuses == {200: 1, 412: PATCHERS - 1}, statuses
            winner = next(r for r in responses if r.status_code == 200).json()
            assert winner["revision"] == revision + 1
            for lost in (r for r in responses if r.status_code == 412):
                assert lost.json()["detail"]  # a clear message, not an empty body
            close_old_connections()
            assert len(_numbers(model_id)) == versions_before + 1  # exactly one new version
            _assert_history_consistent(model_id)
            after = reader.get(f"/api/v1/models/{model_id}/")  # any worker: the winner's value, no stale read
            assert after.json()["description"] == winner["description"]
            assert after.headers["ETag"] != etag
    print(f"\nsame-ETag PATCH race: {ETAG_ROUNDS} rounds x {PATCHERS} writers -> {dict(outcomes)}")


# -- 2. rollback approvals racing ------------------------------------------------------------------


def _approvers(n: int) -> list[str]:
    tokens = []
    for i in range(n):
        user = grant(
            UserFactory(username=f"sys-approver-{i}"),
            "approve_rollbackrequest",
            "view_rollbackrequest",
            "view_modelversion",
        )
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return tokens


def test_concurrent_rollback_approvals_and_writes_keep_history_exact(system_data, server):
    grant(
        get_user_model().objects.get(username="sys-editor"),
        "add_rollbackrequest",
        "view_rollbackrequest",
        "view_modelversion",
    )
    editor_token = system_data.tokens["editor"]
    approver_tokens = _approvers(APPROVERS)
    model_id = system_data.models[1]["id"]
    approval_outcomes, patch_outcomes, final_statuses = Counter(), Counter(), Counter()
    with _client(server, editor_token) as editor_client:
        for round_no in range(ROLLBACK_ROUNDS):
            # something to roll back to: two more versions
            for step in range(2):
                response = editor_client.patch(
                    f"/api/v1/models/{model_id}/",
                    json={"description": f"rollback round {round_no} step {step}",
                          "context_window": 10_000 + round_no * 10 + step},
                )  # fmt: skip
                assert response.status_code == 200, response.text
            current = editor_client.get(f"/api/v1/models/{model_id}/").json()
            target = len(_numbers(model_id)) - 2
            created = editor_client.post(
                "/api/v1/rollbacks/",
                json={"model": model_id, "target_version": target, "reason": f"round {round_no}"},
            )
            assert created.status_code == 201, created.text
            request_id = created.json()["id"]

            clients = [_client(server, t) for t in approver_tokens]
            writers = [_client(server, editor_token) for _ in range(RACING_PATCHERS)]
            try:
                calls = []
                for n, c in enumerate(clients):
                    body = {"comment": f"approver {n}"}
                    if n % 2:  # half of them approve only what they reviewed
                        body["expected_revision"] = current["revision"]
                    calls.append(
                        lambda c=c, body=body, rid=request_id: c.post(
                            f"/api/v1/rollbacks/{rid}/approve/", json=body
                        )
                    )
                for n, w in enumerate(writers):
                    calls.append(
                        lambda w=w, n=n, round_no=round_no: w.patch(
                            f"/api/v1/models/{model_id}/", json={"description": f"racer {round_no}-{n}"}
                        )
                    )
                responses = _at_once(calls)
            finally:
                for c in clients + writers:
                    c.close()
            assert [r for r in responses if isinstance(r, BaseException)] == []
            approvals, patches = responses[:APPROVERS], responses[APPROVERS:]
            approval_outcomes.update(r.status_code for r in approvals)
            patch_outcomes.update(r.status_code for r in patches)
            assert all(r.status_code == 200 for r in patches), [(r.status_code, r.text) for r in patches]
            for r in approvals:
                assert r.status_code in (200, 409, 412), (r.status_code, r.text)
                if r.status_code != 200:
                    assert r.json()["detail"]
            close_old_connections()
            request = RollbackRequest.objects.get(pk=request_id)
            won = [r.json() for r in approvals if r.status_code == 200]
            final_statuses[request.status] += 1
            if request.status == RollbackRequest.Status.COMPLETED:
                assert len(won) == 1 and won[0]["status"] == "completed", won
                assert request.result_version is not None
                # completed exactly once: one rollback version for this request
                assert ModelVersion.objects.filter(ai_model_id=model_id, source="rollback",
                                                   pk=request.result_version_id).count() == 1  # fmt: skip
            else:
                # every approval lost to a racing write (412) — nothing was executed
                assert request.status == RollbackRequest.Status.PENDING, request.status
                assert won == []
                assert all(r.status_code == 412 for r in approvals)
                with _client(server, approver_tokens[0]) as approver:
                    rejected = approver.post(
                        f"/api/v1/rollbacks/{request_id}/reject/", json={"comment": "raced"}
                    )
                    assert rejected.status_code == 200, rejected.text
            _assert_history_consistent(model_id)
            latest = version_latest(ai_model_id=model_id)
            seen = editor_client.get(f"/api/v1/models/{model_id}/").json()
            assert seen["revision"] == AIModel.objects.get(pk=model_id).revision
            assert seen["description"] == version_state(latest)["description"]
    print(
        f"\nrollback approval race: {ROLLBACK_ROUNDS} rounds x ({APPROVERS} approvers + {RACING_PATCHERS} "
        f"writers): approvals {dict(approval_outcomes)}, patches {dict(patch_outcomes)}, "
        f"requests {dict(final_statuses)}"
    )


# -- 3. two reader processes, one writer -----------------------------------------------------------


@pytest.fixture
def namespace(settings):
    return f"{settings.TEST_KEY_PREFIX}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def writer_cache(namespace, transactional_db, settings):
    registry = {**settings.MODEL_REGISTRY, **cache_settings(namespace, L1_TTL=HARD_BOUND)}
    with override_settings(MODEL_REGISTRY=registry):
        reset_model_cache()
        model_cache()
        yield AIModelFactory(provider=ProviderFactory(slug="coherence"), name="two-readers")
        reset_model_cache()
    _delete_namespace(namespace)


def _quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (
        f"p50 {pick(0.5):.2f} ms, p90 {pick(0.9):.2f} ms, p99 {pick(0.99):.2f} ms, "
        f"p99.9 {pick(0.999):.2f} ms, max {ordered[-1] * 1000:.2f} ms, "
        f"mean {statistics.fmean(values) * 1000:.2f} ms"
    )


def test_two_reader_processes_never_serve_a_value_older_than_the_bound(writer_cache, namespace, capsys):
    model = writer_cache
    readers = [
        ChildReader(key=model.key, namespace=namespace, l1_ttl=HARD_BOUND, max_seconds=600) for _ in range(2)
    ]
    try:
        for child in readers:
            assert child.wait_for(lambda e: e["event"] == "ready", timeout=30) is not None, child.stderr
        delays: list[float] = []
        violations = 0
        started_at = time.monotonic()
        for i in range(COHERENCE_ITERATIONS):
            value = 500_000 + i
            services.ai_model_update(ai_model=model.pk, data={"context_window": value}, source="api")
            committed = time.monotonic()  # the commit and its on-commit invalidation are done
            for child in readers:
                seen = child.wait_for(lambda e, v=value: e["event"] == "seen", timeout=HARD_BOUND + 1.0)
                if seen is None or seen["value"] != value:
                    violations += 1
                    continue
                delays.append(max(0.0, seen["t"] - committed))
                if seen["t"] - committed > HARD_BOUND:
                    violations += 1
        elapsed = time.monotonic() - started_at
        for child in readers:
            values = [e["value"] for e in child.events if e["event"] == "seen"]
            # every committed value seen, in order: never an older value after a newer one
            assert values == [500_000 + i for i in range(COHERENCE_ITERATIONS)]
            revisions = [e["revision"] for e in child.events if e["event"] == "seen"]
            assert revisions == sorted(set(revisions))
        assert violations == 0
        assert len(delays) == 2 * COHERENCE_ITERATIONS
        buckets = Counter(
            "<1ms"
            if d < 0.001
            else "<5ms"
            if d < 0.005
            else "<20ms"
            if d < 0.02
            else "<100ms"
            if d < 0.1
            else ">=100ms"
            for d in delays
        )
        with capsys.disabled():
            print(
                f"\ncross-process coherence: {COHERENCE_ITERATIONS} commits x 2 reader processes "
                f"({len(delays)} checks, {elapsed:.1f} s), "
                f"violations of the {HARD_BOUND:.0f} s bound: {violations}; "
                f"commit -> other process serves it: {_quantiles(delays)}; buckets {dict(buckets)}"
            )
    finally:
        for child in readers:
            child.stop()
