"""Routes of the cache API, mounted at /api/v1/."""

from django.urls import path

from . import api

app_name = "caching_api"

urlpatterns = [
    path("cache/stats/", api.CacheStatsView.as_view(), name="cache-stats"),
    path("cache/invalidate/", api.CacheInvalidateView.as_view(), name="cache-invalidate"),
    path("invalidation-events/", api.InvalidationEventListView.as_view(), name="invalidation-events"),
]
