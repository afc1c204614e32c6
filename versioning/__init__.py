"""Versioning: numbered, diffed, classified versions of every model and approval-gated rollbacks."""
