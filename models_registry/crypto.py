"""Encryption at rest of sensitive metadata values (Fernet / MultiFernet from ``cryptography``).

Keys: ``MODEL_REGISTRY["ENCRYPTION_KEYS"]`` — Fernet keys, newest first (``config/settings``
fills it from the comma-separated ``MODEL_REGISTRY_ENCRYPTION_KEYS``). The newest key encrypts;
every listed key decrypts, so a key can be rotated in without downtime (``manage.py
rotate_encryption_keys`` then re-encrypts the stored rows under the newest one). With no key
configured, one key is derived from ``SECRET_KEY`` (HKDF-SHA256): fine for development and tests,
reported by the deploy check ``models_registry.W001`` (``checks.py``) for production.

Only the values of sensitive top-level metadata keys (``models_registry.sensitive``) are
encrypted; each becomes the string ``"enc:v1:" + token`` where the token is the Fernet encryption
of the JSON-encoded value, so any JSON value round-trips exactly. Fernet is not deterministic:
never compare tokens, compare decrypted values.

A token that no configured key opens raises ``EncryptionError``; a token is never handed out as
if it were the value. Values not carrying the prefix are plaintext (rows written before
encryption was switched on) and are returned as they are until the rotation command encrypts them.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .conf import registry_settings
from .exceptions import ApplicationError
from .sensitive import is_sensitive_key

PREFIX = "enc:v1:"
_HKDF_INFO = b"django-model-registry: sensitive metadata encryption"


class EncryptionError(ApplicationError):
    """A sensitive value cannot be encrypted or decrypted: no configured key opens its token,
    or a configured key is malformed. A configuration problem of the server (500)."""

    status_code = 500
    default_code = "encryption_error"


# -- keys ----------------------------------------------------------------------------------------


def configured_keys() -> list[str]:
    """The Fernet keys of ``MODEL_REGISTRY["ENCRYPTION_KEYS"]``, newest first (a list, or a
    comma-separated string); empty when none is configured."""
    raw = registry_settings.ENCRYPTION_KEYS or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    return [str(key).strip() for key in raw if str(key).strip()]


def derived_key(secret: str | None = None) -> str:
    """The key used when none is configured: HKDF-SHA256 of ``SECRET_KEY``."""
    secret = settings.SECRET_KEY if secret is None else secret
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(material).decode()


def active_keys() -> list[str]:
    """The keys in use, newest first: the configured ones, else the one derived from SECRET_KEY."""
    return configured_keys() or [derived_key()]


def invalid_keys(keys: Iterable[str]) -> list[int]:
    """Positions (0 = newest) of the keys that are not valid Fernet keys."""
    bad = []
    for position, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            bad.append(position)
    return bad


class _Keyring:
    """A ``MultiFernet`` over the active keys and a ``Fernet`` of the newest one, rebuilt when the
    keys change (so ``override_settings`` works); building costs more than a lookup."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state: tuple[tuple, MultiFernet, Fernet] | None = None  # (source, multi, newest), swapped whole

    def get(self) -> tuple[MultiFernet, Fernet]:
        # what the keys come from: the configured keys, else the secret key (derived only on a change)
        source = tuple(configured_keys()) or (None, settings.SECRET_KEY)
        state = self._state
        if state is not None and state[0] == source:
            return state[1], state[2]
        with self._lock:
            keys = source if source[0] is not None else (derived_key(source[1]),)
            bad = invalid_keys(keys)
            if bad:
                positions = ", ".join(str(p + 1) for p in bad)
                raise EncryptionError(
                    f"MODEL_REGISTRY_ENCRYPTION_KEYS: key(s) number {positions} are not valid Fernet keys "
                    "(32 url-safe base64-encoded bytes)."
                )
            fernets = [Fernet(key) for key in keys]
            self._state = (source, MultiFernet(fernets), fernets[0])
            return self._state[1], self._state[2]


_keyring = _Keyring()


# -- single values -------------------------------------------------------------------------------


