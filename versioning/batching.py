"""Deferred version writes for bulk imports (no database access at import time).

Inside ``with version_batch():`` the versioning receiver does not write each version as the
write path reports it; it collects them, and the block's end writes them all with one bulk
INSERT per batch (plus one for their audit rows). ``ai_model_bulk_upsert`` wraps its
``ai_model_written`` loop in it, still inside its transaction, so the versions commit (or roll
back) with the models. Outside a block every version is written at once. Blocks nest (the
outermost one flushes); a block that raises writes nothing (its transaction is rolled back
anyway). State is per thread, as a transaction is.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_state = threading.local()


def pending() -> list | None:
    """The list collecting versions in the current block, or ``None`` outside any block."""
    return getattr(_state, "pending", None)


@contextmanager
def version_batch():
    if pending() is not None:
        yield
        return
    _state.pending = collected = []
    try:
        yield
    except BaseException:
        _state.pending = None
        raise
    _state.pending = None
    if collected:
        from .services.recording import versions_write

        versions_write(collected)
