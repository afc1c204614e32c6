"""Prometheus metrics of the cache (prometheus-client; multiprocess-safe when configured)."""

from prometheus_client import Counter, Gauge, Histogram

HITS = Counter("model_registry_cache_hits_total", "Cache hits by tier.", ["tier"])
MISSES = Counter("model_registry_cache_misses_total", "Cache misses by tier.", ["tier"])
EVICTIONS = Counter("model_registry_cache_evictions_total", "L1 evictions by reason.", ["reason"])
INVALIDATIONS = Counter(
    "model_registry_cache_invalidations_total", "Invalidated model entries by scope.", ["scope"]
)
ERRORS = Counter("model_registry_cache_errors_total", "Redis errors by operation.", ["operation"])
BREAKER_OPEN = Gauge(
    "model_registry_cache_breaker_open", "1 while the Redis circuit breaker is open.", multiprocess_mode="max"
)
RULE_FIRINGS = Counter(
    "model_registry_cache_rule_firings_total",
    "Invalidation rule firings that hit entries, by outcome.",
    ["outcome"],
)
RULE_ACTIONS = Counter(
    "model_registry_cache_rule_action_entries_total",
    "Entries acted on by invalidation rules, by action.",
    ["action"],
)
DB_LOADS = Counter("model_registry_cache_db_loads_total", "Models loaded from the database on a miss.")
LATENCY = Histogram(
    "model_registry_cache_operation_seconds",
    "Cache operation latency.",
    ["operation"],
    buckets=(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0),
)


def counter_value(counter, **labels) -> float:
    """Current value of a (labelled) counter in this process."""
    metric = counter.labels(**labels) if labels else counter
    return metric._value.get()
