"""Routes of the registry API, mounted at /api/v1/ (namespace ``models_registry_api``)."""

from django.urls import path

from . import views

app_name = "models_registry_api"

urlpatterns = [
    path("models/", views.AIModelListCreateView.as_view(), name="model-list"),
    path("models/stats/", views.ModelStatsView.as_view(), name="model-stats"),
    # A key contains "/" (and ": @ . *"): the path converter takes the rest of the URL.
    path("models/by-key/<path:key>", views.AIModelByKeyView.as_view(), name="model-by-key"),
    path("models/<int:id>/", views.AIModelDetailView.as_view(), name="model-detail"),
    path("providers/", views.ProviderListView.as_view(), name="provider-list"),
    path("providers/<str:ref>/", views.ProviderDetailView.as_view(), name="provider-detail"),
    path("auth/token/", views.AuthTokenView.as_view(), name="auth-token"),
]
