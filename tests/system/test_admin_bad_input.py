"""Bad input through the real admin pages (a logged-in superuser, Django's test client): every
bad value is shown as a form error on the page — never a 500 — and nothing changes in the database.

For each form the page is rendered, the browser's answer rebuilt from the rendered form (what a
user who changes nothing would send), one field replaced by a bad value, and posted. Covered: the
AIModel add and change forms, the rollback request and decision pages, the invalidation rule form,
the catalogue sync source form.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse

from caching.models import InvalidationRule
from models_registry import services
from models_registry.models import AIModel, Provider
from models_registry.sync.models import CatalogSource
from tests.factories import AIModelFactory, ProviderFactory
from versioning.models import ModelVersion, RollbackRequest

pytestmark = [pytest.mark.system, pytest.mark.postgres, pytest.mark.django_db]

LONG = "x" * 10_000
CONTROL = "bad\x00name\x07\x1b"


def _browser_data(form) -> dict:
    """What a browser sends back for ``form`` when the user changes nothing."""
    data = {}
    for bound in form:
        value = bound.value()
        if isinstance(bound.field, forms.ModelMultipleChoiceField):
            data[bound.html_name] = [str(v) for v in value or []]
        elif isinstance(bound.field, forms.NullBooleanField):
            data[bound.html_name] = {True: "true", False: "false"}.get(value, "unknown")
        elif isinstance(bound.field, forms.BooleanField):
            if value:
                data[bound.html_name] = "on"
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(v) for v in value]
        elif isinstance(value, datetime.date):
            data[bound.html_name] = value.isoformat()
        elif isinstance(bound.field, forms.JSONField) and not isinstance(value, str):
            data[bound.html_name] = json.dumps(value)
        else:
            data[bound.html_name] = "" if value is None else str(value)
    return data


def _db_state() -> tuple:
    """Everything a bad form could have written."""
    return (
        sorted(AIModel.objects.values_list("key", "revision", "is_active")),
        AIModel.history.model.objects.count(),
        ModelVersion.objects.count(),
        sorted(RollbackRequest.objects.values_list("pk", "status")),
        sorted(InvalidationRule.objects.values_list("pk", "name")),
        sorted(CatalogSource.objects.values_list("pk", "name", "location")),
        Provider.objects.count(),
    )


@pytest.fixture
def admin_client_(client, django_user_model):
    user = django_user_model.objects.create_superuser("sys-admin", "admin@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def models(db):
    acme = ProviderFactory(slug="acme", name="Acme")
    first = AIModelFactory(
        provider=acme,
        name="first",
        input_cost_per_1m=Decimal("1"),
        pricing={"input_cost_per_image": "0.01"},
        capabilities={"reasoning": True},
        metadata={"note": "n"},
    )
    second = AIModelFactory(provider=acme, name="second")
    services.ai_model_update(ai_model=first, data={"display_name": "First v2"}, source="admin")
    first.refresh_from_db()
    return {"first": first, "second": second}


def _post_bad(client, url: str, field: str, value, *, expect_field: bool = True):
    page = client.get(url)
    assert page.status_code == 200, url
    form = page.context["adminform"].form
    data = _browser_data(form)
    data[field] = value
    before = _db_state()
    response = client.post(url, data)
    assert response.status_code == 200, (field, value, response.status_code)
    errors = response.context["adminform"].form.errors
    assert errors, (field, value)
    if expect_field:
        assert field in errors or "__all__" in errors, (field, errors)
    assert b"errornote" in response.content or b"errorlist" in response.content  # shown on the page
    assert _db_state() == before, (field, value)
    return errors


MODEL_BAD_VALUES = [
    ("context_window", "lots"),
    ("context_window", "-1"),
    ("context_window", "1e400"),
    ("context_window", "99999999999999999999999"),
    ("max_output_tokens", "1.5"),
    ("input_cost_per_1m", "-3"),
    ("input_cost_per_1m", "NaN"),
    ("input_cost_per_1m", "Infinity"),
    ("input_cost_per_1m", "1e308"),
    ("output_cost_per_1m", "ten"),
    ("pricing", "{not json"),
    ("pricing", '{"input_cost_per_image": NaN}'),
    ("pricing", "[" * 5000 + "]" * 5000),
    ("pricing", '"just a string"'),
    ("capabilities", "{broken"),
    ("capabilities", "[1, 2]"),
    ("metadata", "{'single': 'quotes'}"),
    ("metadata", "[]"),
    ("tags", "not a list"),
    ("mode", "x" * 10_000),
    ("display_name", LONG),
    ("description", "\x00"),
    ("deprecation_date", "31/31/2031"),
    ("deprecation_date", "99999-01-01"),
    ("successor", "999999"),
    ("successor", "abc"),
]


@pytest.mark.parametrize(
    ("field", "value"), MODEL_BAD_VALUES, ids=[f"{f}={v[:20]!r}" for f, v in MODEL_BAD_VALUES]
)
def test_aimodel_change_form_bad_input(admin_client_, models, field, value):
    url = reverse("admin:models_registry_aimodel_change", args=[models["first"].pk])
    _post_bad(admin_client_, url, field, value)


ADD_BAD_VALUES = [  # the change form's cases apply to the same fields here: a few of them, plus identity
    ("context_window", "lots"),
    ("input_cost_per_1m", "-3"),
    ("pricing", "[" * 5000 + "]" * 5000),
    ("successor", "abc"),
    ("name", CONTROL),
    ("name", LONG),
    ("name", ""),
    ("name", "first"),  # duplicate key acme/first
    ("provider", ""),
    ("provider", "999999"),
    ("provider", "abc"),
]


@pytest.mark.parametrize(
    ("field", "value"), ADD_BAD_VALUES, ids=[f"{f}={v[:20]!r}" for f, v in ADD_BAD_VALUES]
)
def test_aimodel_add_form_bad_input(admin_client_, models, field, value):
    url = reverse("admin:models_registry_aimodel_add")
    page = admin_client_.get(url)
    form = page.context["adminform"].form
    data = _browser_data(form)
    data.update({"provider": str(models["first"].provider_id), "name": "brand-new"})
    data[field] = value
    before = _db_state()
    response = admin_client_.post(url, data)
    assert response.status_code == 200, (field, value, response.status_code)
    errors = response.context["adminform"].form.errors
    assert field in errors or "__all__" in errors, (field, value, errors)
    assert _db_state() == before


def test_successor_cannot_be_the_model_itself(admin_client_, models):
    model = models["first"]
    url = reverse("admin:models_registry_aimodel_change", args=[model.pk])
    _post_bad(admin_client_, url, "successor", str(model.pk))


def test_rollback_request_page_with_bad_input(admin_client_, models):
    model = models["first"]
    before = _db_state()
    url = reverse("admin:versioning_rollbackrequest_request", args=[model.pk, 1])
    for reason in ("", "   ", "\x00"):
        response = admin_client_.post(url, {"reason": reason})
        assert response.status_code == 400, reason
        assert response.context["errors"]
    # nothing to roll back to: version 2 is the current state
    response = admin_client_.post(
        reverse("admin:versioning_rollbackrequest_request", args=[model.pk, 2]), {"reason": "r"}
    )
    assert response.status_code == 400
    assert "already in the state" in " ".join(response.context["errors"])
    # versions and models that do not exist
    assert (
        admin_client_.get(
            reverse("admin:versioning_rollbackrequest_request", args=[model.pk, 99])
        ).status_code
        == 404
    )
    assert (
        admin_client_.get(reverse("admin:versioning_rollbackrequest_request", args=[999999, 1])).status_code
        == 404
    )
    assert _db_state() == before


def test_rollback_decision_pages_with_bad_input(admin_client_, models, django_user_model):
    model = models["first"]
    requester = django_user_model.objects.create_user("sys-requester", password="pw")
    request = services_rollback(model, requester)
    before = _db_state()
    # rejecting needs a comment: an error shown to the user, the request stays pending
    response = admin_client_.post(
        reverse("admin:versioning_rollbackrequest_reject", args=[request.pk]), {"comment": "  "}, follow=True
    )
    assert response.status_code == 200
    assert any("comment" in str(m).lower() or "why" in str(m).lower() for m in response.context["messages"])
    assert _db_state() == before
    for verb in ("reject", "approve"):
        response = admin_client_.post(
            reverse(f"admin:versioning_rollbackrequest_{verb}", args=[request.pk]),
            {"comment": "no\x00"},
            follow=True,
        )
        assert response.status_code == 200, verb
        assert any("NUL" in str(m) for m in response.context["messages"]), verb
        assert _db_state() == before
    assert (
        admin_client_.post(reverse("admin:versioning_rollbackrequest_approve", args=[999999]), {}).status_code
        == 404
    )
    # the change form of the request itself: the admin's own form, read-only
    response = admin_client_.post(
        reverse("admin:versioning_rollbackrequest_change", args=[request.pk]), {"status": "completed"}
    )
    assert response.status_code in (200, 302, 403)
    assert RollbackRequest.objects.get(pk=request.pk).status == RollbackRequest.Status.PENDING
    assert _db_state() == before


def services_rollback(model, requester):
    from versioning import services as vservices

    return vservices.rollback_request_create(
        ai_model=model, target_version=1, reason="go back", actor=requester
    )


def _first_strategy(page) -> str:
    return page.context["adminform"].form.fields["strategy"].choices[0][0]


RULE_BAD_VALUES = [
    ("name", ""),
    ("name", LONG),
    ("strategy", "no-such-strategy"),
    ("strategy_params", "{not json"),
    ("strategy_params", "[1]"),
    ("conditions", "{oops"),
    ("conditions", '[{"field": "key", "op": "matches", "value": "(unclosed"}]'),
    ("conditions", '[{"field": "no_such_field", "op": "eq", "value": 1}]'),
    ("conditions", '"a string"'),
    ("actions", "not json"),
    ("actions", "[]"),
    ("actions", '[{"type": "explode"}]'),
    ("events", "no_such_event"),
]


@pytest.mark.parametrize(
    ("field", "value"), RULE_BAD_VALUES, ids=[f"{f}={v[:20]!r}" for f, v in RULE_BAD_VALUES]
)
def test_invalidation_rule_form_bad_input(admin_client_, field, value):
    url = reverse("admin:caching_invalidationrule_add")
    page = admin_client_.get(url)
    assert page.status_code == 200
    data = _browser_data(page.context["adminform"].form)
    data.update(
        {
            "name": "rule",
            "strategy": _first_strategy(page),
            "events": ["model_changed"],
            "actions": json.dumps([{"type": "invalidate"}]),
        }
    )
    data[field] = value
    before = _db_state()
    response = admin_client_.post(url, data)
    assert response.status_code == 200, (field, value, response.status_code)
    errors = response.context["adminform"].form.errors
    assert field in errors or "__all__" in errors, (field, value, errors)
    assert _db_state() == before


SOURCE_BAD_VALUES = [
    ("name", ""),
    ("name", LONG),
    ("format", "yaml"),
    ("location", ""),
    ("location", LONG),
    ("policy", "yolo"),
    ("missing_grace_days", "-1"),
    ("missing_grace_days", "soon"),
    ("schedule", LONG),
]


@pytest.mark.parametrize(
    ("field", "value"), SOURCE_BAD_VALUES, ids=[f"{f}={v[:20]!r}" for f, v in SOURCE_BAD_VALUES]
)
def test_sync_source_form_bad_input(admin_client_, field, value):
    url = reverse("admin:models_registry_catalogsource_add")
    page = admin_client_.get(url)
    assert page.status_code == 200
    data = _browser_data(page.context["adminform"].form)
    data.update({"name": "upstream", "location": "/tmp/catalogue.json"})
    data[field] = value
    before = _db_state()
    response = admin_client_.post(url, data)
    assert response.status_code == 200, (field, value, response.status_code)
    errors = response.context["adminform"].form.errors
    assert field in errors or "__all__" in errors, (field, value, errors)
    assert _db_state() == before


def test_baselines_without_the_bad_value_save(admin_client_, models):
    """The data the bad-input cases start from is valid: without the bad value, each form saves."""
    url = reverse("admin:models_registry_aimodel_add")
    data = _browser_data(admin_client_.get(url).context["adminform"].form)
    data.update({"provider": str(models["first"].provider_id), "name": "brand-new"})
    response = admin_client_.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    assert AIModel.objects.filter(key="acme/brand-new").exists()
    url = reverse("admin:models_registry_aimodel_change", args=[models["first"].pk])
    data = _browser_data(admin_client_.get(url).context["adminform"].form)
    data["display_name"] = "First v3"
    response = admin_client_.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    assert AIModel.objects.get(pk=models["first"].pk).display_name == "First v3"
    url = reverse("admin:caching_invalidationrule_add")
    page = admin_client_.get(url)
    data = _browser_data(page.context["adminform"].form)
    data.update(
        {
            "name": "rule",
            "strategy": _first_strategy(page),
            "events": ["model_changed"],
            "actions": json.dumps([{"type": "invalidate"}]),
        }
    )
    response = admin_client_.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    url = reverse("admin:models_registry_catalogsource_add")
    data = _browser_data(admin_client_.get(url).context["adminform"].form)
    data.update({"name": "upstream", "location": "/tmp/catalogue.json"})
    response = admin_client_.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