def is_token(value: Any) -> bool:
    """Whether ``value`` looks like an encrypted value (carries the prefix)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def _open(token: str) -> bytes:
    multi, _ = _keyring.get()
    try:
        return multi.decrypt(token[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise EncryptionError(
            "A sensitive metadata value cannot be decrypted with the configured keys "
            "(MODEL_REGISTRY_ENCRYPTION_KEYS is missing the key it was encrypted with, or the value "
            "is corrupt)."
        ) from exc


def _opens(token: str) -> bool:
    try:
        _open(token)
    except EncryptionError:
        return False
    return True


def encrypt_value(value: Any) -> str:
    """``"enc:v1:" + token`` of the JSON-encoded ``value``. A value that already is a token the
    configured keys open is returned as it is (no double encryption)."""
    if is_token(value) and _opens(value):
        return value
    _, newest = _keyring.get()
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return PREFIX + newest.encrypt(plain.encode()).decode("ascii")


def decrypt_value(value: Any) -> Any:
    """The value of a token (raises ``EncryptionError`` if no configured key opens it); any
    other value (plaintext from before encryption) as it is."""
    if not is_token(value):
        return value
    return json.loads(_open(value))


def is_current(value: Any) -> bool:
    """Whether ``value`` is a token of the newest key (nothing for the rotation to do)."""
    if not is_token(value):
        return False
    _, newest = _keyring.get()
    try:
        newest.decrypt(value[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def rotate_value(value: Any) -> str:
    """A token of the newest key for ``value``: a token of an older key is re-encrypted
    (``MultiFernet.rotate``), plaintext is encrypted."""
    if not is_token(value):
        return encrypt_value(value)
    multi, _ = _keyring.get()
    try:
        return PREFIX + multi.rotate(value[len(PREFIX) :].encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        _open(value)  # raises the EncryptionError
        raise


# -- metadata, states, changes (the stored shapes) -----------------------------------------------


_names: tuple[Any, frozenset[str]] = (None, frozenset())


def _sensitive_names() -> frozenset[str]:
    """The lower-cased ``SENSITIVE_METADATA_KEYS`` (recomputed when the setting changes)."""
    global _names
    configured = registry_settings.SENSITIVE_METADATA_KEYS
    if _names[0] is not configured:
        _names = (configured, frozenset(name.lower() for name in configured))
    return _names[1]


def _needs_encryption(key: Any, value: Any, names: frozenset[str]) -> bool:
    # A plaintext that merely looks like a token (any key) is encrypted too, so that reading it
    # back gives the same string instead of failing to decrypt it.
    return (value is not None and isinstance(key, str) and key.lower() in names) or is_token(value)


def encrypt_metadata(metadata: Any) -> Any:
    """``metadata`` with the values of its sensitive top-level keys encrypted (others as they are;
    ``None`` values stay ``None``). Anything but a dict is returned as it is."""
    if not isinstance(metadata, dict):
        return metadata
    names = _sensitive_names()
    if not any(_needs_encryption(key, value, names) for key, value in metadata.items()):
        return metadata
    return {
        key: encrypt_value(value) if _needs_encryption(key, value, names) else value
        for key, value in metadata.items()
    }


def decrypt_metadata(metadata: Any) -> Any:
    """``metadata`` with every top-level token decrypted — also under keys no longer listed as
    sensitive, so a token never passes for a value."""
    if not isinstance(metadata, dict) or not any(is_token(value) for value in metadata.values()):
        return metadata
    return {key: decrypt_value(value) for key, value in metadata.items()}


def protect_state(state: Any) -> Any:
    """A state-shaped dict (snapshot, record dict, proposed values) with the sensitive values of
    its ``metadata`` encrypted."""
    if not isinstance(state, dict) or not isinstance(state.get("metadata"), dict):
        return state
    metadata = encrypt_metadata(state["metadata"])
    return state if metadata is state["metadata"] else {**state, "metadata": metadata}


def reveal_state(state: Any) -> Any:
    """Inverse of ``protect_state``."""
    if not isinstance(state, dict) or not isinstance(state.get("metadata"), dict):
        return state
    metadata = decrypt_metadata(state["metadata"])
    return state if metadata is state["metadata"] else {**state, "metadata": metadata}


def change_path(change: dict) -> list:
    path = change.get("path")
    if isinstance(path, list | tuple) and path:
        return list(path)
    return str(change.get("field", "")).split(".")


def change_slot(change: Any) -> str | None:
    """What the old/new of an encoded change are, for encryption: ``"map"`` (whole metadata maps),
    ``"value"`` (the value of a top-level metadata key), ``"part"`` (part of a sensitive value),
    ``None`` (nothing sensitive)."""
    if not isinstance(change, dict):
        return None
    path = change_path(change)
    if path[0] != "metadata":
        return None
    if len(path) == 1:
        return "map"
    if len(path) == 2:
        return "value"
    return "part" if is_sensitive_key(path[1]) else None


def _sensitive_path(change: dict) -> bool:
    return is_sensitive_key(change_path(change)[1])


def protect_changes(changes: Any) -> Any:
    """Encoded changes (``[{field, path, old, new, …}]``) with sensitive metadata values encrypted."""
    if not isinstance(changes, list):
        return changes
    out = []
    for change in changes:
        slot = change_slot(change)
        if slot == "map":
            protect = encrypt_metadata
        elif slot == "part" or (slot == "value" and _sensitive_path(change)):
            protect = _encrypt_present
        elif slot == "value":
            protect = _escape_token
        else:
            out.append(change)
            continue
        out.append({**change, **{side: protect(change[side]) for side in ("old", "new") if side in change}})
    return out


def _encrypt_present(value: Any) -> Any:
    return None if value is None else encrypt_value(value)


def _escape_token(value: Any) -> Any:
    return encrypt_value(value) if is_token(value) else value


def reveal_changes(changes: Any) -> Any:
    """Inverse of ``protect_changes`` (every token of a metadata value is decrypted)."""
    if not isinstance(changes, list):
        return changes
    out = []
    for change in changes:
        slot = change_slot(change)
        if slot is None:
            out.append(change)
            continue
        reveal = decrypt_metadata if slot == "map" else decrypt_value
        out.append({**change, **{side: reveal(change[side]) for side in ("old", "new") if side in change}})
    return out
