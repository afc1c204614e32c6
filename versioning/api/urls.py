"""Routes of the versioning API, mounted at /api/v1/ (namespace ``versioning_api``)."""

from django.urls import path

from . import views

app_name = "versioning_api"

urlpatterns = [
    path("models/<int:pk>/versions/", views.ModelVersionListView.as_view(), name="version-list"),
    path(
        "models/<int:pk>/versions/<int:number>/",
        views.ModelVersionDetailView.as_view(),
        name="version-detail",
    ),
    path(
        "models/<int:pk>/versions/<int:number>/diff/",
        views.ModelVersionDiffView.as_view(),
        name="version-diff",
    ),
    path("versions/stats/", views.VersionStatsView.as_view(), name="version-stats"),
    path("changes/", views.ChangeFeedView.as_view(), name="change-feed"),
    path("rollbacks/", views.RollbackRequestListCreateView.as_view(), name="rollback-list"),
    path("rollbacks/<int:pk>/", views.RollbackRequestDetailView.as_view(), name="rollback-detail"),
    path("rollbacks/<int:pk>/approve/", views.RollbackApproveView.as_view(), name="rollback-approve"),
    path("rollbacks/<int:pk>/reject/", views.RollbackRejectView.as_view(), name="rollback-reject"),
    path("rollbacks/<int:pk>/cancel/", views.RollbackCancelView.as_view(), name="rollback-cancel"),
]
