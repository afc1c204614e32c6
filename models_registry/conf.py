"""The app's settings: one dict, ``settings.MODEL_REGISTRY``, read here with defaults.

Usage: ``from models_registry.conf import registry_settings``; ``registry_settings.MAX_PAGE_SIZE``.
Values are read on every access, so ``override_settings(MODEL_REGISTRY=...)`` works in tests.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # API
    "ALLOW_ANONYMOUS_READS": False,
    "DEFAULT_PAGE_SIZE": 50,
    "MAX_PAGE_SIZE": 500,
    "MAX_PAGE_OFFSET": 100_000,  # ?offset= above this is a 400 (deep pages: narrow the filters instead)
    # Abuse limits (models_registry/api/throttling.py and limits.py; README "Abuse limits")
    "THROTTLE_ENABLED": True,  # False: no API rate limits (the test settings turn them off)
    # Requests per client and period ("N/s", "N/min", "N/hour", "N/day"; None: unlimited), by scope:
    # anon per client IP, user per user id, sensitive (token and approval endpoints, on top of the
    # other two) per user id, or per IP before login. A gateway looking models up over HTTP on every
    # request is one user: size "user" for its peak, or give it the Python read API instead.
    "THROTTLE_RATES": {"anon": "120/min", "user": "6000/min", "sensitive": "10/min"},
    "THROTTLE_CACHE_ALIAS": "throttle",  # the CACHES alias holding the counters (absent: "default")
    # "namespace:url_name" of the views in the sensitive scope; they fail closed (503) without the store.
    "THROTTLE_SENSITIVE_VIEWS": (
        "models_registry_api:auth-token",
        "versioning_api:rollback-approve",
        "versioning_api:rollback-reject",
        "models_registry_api:sync-change-approve",
        "models_registry_api:sync-change-reject",
    ),
    "THROTTLE_RETRY_AFTER": 5.0,  # seconds the store is left alone after an error (= a 503's Retry-After)
    "THROTTLE_LOG_INTERVAL": 30.0,  # at most one "throttle store unavailable" log line per interval
    "MAX_REQUEST_BODY_BYTES": 1024 * 1024,  # API request bodies above this are refused (413)
    # Degraded mode (database unreachable; models_registry/api/authentication.py, api/degraded.py)
    "AUTH_CACHE_TTL": 300,  # seconds a token check is remembered, to authenticate with the DB down (0 = off)
    "STALE_MAX_AGE": 300,  # seconds: cached models at most this old are served with the DB down (0 = never)
    "DB_RETRY_AFTER": 5,  # seconds: Retry-After of the 503 answered while the database is unreachable
    # Cache (caching/): L1 in process, L2 in Redis
    "CACHE_ENABLED": True,
    "CACHE_ALIAS": "model_registry",  # the CACHES alias holding the Redis connection (absent: no L2)
    "CACHE_NAMESPACE": "default",  # per-deployment prefix, so deployments can share one Redis
    "L1_MAX_BYTES": 32 * 1024 * 1024,  # real bytes of the cached objects, measured at fill time
    "L1_TTL": 5.0,  # seconds; the staleness cap if an invalidation message is lost
    "L2_TTL": 3600,
    "LIST_TTL": 60,  # cached list/search pages (also dropped on every model write)
    "FILL_LOCK_TTL": 2.0,  # seconds a cross-process fill lock is held at most (stampede guard)
    "BREAKER_FAILURES": 3,  # consecutive Redis failures that open the circuit breaker
    "BREAKER_COOLDOWN": 5.0,  # seconds before a trial call is let through again
    "BREAKER_LOG_INTERVAL": 30.0,  # at most one "Redis unavailable" log line per interval
    # Invalidation rules and history (caching/rules/, caching/events.py)
    "RULES_ENABLED": True,  # False: rules never fire on events or schedule (dry runs and explicit runs work)
    # Extra invalidation strategies: {"name": "dotted.path.to.StrategyClass"} or a list of dotted paths
    # (the class's ``name`` attribute names it). Built-ins: caching/rules/strategies.py.
    "CUSTOM_INVALIDATION_STRATEGIES": {},
    "RULE_REGEX_MAX_LENGTH": 1000,  # characters of a rule's regex (RE2: linear time, no backtracking)
    "RULE_MAX_ENTRIES": 10_000,  # cached entries one rule evaluation looks at, at most
    "INVALIDATION_EVENT_RETENTION_DAYS": 30,  # invalidation_events_prune drops older rows (0 = keep)
    "INVALIDATION_EVENT_MAX_ROWS": 100_000,  # ... and keeps at most this many newest rows (0 = no cap)
    # Versioning (versioning/)
    "ENABLE_ROLLBACK": True,  # False: rollback requests are refused
    "ROLLBACK_REQUIRES_APPROVAL": True,  # False: a request is executed at once (and still recorded)
    "ROLLBACK_REQUEST_EXPIRY_DAYS": 7,  # pending requests older than this expire (0 = never)
    "MAX_VERSIONS_PER_MODEL": 0,  # versions_prune keeps the snapshots of the newest N (0 = unlimited)
    "VERSION_RETENTION_DAYS": 0,  # versions_prune drops snapshots older than this (0 = keep forever)
    # Impact: when a breaking change is critical (versioning/impact.py)
    "IMPACT_CRITICAL_PRICE_INCREASE_PCT": 100,  # a price raised by at least this % (doubled)
    "IMPACT_CRITICAL_LIMIT_DECREASE_PCT": 50,  # a context window / output limit cut by at least this %
    "IMPACT_CRITICAL_BREAKING_COUNT": 3,  # this many breaking changes in one version
    "IMPACT_CRITICAL_FIELDS": ("mode", "is_active"),  # a breaking change of these (mode change, deactivation)
    # Security
    "SENSITIVE_METADATA_KEYS": ("api_key", "api_secret", "access_token", "endpoint_secret"),
    # Fernet keys (newest first) encrypting sensitive metadata values at rest (models_registry/crypto.py);
    # a list or a comma-separated string. Empty: a key derived from SECRET_KEY (dev/test; the deploy
    # check models_registry.W001 flags it). Rotation: prepend a key, then rotate_encryption_keys.
    "ENCRYPTION_KEYS": (),
    # Catalogue import
    "IMPORT_BATCH_SIZE": 500,
    "IMPORT_MIN_MODELS": 50,
    "IMPORT_MAX_SHRINK_RATIO": 0.5,
    "IMPORT_FETCH_TIMEOUT": 30,
    "IMPORT_MAX_BYTES": 64 * 1024 * 1024,
    # Catalogue sync (models_registry/sync): the guard uses IMPORT_MIN_MODELS / IMPORT_MAX_SHRINK_RATIO.
    "SYNC_MISSING_GRACE_DAYS": 7,  # a model missing upstream this long is deprecated (a source may override)
    # Username that importer and task writes are attributed to in the history (created on demand).
    "SYSTEM_USERNAME": "model-registry-system",
    # Scheduled maintenance (models_registry/jobs, */tasks.py, models_registry/schedules.py).
    # Task options are read when the task modules are imported (restart workers to change them).
    "TASK_TIME_LIMIT": 900,  # seconds; hard limit: the worker child running the task is killed
    "TASK_SOFT_TIME_LIMIT": 840,  # seconds; SoftTimeLimitExceeded is raised in the task (→ failed)
    "TASK_MAX_RETRIES": 5,  # retries of transient errors (database/Redis unreachable)
    "TASK_RETRY_BACKOFF_MAX": 600,  # seconds; cap of the exponential backoff (full jitter)
    "TASK_LOCK_BACKEND": "auto",  # single flight: auto (postgres advisory lock, else redis, else db)
    "TASK_LOCK_TTL": None,  # seconds a redis/db lock lives at most (None: TASK_TIME_LIMIT + 60)
    "TASK_RUN_RETENTION_DAYS": 30,  # TaskRun rows older than this are pruned (0 = keep forever)
    "PURGE_DEACTIVATED_AFTER_DAYS": 90,  # hard-delete models inactive and untouched this long (0 = never)
    "PURGE_MAX_PER_RUN": 500,  # models purged per run at most (the next run continues)
    "WARM_KEYS": (),  # model keys the cache hygiene task keeps warm
    "WARM_RECENT_COUNT": 100,  # ... plus this many most recently updated active models
    # Alerts (models_registry/alerts.py)
    "ALERT_MISS_RATE": 0.5,  # alert when more than this share of lookups reach the database
    "ALERT_MISS_RATE_MIN_LOOKUPS": 1000,  # ... over at least this many lookups
    "ALERT_L1_MEMORY_RATIO": 0.9,  # alert when L1 holds more than this share of its byte budget
    "ALERT_BREAKER_OPEN": True,  # alert while the Redis circuit breaker is open
    "ALERT_FAILED_ROLLBACKS": True,  # alert on rollback requests that failed since the last check
    "ALERT_LOOKBACK_MINUTES": 60,  # first check (no previous run): look back this far
    # Health and metrics (models_registry/observability/)
    "HEALTH_DB_TIMEOUT": 2.0,  # seconds: statement_timeout of the readiness check's SELECT 1
    "HEALTH_BROKER_TIMEOUT": 1.0,  # seconds: connect timeout of the Celery broker check (reported only)
    "HEALTH_BROKER_CACHE_SECONDS": 10.0,  # the broker check's answer is reused this long per process
    # Who may read /metrics: direct (not proxied) requests from these networks, and anyone with the
    # bearer token when METRICS_TOKEN is set. None/() = token only; ("0.0.0.0/0", "::/0") = open.
    "METRICS_ALLOWED_IPS": (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    ),
    "METRICS_TOKEN": None,
}


class RegistrySettings:
    """Attribute access to ``settings.MODEL_REGISTRY`` with the defaults above."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown MODEL_REGISTRY setting: {name}")
        user = getattr(settings, "MODEL_REGISTRY", {}) or {}
        return user.get(name, DEFAULTS[name])


registry_settings = RegistrySettings()
