"""Shared pieces of the rule engine tests: a small catalogue, a rule maker, a recorder of
``rule_notified``, and a custom strategy plugged in by import string."""

from __future__ import annotations

from contextlib import contextmanager

from caching.rules import services as rules
from caching.rules.params import Param
from caching.rules.strategies import Strategy
from caching.signals import rule_notified
from models_registry import selectors
from tests.factories import AIModelFactory, ProviderFactory

KEYS = ("openai/gpt-4o", "openai/gpt-3.5", "anthropic/claude")


def build_catalogue() -> dict:
    """Three models over two providers, read once so both tiers hold them."""
    openai = ProviderFactory(slug="openai")
    anthropic = ProviderFactory(slug="anthropic")
    models = {
        "gpt-4o": AIModelFactory(
            provider=openai,
            name="gpt-4o",
            tags=["flagship"],
            capabilities={"reasoning": False},
            metadata={"cache_priority": 5},
        ),
        "gpt-3.5": AIModelFactory(
            provider=openai, name="gpt-3.5", tags=["legacy"], is_deprecated=True, context_window=16_000
        ),
        "claude": AIModelFactory(provider=anthropic, name="claude", tags=["flagship"]),
    }
    selectors.ai_model_get_many(keys=KEYS)
    return models


@contextmanager
def notifications():
    """Collects the keyword arguments of every ``rule_notified`` sent meanwhile."""
    received = []

    def receiver(**kwargs):
        received.append(kwargs)

    rule_notified.connect(receiver, weak=False, dispatch_uid="test-rules-notified")
    try:
        yield received
    finally:
        rule_notified.disconnect(dispatch_uid="test-rules-notified")


def make_rule(name="r", *, events=("manual",), actions=({"type": "notify"},), **fields):
    return rules.rule_create(data={"name": name, "events": list(events), "actions": list(actions), **fields})


class DeprecatedStrategy(Strategy):
    """A custom strategy: cached entries of deprecated models (optionally of one ``provider``)."""

    name = "deprecated"
    description = "Cached entries of deprecated models."
    params = {"provider": Param("str", default="")}

    def select(self, view, *, event, context, params):
        return [
            entry
            for entry in view.all().values()
            if entry.record.is_deprecated and params["provider"] in ("", entry.record.provider)
        ]


class NotAStrategy:
    name = "broken"
