"""Settings of a minimal host project that installs the registry apps from the wheel.

Only what README "Reusing the app in another Django project" says a host needs: the apps, the
REST framework settings, the admin's usual middleware and templates. No ``MODEL_REGISTRY`` dict
(every app setting takes its default), no ``CACHES`` (L1 only), no Celery configuration.
The database comes from ``HOST_DB_*`` variables (PostgreSQL) or is SQLite in the project folder.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["HOST_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "simple_history",
    "django_celery_beat",
    "models_registry",
    "caching",
    "versioning",
]

MIDDLEWARE = [
    "models_registry.observability.middleware.RequestObservabilityMiddleware",  # request ids, metrics
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "host.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("HOST_DB_NAME"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["HOST_DB_NAME"],
            "USER": os.environ["HOST_DB_USER"],
            "PASSWORD": os.environ.get("HOST_DB_PASSWORD", ""),
            "HOST": os.environ.get("HOST_DB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("HOST_DB_PORT", "5432"),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "host.sqlite3"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

# Required: the registry's API takes its permissions, error mapping and rate limits from these
# defaults (with DRF's own defaults, AllowAny, its catalogue would be open to anonymous clients).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "models_registry.api.authentication.RegistryTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["models_registry.api.permissions.RegistryPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "models_registry.api.pagination.RegistryPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "models_registry.api.exception_handler.registry_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "models_registry.api.throttling.AnonThrottle",
        "models_registry.api.throttling.UserThrottle",
        "models_registry.api.throttling.SensitiveThrottle",
    ],
}

# Required: the apps' history tables were migrated with text change reasons (without this,
# makemigrations sees their history models drift from the shipped migrations).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
