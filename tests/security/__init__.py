"""Security tests: secrets at rest, in the cache and in logs; limits."""
