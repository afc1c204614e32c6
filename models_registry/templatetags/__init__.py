"""Template tags of the registry (``registry_stats``: catalogue figures for the admin index)."""
