"""Routes of the cache API, mounted at /api/v1/."""

from django.urls import path

from . import api, api_rules

app_name = "caching_api"

urlpatterns = [
    path("cache/stats/", api.CacheStatsView.as_view(), name="cache-stats"),
    path("cache/invalidate/", api.CacheInvalidateView.as_view(), name="cache-invalidate"),
    path("invalidation-events/", api.InvalidationEventListView.as_view(), name="invalidation-events"),
    path(
        "invalidation-events/stats/",
        api.InvalidationEventStatsView.as_view(),
        name="invalidation-event-stats",
    ),
    path(
        "invalidation-rules/", api_rules.InvalidationRuleListCreateView.as_view(), name="invalidation-rules"
    ),
    path(
        "invalidation-rules/<int:id>/",
        api_rules.InvalidationRuleDetailView.as_view(),
        name="invalidation-rule-detail",
    ),
    path(
        "invalidation-rules/<int:id>/dry-run/",
        api_rules.InvalidationRuleDryRunView.as_view(),
        name="invalidation-rule-dry-run",
    ),
    path(
        "invalidation-rules/<int:id>/run/",
        api_rules.InvalidationRuleRunView.as_view(),
        name="invalidation-rule-run",
    ),
]
