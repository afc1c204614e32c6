"""The write phases and the final check of ``benchmarks/load.py``: write storm, rollbacks, consistency.

- ``write_storm``: ``writers`` connections PATCH the hottest models (GET for the ETag, then PATCH
  ``description`` with ``If-Match`` and ``X-Change-Reason``; each writer owns its own models, so a
  412 means a bug, not a race between writers) while the other connections read by id over the
  Zipf workload. Every read is checked against the writes that had completed (response received)
  before the read was sent: a lower revision than the newest of those is ``stale``.
- ``rollbacks``: the writer requests a rollback of ``n`` written models to their version 1 and the
  approver approves it (four eyes); success = ``completed`` and the API then serves exactly the
  version-1 description at the new revision.
- ``consistency``: every model through the API equals the database row (key, revision, version
  label, description, is_active); versions gap-free per model; every version with an actor and a
  reason.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import Counter, defaultdict

from load import latency, run_phase

STORM_REASON = "load benchmark: write storm"
ROLLBACK_REASON = "load benchmark: rollback"


def hot_models(retrieve_paths: list[str], count: int) -> list[int]:
    ids = [int(path.rstrip("/").rsplit("/", 1)[1]) for path in retrieve_paths]
    return [pk for pk, _ in Counter(ids).most_common(count)]


async def _storm(base_url, tokens, paths, hot, *, concurrency, writers, duration) -> dict:
    import httpx

    commits: dict[int, list[tuple[float, int]]] = defaultdict(list)
    reads: list[tuple[int, float, int]] = []
    statuses: Counter = Counter()
    write_ms: list[float] = []
    deadline = time.perf_counter() + duration
    headers = {"Authorization": f"Token {tokens['bench-writer']}"}

    async def writer(own: list[int]) -> None:
        n = 0
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            while time.perf_counter() < deadline:
                pk = own[n % len(own)]
                n += 1
                current = await client.get(f"/api/v1/models/{pk}/")
                t0 = time.perf_counter()
                response = await client.patch(
                    f"/api/v1/models/{pk}/",
                    json={"description": f"write storm {pk} #{n} at {t0:.6f}"},
                    headers={"If-Match": current.headers["ETag"], "X-Change-Reason": STORM_REASON},
                )
                done = time.perf_counter()
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    write_ms.append((done - t0) * 1000)
                    commits[pk].append((done, response.json()["revision"]))

    def on_read(path: str, sent: float, response) -> None:
        reads.append((int(path.rstrip("/").rsplit("/", 1)[1]), sent, response.json()["revision"]))

    groups = [hot[i::writers] for i in range(writers)]
    results = await asyncio.gather(
        run_phase(
            base_url,
            tokens["bench-writer"],
            paths,
            concurrency=max(1, concurrency - writers),
            duration=duration,
            max_requests=10**9,
            on_response=on_read,
        ),
        *(writer(group) for group in groups),
    )
    results[0].pop("_raw")
    stale = []
    for pk, sent, revision in reads:
        done = commits.get(pk)
        if not done:
            continue
        i = bisect.bisect_left(done, (sent, -1))  # writes completed before the read was sent
        if i and done[i - 1][1] > revision:
            stale.append({"model": pk, "served": revision, "committed_before": done[i - 1][1]})
    attempts = sum(statuses.values())
    return {
        "readers": results[0],
        "reads_of_written_models": sum(1 for pk, _, _ in reads if pk in commits),
        "stale_reads": len(stale),
        "stale_examples": stale[:5],
        "writes": {
            "attempts": attempts,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "success_rate": round(statuses[200] / attempts, 4) if attempts else None,
            "throughput_wps": round(statuses[200] / duration, 1),
            **latency(write_ms),
        },
        "_commits": {pk: [rev for _, rev in done] for pk, done in commits.items()},
    }


def write_storm(base_url, tokens, paths, hot, *, concurrency, writers, duration) -> dict:
    from versioning.models import ModelVersion

    before = ModelVersion.objects.filter(reason=STORM_REASON).count()
    out = asyncio.run(
        _storm(base_url, tokens, paths, hot, concurrency=concurrency, writers=writers, duration=duration)
    )
    commits = out.pop("_commits")
    succeeded = sum(len(revs) for revs in commits.values())
    versions = ModelVersion.objects.filter(reason=STORM_REASON)
    created = versions.count() - before
    # each successful PATCH must have made exactly one version, at the revision it answered
    recorded = set(versions.values_list("ai_model_id", "revision"))
    answered = {(pk, rev) for pk, revs in commits.items() for rev in revs}
    out["versions"] = {
        "successful_writes": succeeded,
        "versions_created": created,
        "writes_with_their_version": len(answered & recorded),
        "creation_success_rate": round(len(answered & recorded) / succeeded, 4) if succeeded else None,
        "models_written": len(commits),
    }
    return out


def rollbacks(base_url: str, tokens: dict, n: int) -> dict:
    import httpx

    from versioning.models import ModelVersion

    written = ModelVersion.objects.filter(reason=STORM_REASON).order_by("ai_model_id")
    candidates = list(written.values_list("ai_model_id", flat=True).distinct())[:n]  # each model once
    writer = httpx.Client(base_url=base_url, headers={"Authorization": f"Token {tokens['bench-writer']}"})
    approver = httpx.Client(base_url=base_url, headers={"Authorization": f"Token {tokens['bench-approver']}"})
    outcomes: Counter = Counter()
    refusals: list[dict] = []
    exact = 0
    request_ms, approve_ms = [], []
    try:
        for pk in candidates:
            target = ModelVersion.objects.get(ai_model_id=pk, number=1).snapshot
            t0 = time.perf_counter()
            created = writer.post(
                "/api/v1/rollbacks/", json={"model": pk, "target_version": 1, "reason": ROLLBACK_REASON}
            )
            request_ms.append((time.perf_counter() - t0) * 1000)
            if created.status_code != 201:
                outcomes[f"request {created.status_code}"] += 1
                if len(refusals) < 3:
                    refusals.append({"model": pk, "status": created.status_code, "body": created.text[:300]})
                continue
            t0 = time.perf_counter()
            decided = approver.post(
                f"/api/v1/rollbacks/{created.json()['id']}/approve/", json={"comment": "ok"}
            )
            approve_ms.append((time.perf_counter() - t0) * 1000)
            status = decided.json().get("status") if decided.status_code == 200 else str(decided.status_code)
            outcomes[status] += 1
            served = writer.get(f"/api/v1/models/{pk}/").json()
            if status == "completed" and served["description"] == (target or {}).get("description"):
                exact += 1
    finally:
        writer.close()
        approver.close()
    total = len(candidates)
    return {
        "requested": total,
        "outcomes": dict(outcomes),
        "completed_and_exact": exact,
        "refusal_examples": refusals,
        "success_rate": round(exact / total, 4) if total else None,
        "request": latency(request_ms),
        "approve_and_execute": latency(approve_ms),
    }


def consistency(base_url: str, token: str, concurrency: int) -> dict:
    from django.db.models import Count, Max, Min, Q

    from models_registry.models import AIModel
    from versioning.models import ModelVersion

    rows = {
        pk: (key, revision, version, description, active)
        for pk, key, revision, version, description, active in AIModel.objects.values_list(
            "pk", "key", "revision", "version", "description", "is_active"
        )
    }
    served: dict[int, tuple] = {}

    def on_response(path, sent, response) -> None:
        body = response.json()
        served[body["id"]] = (
            body["key"],
            body["revision"],
            body["version"],
            body["description"],
            body["is_active"],
        )

    paths = [f"/api/v1/models/{pk}/" for pk in rows]
    fetched = asyncio.run(
        run_phase(
            base_url,
            token,
            paths,
            concurrency=concurrency,
            duration=120,
            max_requests=len(paths),
            on_response=on_response,
        )
    )
    fetched.pop("_raw")
    mismatches = [pk for pk, row in rows.items() if served.get(pk) != row]
    per_model = ModelVersion.objects.values("ai_model").annotate(
        n=Count("pk"), lo=Min("number"), hi=Max("number")
    )
    gaps = sum(1 for r in per_model if not (r["lo"] == 1 and r["hi"] == r["n"]))
    unaudited = ModelVersion.objects.filter(Q(created_by__isnull=True) | Q(reason="")).count()
    return {
        "models": len(rows),
        "fetched": fetched["requests"],
        "mismatches": len(mismatches),
        "mismatch_examples": [{"id": pk, "db": rows[pk], "api": served.get(pk)} for pk in mismatches[:3]],
        "versions": ModelVersion.objects.count(),
        "models_with_version_gaps": gaps,
        "versions_without_actor_or_reason": unaudited,
    }
