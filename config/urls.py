"""Project URLs: admin, the registry and versioning APIs under /api/v1/, OpenAPI schema and docs,
health checks (health/, health/live/) and Prometheus metrics (metrics)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("caching.api_urls")),
    path("api/v1/", include("versioning.api.urls")),  # versions, diffs, changes feed, rollbacks
    path("api/v1/", include("models_registry.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("models_registry.observability.urls")),  # health/, health/live/, metrics
]

# Unknown URLs and unhandled errors under /api/ answer JSON, like the views (HTML elsewhere).
handler404 = "models_registry.api.errors.not_found"
handler500 = "models_registry.api.errors.server_error"
