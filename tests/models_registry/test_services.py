"""The one write path: validation, no-op detection, revisions, history rows, the write hook."""

from decimal import Decimal

import pytest

from models_registry import services
from models_registry.exceptions import ConflictError, PreconditionFailed, RegistryValidationError
from models_registry.models import AIModel
from models_registry.signals import ai_model_written
from tests.factories import AIModelFactory, ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def written():
    events = []

    def receiver(**kwargs):
        events.append(kwargs)

    ai_model_written.connect(receiver, weak=False)
    yield events
    ai_model_written.disconnect(receiver)


def test_create_sets_key_revision_history_and_signal(written):
    user = UserFactory()
    provider = ProviderFactory(slug="openai")
    model = services.ai_model_create(
        provider="openai", name="gpt-4o", actor=user, reason="first", input_cost_per_1m="2.50", mode="chat"
    )
    assert model.key == "openai/gpt-4o"
    assert model.provider == provider
    assert model.revision == 1
    assert model.input_cost_per_1m == Decimal("2.5")
    history = list(model.history.all())
    assert len(history) == 1
    assert history[0].history_user == user
    assert history[0].history_change_reason == "first"
    assert [e["action"] for e in written] == ["create"]
    assert written[0]["before"] is None
    assert {c.field for c in written[0]["changes"]} >= {"name", "provider", "input_cost_per_1m"}


def test_update_bumps_revision_by_one_per_real_change(written):
    model = AIModelFactory()
    written.clear()
    model = services.ai_model_update(ai_model=model, data={"context_window": 200_000}, reason="bigger")
    assert model.revision == 2
    model = services.ai_model_update(ai_model=model, data={"input_cost_per_1m": Decimal("1.25")})
    assert model.revision == 3
    assert model.history.count() == 3
    assert [e["action"] for e in written] == ["update", "update"]
    assert [(c.field, c.old, c.new, c.kind) for c in written[0]["changes"]] == [
        ("context_window", 128_000, 200_000, "changed")
    ]
    reasons = list(model.history.order_by("history_id").values_list("history_change_reason", flat=True))
    assert reasons[1] == "bigger"


def test_noop_write_creates_nothing(written):
    model = AIModelFactory(input_cost_per_1m=Decimal("2.5"))
    written.clear()
    same = services.ai_model_update(
        ai_model=model,
        data={"input_cost_per_1m": "2.500000", "context_window": 128_000, "mode": "chat"},
    )
    assert same.revision == 1
    assert model.history.count() == 1
    assert written == []
    assert AIModel.objects.get(pk=model.pk).updated_at == model.updated_at


def test_decimal_prices_are_exact():
    model = AIModelFactory(input_cost_per_1m=0.1, output_cost_per_1m="0.30000000000000004")
    stored = AIModel.objects.get(pk=model.pk)
    assert stored.input_cost_per_1m == Decimal("0.1")
    assert stored.output_cost_per_1m == Decimal("0.3")


@pytest.mark.parametrize(
    "data, field",
    [
        ({"input_cost_per_1m": Decimal("-1")}, "input_cost_per_1m"),
        ({"output_cost_per_1m": "abc"}, "output_cost_per_1m"),
        ({"context_window": 0}, "context_window"),
        ({"max_output_tokens": -5}, "max_output_tokens"),
        ({"mode": "Chat Model!"}, "mode"),
        ({"pricing": {"input_cost_per_image": "-0.1"}}, "pricing"),
        ({"pricing": {"input_cost_per_image": "free"}}, "pricing"),
        ({"tags": "not-a-list"}, "tags"),
        ({"tags": ["a", "a"]}, "tags"),
        ({"capabilities": ["x"]}, "capabilities"),
        ({"revision": 7}, "revision"),
        ({"key": "x/y"}, "key"),
        ({"nonsense": 1}, "nonsense"),
        ({"successor": "no/such-model"}, "successor"),
    ],
)
def test_invalid_update_raises_field_error_and_changes_nothing(data, field):
    model = AIModelFactory()
    with pytest.raises(RegistryValidationError) as info:
        services.ai_model_update(ai_model=model, data=data)
    assert field in info.value.field_errors
    stored = AIModel.objects.get(pk=model.pk)
    assert stored.revision == 1
    assert stored.history.count() == 1


def test_create_unknown_provider_and_duplicate_key():
    ProviderFactory(slug="acme")
    with pytest.raises(RegistryValidationError) as info:
        services.ai_model_create(provider="nope", name="m")
    assert "provider" in info.value.field_errors
    services.ai_model_create(provider="acme", name="m")
    with pytest.raises((RegistryValidationError, ConflictError)):
        services.ai_model_create(provider="acme", name="m")
    assert AIModel.objects.filter(key="acme/m").count() == 1


def test_case_only_twins_are_distinct_models():
    ProviderFactory(slug="together_ai")
    a = services.ai_model_create(provider="together_ai", name="BAAI/bge-base")
    b = services.ai_model_create(provider="together_ai", name="baai/bge-base")
    assert a.pk != b.pk and a.key != b.key


def test_expected_revision_guards_lost_updates():
    model = AIModelFactory()
    services.ai_model_update(ai_model=model, data={"description": "x"}, expected_revision=1)
    with pytest.raises(PreconditionFailed):
        services.ai_model_update(ai_model=model, data={"description": "y"}, expected_revision=1)
    assert AIModel.objects.get(pk=model.pk).description == "x"


def test_deactivate_is_soft_and_recorded(written):
    model = AIModelFactory()
    services.ai_model_deactivate(ai_model=model, reason="retired")
    stored = AIModel.objects.get(pk=model.pk)
    assert stored.is_active is False
    assert stored.revision == 2
    assert stored.history.first().history_change_reason == "retired"
    assert written[-1]["action"] == "deactivate"
    # deactivating again is a no-op
    services.ai_model_deactivate(ai_model=model)
    assert AIModel.objects.get(pk=model.pk).revision == 2


def test_relations_are_part_of_the_state():
    a, b, c = AIModelFactory(), AIModelFactory(), AIModelFactory()
    a = services.ai_model_update(ai_model=a, data={"successor": b.key, "alternatives": [b.pk, c]})
    assert a.successor == b
    assert sorted(m.pk for m in a.alternatives.all()) == sorted([b.pk, c.pk])
    assert a.revision == 2
    # same relations again: no-op
    a = services.ai_model_update(ai_model=a, data={"alternatives": [c, b]})
    assert a.revision == 2


def test_hook_failure_rolls_the_write_back():
    model = AIModelFactory()

    def boom(**kwargs):
        raise RuntimeError("hook failed")

    ai_model_written.connect(boom, weak=False)
    try:
        with pytest.raises(RuntimeError):
            services.ai_model_update(ai_model=model, data={"description": "lost"})
    finally:
        ai_model_written.disconnect(boom)
    stored = AIModel.objects.get(pk=model.pk)
    assert stored.description == "" and stored.revision == 1 and stored.history.count() == 1
