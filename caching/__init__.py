"""Caching: the two-tier (in-process L1 + Redis L2) cache of model records."""
