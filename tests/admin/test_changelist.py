"""The AI model and provider changelists: columns, every filter, search, the admin index."""

import pytest
from django.urls import reverse

from models_registry.admin.filters import CapabilityFilter
from tests.admin.conftest import url
from tests.factories import AIModelFactory

pytestmark = pytest.mark.django_db


def keys(response) -> set[str]:
    assert response.status_code == 200
    return {model.key for model in response.context["cl"].result_list}


def test_changelist_shows_every_model_with_exact_prices(staff_client, catalogue):
    response = staff_client.get(url("changelist"))
    assert keys(response) == {m.key for m in catalogue.values()}
    html = response.content.decode()
    for text in ("gpt-4o-mini", "0.15", "0.6", "128,000", "65,536", "Input $/1M", "Context window"):
        assert text in html
    assert "2.500000000000" not in html  # prices are shown exactly, not padded


def test_changelist_orders_by_a_price_column(staff_client, catalogue):
    response = staff_client.get(url("changelist"), {"o": "5"})  # the input price column
    listed = [m.key for m in response.context["cl"].result_list]
    assert listed[0] == "openai/text-embedding-3-small"
    assert listed[-1] == "anthropic/claude-3-opus-20240229"


def test_filter_by_provider(staff_client, catalogue):
    provider = catalogue["opus"].provider
    response = staff_client.get(url("changelist"), {"provider__id__exact": provider.pk})
    assert keys(response) == {"anthropic/claude-3-opus-20240229", "anthropic/claude-instant-1"}


def test_filter_by_mode(staff_client, catalogue):
    response = staff_client.get(url("changelist"), {"mode": "embedding"})
    assert keys(response) == {"openai/text-embedding-3-small"}


def test_capability_filter_offers_columns_and_json_keys(staff_client, catalogue):
    response = staff_client.get(url("changelist"))
    spec = next(s for s in response.context["cl"].filter_specs if isinstance(s, CapabilityFilter))
    values = [value for value, _ in spec.lookup_choices]
    assert values[:3] == ["streaming", "function_calling", "vision"]
    # Only keys that are true somewhere: "reasoning" is true for opus, false for gpt-4o.
    assert values[3:] == ["prompt_caching", "reasoning"]


def test_filter_by_capability_column(staff_client, catalogue):
    response = staff_client.get(url("changelist"), {"capability": "vision"})
    assert keys(response) == {"openai/gpt-4o"}


def test_filter_by_capability_json_key(staff_client, catalogue):
    response = staff_client.get(url("changelist"), {"capability": "reasoning"})
    assert keys(response) == {"anthropic/claude-3-opus-20240229"}
    response = staff_client.get(url("changelist"), {"capability": "prompt_caching"})
    assert keys(response) == {"openai/gpt-4o", "anthropic/claude-3-opus-20240229"}


def test_filter_by_unknown_capability_is_empty_not_an_error(staff_client, catalogue):
    assert keys(staff_client.get(url("changelist"), {"capability": "teleportation"})) == set()


def test_filter_by_deprecated_and_active(staff_client, catalogue):
    assert keys(staff_client.get(url("changelist"), {"is_deprecated__exact": "1"})) == {
        "anthropic/claude-3-opus-20240229"
    }
    assert keys(staff_client.get(url("changelist"), {"is_active__exact": "0"})) == {
        "anthropic/claude-instant-1"
    }


def test_filters_combine(staff_client, catalogue):
    provider = catalogue["gpt"].provider
    response = staff_client.get(
        url("changelist"), {"provider__id__exact": provider.pk, "capability": "prompt_caching"}
    )
    assert keys(response) == {"openai/gpt-4o"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gpt-4o", {"openai/gpt-4o", "openai/gpt-4o-mini"}),
        ("Opus", {"anthropic/claude-3-opus-20240229"}),  # display name, any case
        ("deepseek/", {"deepseek/deepseek-chat"}),  # key
    ],
)
def test_search(staff_client, catalogue, query, expected):
    assert keys(staff_client.get(url("changelist"), {"q": query})) == expected


def test_provider_changelist_counts_models(staff_client, catalogue):
    response = staff_client.get(reverse("admin:models_registry_provider_changelist"))
    assert response.status_code == 200
    rows = {p.slug: (p.model_count, p.active_model_count) for p in response.context["cl"].result_list}
    assert rows == {"anthropic": (2, 1), "deepseek": (1, 1), "openai": (3, 3)}
    html = response.content.decode()
    assert f"provider__id__exact={catalogue['gpt'].provider_id}" in html


def test_provider_search(staff_client, catalogue):
    response = staff_client.get(reverse("admin:models_registry_provider_changelist"), {"q": "anthro"})
    assert [p.slug for p in response.context["cl"].result_list] == ["anthropic"]


def test_autocomplete_finds_models(staff_client, catalogue):
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"term": "mini", "app_label": "models_registry", "model_name": "aimodel", "field_name": "successor"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["openai/gpt-4o-mini"]


def test_admin_index_shows_catalogue_stats(staff_client, catalogue):
    response = staff_client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Model catalogue" in html
    assert "Active models by provider" in html
    assert "Active models by mode" in html
    assert "Active models by capability" in html
    assert "Added in the last 7 days" in html
    summary = {label: value for label, value, _ in response.context["summary"]}
    assert summary["Models"] == 6
    assert summary["Active"] == 5
    assert summary["Inactive"] == 1
    assert summary["Deprecated (active)"] == 1
    assert summary["Added in the last 7 days"] == 6
    # counts link to the changelist filtered to exactly what they count
    assert "capability=prompt_caching&amp;is_active__exact=1" in html
    assert "mode=embedding&amp;is_active__exact=1" in html
    # and the app list is still there
    assert reverse("admin:models_registry_aimodel_changelist") in html


def test_index_stat_links_match_their_counts(staff_client, catalogue):
    AIModelFactory(provider=catalogue["gpt"].provider, name="mystery", mode="")  # mode "unknown"
    response = staff_client.get(reverse("admin:index"))
    for _title, rows, more in response.context["tables"]:
        for _name, count, link in [*rows, *more]:
            assert staff_client.get(link).context["cl"].result_count == count, link


def test_admin_index_hides_stats_from_staff_without_model_permission(client, catalogue):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="nobody", is_staff=True))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Model catalogue" not in response.content.decode()
