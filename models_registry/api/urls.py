"""Routes of the registry API, mounted at /api/v1/ (namespace ``models_registry_api``)."""

from django.urls import path

from ..sync import views as sync_views
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
    # Upstream catalogue sync (models_registry/sync)
    path("sync/sources/<int:pk>/run/", sync_views.SyncSourceRunView.as_view(), name="sync-source-run"),
    path("sync/runs/", sync_views.SyncRunListView.as_view(), name="sync-run-list"),
    path("sync/runs/<int:pk>/", sync_views.SyncRunDetailView.as_view(), name="sync-run-detail"),
    path("sync/changes/", sync_views.SyncChangeListView.as_view(), name="sync-change-list"),
    path(
        "sync/changes/<int:pk>/approve/",
        sync_views.SyncChangeApproveView.as_view(),
        name="sync-change-approve",
    ),
    path(
        "sync/changes/<int:pk>/reject/", sync_views.SyncChangeRejectView.as_view(), name="sync-change-reject"
    ),
]
