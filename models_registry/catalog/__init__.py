"""Catalogue importers: LiteLLM's model map and OpenRouter's model list → the registry.

- ``loader.py``: read a path or URL (size cap, timeout), decode UTF-8, parse JSON, find duplicate keys;
- ``mapping.py``: what a mapper returns (``MappedCatalog``, ``Problem``) and the shared value checks;
- ``litellm.py`` / ``openrouter.py``: one mapper per format (pure, no database);
- ``importer.py``: ``catalog_import`` — merge with stored rows, integrity guard, bulk write.

The ``import_catalog`` management command and scheduled syncs call ``catalog_import``.
"""

from .importer import FORMATS, ImportReport, catalog_import

__all__ = ["FORMATS", "ImportReport", "catalog_import"]
