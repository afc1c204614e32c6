"""The project's URLs plus a view that fails (for the 5xx log line test)."""

from django.urls import include, path


def explode(request, n):
    raise RuntimeError("the view failed on purpose")


urlpatterns = [
    path("boom/<int:n>/", explode, name="boom"),
    path("", include("config.urls")),
]
