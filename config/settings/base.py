"""Settings shared by every environment, read from the environment with django-environ.

Environment variables (see README): DATABASE_URL, REDIS_URL, CELERY_BROKER_URL,
DJANGO_SECRET_KEY, DJANGO_DEBUG, DJANGO_ALLOWED_HOSTS, MODEL_REGISTRY_ENCRYPTION_KEYS.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

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
    # First: request id, log context, latency and query metrics for everything below it.
    "models_registry.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the web processes (see STATIC_ROOT)
    "models_registry.api.limits.RequestBodyLimitMiddleware",  # API bodies over MAX_REQUEST_BODY_BYTES: 413
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default=None)

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="mr"),
            "OPTIONS": {
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
                "IGNORE_EXCEPTIONS": True,
            },
        },
        # The model cache's L2: its own pool with short timeouts (a slow Redis must cost little;
        # the circuit breaker in caching/breaker.py stops paying them after a few failures).
        "model_registry": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": env.float("MODEL_REGISTRY_REDIS_CONNECT_TIMEOUT", default=0.25),
                "SOCKET_TIMEOUT": env.float("MODEL_REGISTRY_REDIS_TIMEOUT", default=0.25),
                "CONNECTION_POOL_KWARGS": {"max_connections": 64, "health_check_interval": 30},
            },
        },
    }

# API rate-limit counters (models_registry/api/throttling.py): their own pool and key prefix, short
# timeouts, errors raised (not ignored) so that the throttle decides to fail open or closed.
# Without Redis: in-process memory (limits then count per process).
CACHES["throttle"] = (
    {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("THROTTLE_KEY_PREFIX", default="mr-throttle"),
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": env.float("MODEL_REGISTRY_THROTTLE_REDIS_TIMEOUT", default=0.2),
            "SOCKET_TIMEOUT": env.float("MODEL_REGISTRY_THROTTLE_REDIS_TIMEOUT", default=0.2),
            "IGNORE_EXCEPTIONS": False,
        },
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
)

# One request body limit: the API middleware (JSON bodies, which DRF reads past Django's check)
# and Django's own check of form bodies use the same figure.
_max_request_body = env.int("MODEL_REGISTRY_MAX_REQUEST_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = _max_request_body

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# WhiteNoise indexes STATIC_ROOT (filled by collectstatic) once at start-up. Where nothing has been
# collected (make run, tests) it looks paths up per request instead of warning about a missing
# directory; production settings always index (and warn if collectstatic was skipped).
WHITENOISE_AUTOREFRESH = not STATIC_ROOT.is_dir()

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests 401 (not 403). It is DRF's
    # token check, remembered so that reads still authenticate while the database is unreachable.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "models_registry.api.authentication.RegistryTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["models_registry.api.permissions.RegistryPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "models_registry.api.pagination.RegistryPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "models_registry.api.exception_handler.registry_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Rates: MODEL_REGISTRY["THROTTLE_RATES"] (README "Abuse limits").
    "DEFAULT_THROTTLE_CLASSES": [
        "models_registry.api.throttling.AnonThrottle",
        "models_registry.api.throttling.UserThrottle",
        "models_registry.api.throttling.SensitiveThrottle",
    ],
    # Proxies in front that append to X-Forwarded-For; 0: the client is REMOTE_ADDR (the header,
    # which a client can forge, is ignored).
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Model Registry API",
    "DESCRIPTION": "Catalogue of AI/LLM models: providers, limits, prices, capabilities, deprecation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets whose field name collides with another component's ("status" of rollbacks).
    "ENUM_NAME_OVERRIDES": {
        "RollbackStatusEnum": "versioning.models.RollbackRequest.Status",
        "SyncRunStatusEnum": "models_registry.sync.models.SyncRun.Status",
        "SyncChangeActionEnum": "models_registry.sync.models.SyncChange.Action",
        "SyncChangeStateEnum": "models_registry.sync.models.SyncChange.State",
        "SyncPolicyEnum": "models_registry.sync.models.CatalogSource.Policy",
    },
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis broker: a task taken by a worker that died unacknowledged comes back after this many seconds
# (kombu's default is one hour). Keep it above TASK_TIME_LIMIT (900 s) or long tasks run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=1200)}

MODEL_REGISTRY = {
    "ALLOW_ANONYMOUS_READS": env.bool("MODEL_REGISTRY_ALLOW_ANONYMOUS_READS", default=False),
    # False: every read goes to the database (to measure or rule out the cache; benchmarks/load.py).
    "CACHE_ENABLED": env.bool("MODEL_REGISTRY_CACHE_ENABLED", default=True),
    # Comma-separated Fernet keys, newest first (README: "Sensitive metadata: … encryption at rest").
    "ENCRYPTION_KEYS": env.list("MODEL_REGISTRY_ENCRYPTION_KEYS", default=[]),
    "MAX_REQUEST_BODY_BYTES": _max_request_body,
}

# Logs (README "Health, metrics and logs"): LOG_FORMAT=json (one JSON object per line; production's
# default) or plain (development); LOG_LEVEL for the root logger; MODEL_REGISTRY_LOG_LEVEL for the
# app's loggers (operation lines at INFO; cache operations at DEBUG on caching.operations).
LOG_FORMAT = env("LOG_FORMAT", default="plain").strip().lower()
_APP_LOG_LEVEL = env("MODEL_REGISTRY_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "models_registry.observability.logging.ContextFilter"}},
    "formatters": {
        "plain": {"()": "models_registry.observability.logging.PlainFormatter"},
        "json": {"()": "models_registry.observability.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "models_registry": {"level": _APP_LOG_LEVEL},
        "caching": {"level": _APP_LOG_LEVEL},
        "versioning": {"level": _APP_LOG_LEVEL},
    },
}
# Celery workers keep this configuration (JSON lines too) instead of installing their own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# django-simple-history: reasons can be long; the admin's "Revert" is disabled (rollbacks go
# through the approval workflow, never through a side door).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True
