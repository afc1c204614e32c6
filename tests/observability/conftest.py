"""Fixtures of the observability tests: log capture through the real JSON formatter and filter,
and metric helpers (parse the ``/metrics`` text, read one sample)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models_registry.observability.logging import ContextFilter, JsonFormatter

CAPTURED_LOGGERS = ("models_registry", "caching", "versioning", "django.request", "celery")


class LogCapture:
    """Everything the app logs (DEBUG and up), formatted by the production formatter."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.handler.addFilter(ContextFilter())
        self.handler.setLevel(logging.DEBUG)

    @property
    def text(self) -> str:
        self.handler.flush()
        return self.stream.getvalue()

    def records(self) -> list[dict]:
        """Every line parsed as JSON (fails the test if a line is not one JSON object)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def operation(self, name: str) -> list[dict]:
        return [r for r in self.records() if r.get("operation") == name]


@pytest.fixture
def logs():
    capture = LogCapture()
    saved = []
    for name in ("", *CAPTURED_LOGGERS):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture.handler)
    try:
        yield capture
    finally:
        root.removeHandler(capture.handler)
        for logger, level in saved:
            logger.setLevel(level)


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted label items): value}`` of a Prometheus text exposition."""
    samples: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(value for (n, items), value in samples.items() if n == name and wanted <= set(items))


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return parse_metrics(response.content.decode())
