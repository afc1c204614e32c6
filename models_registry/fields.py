"""JSON fields that keep sensitive metadata values encrypted in the database (``crypto.py``).

Python objects always hold plaintext: values are encrypted on the way in (``get_prep_value``,
which saves, ``bulk_create``, ``bulk_update`` and lookups all go through) and decrypted on the
way out (``from_db_value``, also for ``values()`` / ``values_list()``). So services, diffs and
revisions work on plaintext and never compare tokens. The column type stays ``jsonb`` / JSON;
lookups on non-sensitive keys work as before (a lookup on a sensitive value cannot match: its
token is not deterministic).

- ``EncryptedMetadataField``: a metadata map (``AIModel.metadata`` and its history table).
- ``EncryptedStateField``: a state-shaped map whose ``metadata`` holds the sensitive keys
  (``ModelVersion.snapshot``, ``SyncChange.proposed``).
- ``EncryptedChangesField``: a list of encoded changes (``{field, path, old, new, …}``); the
  old/new of ``metadata.<sensitive key>…`` and of whole ``metadata`` maps are encrypted.

Simple-history copies the field class into its historical models, so history rows are encrypted too.
"""

from __future__ import annotations

from django.db import models

from . import crypto


class _EncryptedJSONField(models.JSONField):
    protect = staticmethod(lambda value: value)
    reveal = staticmethod(lambda value: value)

    def get_prep_value(self, value):
        return super().get_prep_value(self.protect(value))

    def from_db_value(self, value, expression, connection):
        value = super().from_db_value(value, expression, connection)
        if isinstance(expression, models.fields.json.KeyTransform):
            # one key extracted in SQL (values("metadata__api_key")): not the whole shape, but a
            # token is still never handed out as the value
            return crypto.decrypt_value(value)
        return self.reveal(value)


class EncryptedMetadataField(_EncryptedJSONField):
    """A metadata map whose sensitive top-level values are stored encrypted."""

    protect = staticmethod(crypto.encrypt_metadata)
    reveal = staticmethod(crypto.decrypt_metadata)


class EncryptedStateField(_EncryptedJSONField):
    """A state map whose ``metadata`` sensitive values are stored encrypted."""

    protect = staticmethod(crypto.protect_state)
    reveal = staticmethod(crypto.reveal_state)


class EncryptedChangesField(_EncryptedJSONField):
    """A list of encoded changes whose sensitive metadata values are stored encrypted."""

    protect = staticmethod(crypto.protect_changes)
    reveal = staticmethod(crypto.reveal_changes)
