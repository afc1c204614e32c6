"""The versioning REST API: versions, diffs, the change feed, statistics and rollback requests."""
