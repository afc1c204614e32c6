"""Hypothesis stateful test: random creates, updates, no-ops, deactivations and rollbacks against an
in-memory reference. After every step: numbering is gap-free, each version's snapshot is what the
reference says the model was, the latest snapshot equals the model, and the stored diff applied
to the previous snapshot gives the next one. Every rollback must reproduce its target exactly."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from models_registry import services
from tests.factories import AIModelFactory, ProviderFactory, UserFactory, grant
from tests.versioning.conftest import snapshot_state, state_of, versions_of
from versioning import services as vservices
from versioning.diff import apply_changes, diff_states
from versioning.models import RollbackRequest
from versioning.snapshots import decode_changes

pytestmark = pytest.mark.django_db

_run = itertools.count()
words = st.sampled_from(["alpha", "beta", "gamma", "delta"])
prices = st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=2, allow_nan=False))
field_values = {
    "description": st.text(alphabet="abc ", max_size=4),
    "context_window": st.one_of(st.none(), st.integers(1, 2_000_000)),
    "input_cost_per_1m": prices,
    "supports_vision": st.one_of(st.none(), st.booleans()),
    "capabilities": st.dictionaries(words, st.booleans(), max_size=3),
    "tags": st.lists(words, max_size=3, unique=True),
    "pricing": st.dictionaries(words, st.decimals(min_value=0, max_value=9, places=3), max_size=2),
    "metadata": st.dictionaries(
        words, st.one_of(st.integers(0, 9), st.text(alphabet="xy", max_size=2)), max_size=2
    ),
    "is_active": st.booleans(),
    "is_deprecated": st.booleans(),
}
updates = st.fixed_dictionaries({}, optional=field_values).filter(bool)


def _expected(state: dict, data: dict) -> dict:
    """The reference: what the state must be after writing ``data`` (independent of the services)."""
    out = {**state}
    for field, value in data.items():
        if field in ("input_cost_per_1m",):
            value = None if value is None else value.normalize()
        elif field == "pricing":
            value = {key: price.normalize() for key, price in value.items()}
        elif field in ("capabilities", "metadata"):
            value = dict(value)
        elif field == "tags":
            value = list(value)
        elif field == "alternatives":
            value = sorted(value)
        out[field] = value
    return out


def _wire(data: dict) -> dict:
    """``data`` as an API client would send it (prices as strings)."""
    out = dict(data)
    if out.get("input_cost_per_1m") is not None:
        out["input_cost_per_1m"] = str(out["input_cost_per_1m"])
    if "pricing" in out:
        out["pricing"] = {key: str(value) for key, value in out["pricing"].items()}
    return out


class VersioningMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        run = next(_run)
        self.provider = ProviderFactory(slug=f"stateful{run}")
        self.requester = grant(UserFactory(username=f"req{run}"), "add_rollbackrequest")
        self.approver = grant(UserFactory(username=f"app{run}"), "approve_rollbackrequest")
        self.models = []  # AIModel rows, in creation order
        self.history: dict[int, list[dict]] = {}  # pk → the reference state of every version

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _current(self, pk: int) -> dict:
        return self.history[pk][-1]

    def _write(self, model, data: dict) -> None:
        expected = _expected(self._current(model.pk), data)
        services.ai_model_update(ai_model=model.pk, data=_wire(data), source="api")
        if diff_states(self._current(model.pk), expected):
            self.history[model.pk].append(expected)

    @precondition(lambda self: len(self.models) < 3)
    @rule(data=updates)
    def create(self, data):
        model = AIModelFactory(provider=self.provider, name=f"m{len(self.models)}", **_wire(data))
        self.models.append(model)
        self.history[model.pk] = [state_of(model)]

    @precondition(lambda self: self.models)
    @rule(index=st.integers(0, 2), data=updates)
    def update(self, index, data):
        self._write(self.models[index % len(self.models)], data)

    @precondition(lambda self: self.models)
    @rule(index=st.integers(0, 2), field=st.sampled_from(sorted(field_values)))
    def write_the_same_value(self, index, field):
        model = self.models[index % len(self.models)]
        before = len(self.history[model.pk])
        self._write(model, {field: self._current(model.pk)[field]})
        assert len(self.history[model.pk]) == before

    @precondition(lambda self: len(self.models) >= 2)
    @rule(index=st.integers(0, 2), other=st.integers(0, 2), alternatives=st.booleans())
    def relate(self, index, other, alternatives):
        model = self.models[index % len(self.models)]
        others = [m.key for m in self.models if m.pk != model.pk]
        key = others[other % len(others)]
        self._write(model, {"alternatives": [key]} if alternatives else {"successor": key})

    @precondition(lambda self: self.models)
    @rule(index=st.integers(0, 2), choice=st.integers(0, 50))
    def roll_back(self, index, choice):
        model = self.models[index % len(self.models)]
        states = self.history[model.pk]
        number = choice % len(states) + 1
        target = states[number - 1]
        if not diff_states(self._current(model.pk), target):
            return  # already there: refused, nothing to test
        request = vservices.rollback_request_create(
            ai_model=model.pk, target_version=number, reason="stateful", actor=self.requester
        )
        done = vservices.rollback_request_approve(rollback_request=request, actor=self.approver)
        assert done.status == RollbackRequest.Status.COMPLETED, done.error
        assert state_of(model) == target  # exactly the target state, as a new version
        states.append(target)

    @precondition(lambda self: self.models)
    @rule(index=st.integers(0, 2), choice=st.integers(0, 50))
    def restore_any_version_exactly(self, index, choice):
        """Restoring any version reproduces its snapshot exactly (then undone: a probe only)."""
        model = self.models[index % len(self.models)]
        versions = versions_of(model)
        version = versions[choice % len(versions)]
        with transaction.atomic():
            services.ai_model_restore_snapshot(ai_model=model.pk, snapshot=version.snapshot, reason="probe")
            assert state_of(model) == snapshot_state(version)
            transaction.set_rollback(True)

    @invariant()
    def versions_match_the_reference(self):
        for model in self.models:
            versions = versions_of(model)
            assert [v.number for v in versions] == list(range(1, len(self.history[model.pk]) + 1))
            assert [snapshot_state(v) for v in versions] == self.history[model.pk]
            assert snapshot_state(versions[-1]) == state_of(model)
            if len(versions) > 1:
                previous, latest = versions[-2], versions[-1]
                rebuilt = apply_changes(snapshot_state(previous), decode_changes(latest.changes))
                assert diff_states(rebuilt, snapshot_state(latest)) == []


def test_versioning_state_machine():
    run_state_machine_as_test(
        VersioningMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_reference_helper_normalises_like_the_registry():
    assert _expected({"input_cost_per_1m": None}, {"input_cost_per_1m": Decimal("2.50")}) == {
        "input_cost_per_1m": Decimal("2.5")
    }
