"""JSON answers for requests that never reach an API view: an unknown URL under ``/api/`` (an id
that does not match a route, a key with a newline) is a JSON 404, and an unhandled error there a
JSON 500, in the API's error shape instead of Django's HTML pages.

Mount with ``handler404 = "models_registry.api.errors.not_found"`` and ``handler500 =
"models_registry.api.errors.server_error"`` in the root URLconf (``config/urls.py`` does); other
paths get Django's default pages.
"""

from django.http import JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "A server error occurred.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
