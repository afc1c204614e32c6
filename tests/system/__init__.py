"""System tests: gunicorn workers against real PostgreSQL and Redis, with faults injected between
them (``make system-test``; ``tests/system/harness.py`` has the building blocks)."""
