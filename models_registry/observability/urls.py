"""Include-able URLs of the health and metrics endpoints::

    path("", include("models_registry.observability.urls"))

gives ``health/`` (readiness), ``health/live/`` (liveness) and ``metrics`` (Prometheus).
Keep ``health/`` exempt from an SSL redirect (``SECURE_REDIRECT_EXEMPT = [r"^health/"]``): load
balancers probe over plain HTTP.
"""

from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health_ready, name="health"),
    path("health/live/", views.health_live, name="health-live"),
    path("metrics", views.metrics_view, name="metrics"),
]
