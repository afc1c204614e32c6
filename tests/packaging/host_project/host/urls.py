"""URLs of the minimal host project: the admin, the registry's API url modules, health and metrics."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("caching.api_urls")),
    path("api/v1/", include("versioning.api.urls")),
    path("api/v1/", include("models_registry.api.urls")),
    path("", include("models_registry.observability.urls")),  # health/, health/live/, metrics
]
