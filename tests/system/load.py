"""The system tests' load generator: reader and writer threads against the HTTP API.

``LoadGenerator`` records every response as a ``Sample`` (operation, status, latency, served
revision and value, stale-mode headers); writes are recorded with their revisions, so that
``check_reads`` can tell whether each read served a value the database held during the request.
``summary`` gives counts and p50/p99 latency per named phase (``mark``). Re-exported by
``tests/system/harness.py``.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

MODELS_URL = "/api/v1/models/"


def percentile(values: list[float], pct: float) -> float | None:
    """The ``pct`` percentile (nearest rank) of ``values``, or None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Sample:
    """One request: ``op`` is ``retrieve``, ``by_key``, ``list`` or ``patch``; times are
    ``time.monotonic()``; ``status`` 0 means no HTTP answer (``error`` says why)."""

    op: str
    model_id: int | None
    started: float
    ended: float
    status: int
    revision: int | None = None
    description: str | None = None
    stale: bool = False
    age: int | None = None
    error: str | None = None
    detail: str | None = None

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass
class _Write:
    model_id: int
    revision: int
    description: str
    started: float
    ended: float


@dataclass
class LoadGenerator:
    """Readers and writers against ``base_url`` until ``stop()``.

    Readers pick models round-robin and alternate retrieve / by-key (every ``list_every``-th
    request is a list page). Writers PATCH ``description`` of ``write_models`` (default: the
    first two models) with ``If-Match``; every committed write is recorded with its revision,
    so reads can be checked against the timeline (``check_reads``)."""

    base_url: str
    token: str
    models: list[dict]
    readers: int = 4
    writers: int = 1
    write_models: list[dict] | None = None
    write_pause: float = 0.05
    list_every: int = 10
    timeout: float = 10.0
    samples: list[Sample] = field(default_factory=list)
    writes: list[_Write] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.write_models = self.write_models if self.write_models is not None else self.models[:2]
        # the value of each (model id, revision) at the start, for the timeline
        self.initial = {m["id"]: (m["revision"], m.get("description")) for m in self.models}

    # -- control ---------------------------------------------------------------------------------
    def start(self) -> LoadGenerator:
        self.mark("start")
        for n in range(self.readers):
            self._spawn(self._reader, n)
        for n in range(self.writers):
            self._spawn(self._writer, n)
        return self

    def _spawn(self, target, n: int) -> None:
        thread = threading.Thread(target=target, args=(n,), daemon=True, name=f"load-{target.__name__}-{n}")
        self._threads.append(thread)
        thread.start()

    def mark(self, phase: str) -> None:
        """Start phase ``phase`` now (it lasts until the next mark or ``stop()``)."""
        with self._lock:
            self.phases.append((phase, time.monotonic()))

    def stop(self) -> list[Sample]:
        self.mark("end")
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.samples

    def run_for(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # -- workers ---------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Token {self.token}"},
            timeout=self.timeout,
        )

    def _record(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)

    def _call(self, client: httpx.Client, op: str, model_id, method: str, url: str, **kw) -> Sample:
        started = time.monotonic()
        try:
            response = client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            sample = Sample(op, model_id, started, time.monotonic(), 0, error=f"{type(exc).__name__}: {exc}")
            self._record(sample)
            return sample
        ended = time.monotonic()
        sample = Sample(op, model_id, started, ended, response.status_code)
        sample.stale = response.headers.get("X-Registry-Stale") == "true"
        if response.headers.get("Age", "").isdigit():
            sample.age = int(response.headers["Age"])
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if isinstance(body, dict):
            if op != "list" and response.status_code in (200, 201):
                sample.revision = body.get("revision")
                sample.description = body.get("description")
            elif response.status_code >= 400:
                sample.detail = str(body.get("detail"))
        sample._etag = response.headers.get("ETag")  # type: ignore[attr-defined]
        self._record(sample)
        return sample

    def _reader(self, n: int) -> None:
        with self._client() as client:
            i = n
            while not self._stop.is_set():
                model = self.models[i % len(self.models)]
                if self.list_every and i % self.list_every == 0:
                    self._call(client, "list", None, "GET", f"{MODELS_URL}?limit=20&ordering=key")
                elif i % 2:
                    self._call(client, "retrieve", model["id"], "GET", f"{MODELS_URL}{model['id']}/")
                else:
                    self._call(
                        client, "by_key", model["id"], "GET", f"{MODELS_URL}by-key/{quote(model['key'])}"
                    )
                i += 1

    def _writer(self, n: int) -> None:
        targets = self.write_models[n :: max(1, self.writers)]
        if not targets:
            return
        etags: dict[int, str | None] = {}
        with self._client() as client:
            i = 0
            while not self._stop.is_set():
                model = targets[i % len(targets)]
                i += 1
                model_id = model["id"]
                if etags.get(model_id) is None:
                    sample = self._call(client, "retrieve", model_id, "GET", f"{MODELS_URL}{model_id}/")
                    etags[model_id] = getattr(sample, "_etag", None) if sample.status == 200 else None
                    if etags[model_id] is None:
                        self._stop.wait(self.write_pause)
                        continue
                description = f"load w{n} #{i} {time.time_ns()}"
                sample = self._call(
                    client,
                    "patch",
                    model_id,
                    "PATCH",
                    f"{MODELS_URL}{model_id}/",
                    json={"description": description},
                    headers={"If-Match": etags[model_id], "X-Change-Reason": "system test load"},
                )
                if sample.status == 200:
                    etags[model_id] = getattr(sample, "_etag", None)
                    with self._lock:
                        self.writes.append(
                            _Write(model_id, sample.revision, description, sample.started, sample.ended)
                        )
                else:
                    etags[model_id] = None  # 412 or failure: read again before the next write
                self._stop.wait(self.write_pause)

    # -- analysis --------------------------------------------------------------------------------
    def phase_of(self, t: float) -> str:
        current = self.phases[0][0] if self.phases else "all"
        for name, at in self.phases:
            if at <= t:
                current = name
            else:
                break
        return current

    def in_phase(self, phase: str, ops: tuple[str, ...] | None = None) -> list[Sample]:
        return [s for s in self.samples if self.phase_of(s.started) == phase and (ops is None or s.op in ops)]

    def summary(self) -> dict:
        """``{phase: {requests, by_status, errors_5xx, no_answer, p50_ms, p99_ms, max_ms}}``
        (reads and writes together, plus ``reads_p99_ms``)."""
        by_phase: dict[str, list[Sample]] = defaultdict(list)
        for sample in self.samples:
            by_phase[self.phase_of(sample.started)].append(sample)
        out = {}
        for phase, samples in by_phase.items():
            latencies = [s.latency * 1000 for s in samples]
            reads = [s.latency * 1000 for s in samples if s.op != "patch"]
            statuses: dict[str, int] = defaultdict(int)
            for s in samples:
                statuses[str(s.status)] += 1
            out[phase] = {
                "requests": len(samples),
                "by_status": dict(sorted(statuses.items())),
                "errors_5xx": sum(1 for s in samples if s.status >= 500),
                "no_answer": sum(1 for s in samples if s.status == 0),
                "p50_ms": _round(statistics.median(latencies)) if latencies else None,
                "p99_ms": _round(percentile(latencies, 99)),
                "max_ms": _round(max(latencies)) if latencies else None,
                "reads_p99_ms": _round(percentile(reads, 99)),
                "writes_ok": sum(1 for s in samples if s.op == "patch" and s.status == 200),
            }
        return out

    def timeline(self) -> dict[int, list[_Write]]:
        """Committed writes per model id, by revision."""
        out: dict[int, list[_Write]] = defaultdict(list)
        for write in self.writes:
            out[write.model_id].append(write)
        for writes in out.values():
            writes.sort(key=lambda w: w.revision)
        return out

    def check_reads(self, *, phases: tuple[str, ...] | None = None, grace: float = 0.0) -> list[str]:
        """Every problem with the successful single-model reads (of ``phases``, default all): a
        revision older than the last write committed (answered) more than ``grace`` seconds
        before the read started, a revision no write had produced by the time the read ended,
        or a description other than the one written at that revision. Empty list = every read
        served a value the database held during the read (``grace`` = 0)."""
        timeline = self.timeline()
        problems = []
        for s in self.samples:
            if s.op not in ("retrieve", "by_key") or s.status != 200 or s.model_id is None:
                continue
            if phases is not None and self.phase_of(s.started) not in phases:
                continue
            initial_revision, initial_description = self.initial.get(s.model_id, (None, None))
            writes = timeline.get(s.model_id, [])
            committed_before = [w.revision for w in writes if w.ended < s.started - grace]
            floor = max(committed_before, default=initial_revision or 0)
            possible = {w.revision: w.description for w in writes if w.started < s.ended}
            if initial_revision is not None:
                possible.setdefault(initial_revision, initial_description)
            if s.revision is None or s.revision < floor:
                late = min(
                    (
                        s.started - w.ended
                        for w in writes
                        if w.ended < s.started and w.revision > (s.revision or 0)
                    ),
                    default=0,
                )
                problems.append(
                    f"{s.op} of {s.model_id} in {self.phase_of(s.started)}: revision {s.revision} older than "
                    f"committed {floor} ({late * 1000:.0f} ms after the newer one was answered)"
                )
            elif s.revision not in possible and s.revision > (initial_revision or 0):
                problems.append(f"{s.op} of {s.model_id}: revision {s.revision} was never written before")
            elif s.revision in possible and possible[s.revision] is not None:
                if s.description != possible[s.revision]:
                    problems.append(f"{s.op} of {s.model_id}: rev {s.revision} description differs")
        return problems


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
