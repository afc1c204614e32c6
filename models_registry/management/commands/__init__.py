"""``import_catalog``, ``load_bundled_catalog`` and the other registry commands."""
