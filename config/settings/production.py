"""Production settings: no debug, secret key and allowed hosts required from the environment,
secure cookies, HSTS and SSL redirect behind a TLS-terminating proxy."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancer probes and Prometheus scrapes reach the web processes directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Behind the TLS-terminating proxy (one by default), the client address for the rate limits is
# the one that proxy appended to X-Forwarded-For (README "Abuse limits"); 0 if there is none.
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=1)}  # noqa: F405

# JSON log lines unless LOG_FORMAT says otherwise (base.py builds LOGGING).
LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="json").strip().lower()  # noqa: F405

# Static files: collectstatic writes compressed copies (gzip; brotli too if installed) with content
# hashes in their names, and WhiteNoise serves them from the web processes with far-future cache
# headers. It indexes STATIC_ROOT at start-up: collectstatic runs before the web processes start.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = False
