"""Conditional requests for models: ``ETag``, ``If-None-Match`` and ``If-Match`` (RFC 9110 §13).

A model's ETag is strong and derived from its id and revision: ``"v1-<id>-<revision>"``
(the ``v1`` names the representation, so a change of format could change every tag). The
revision is bumped by every real change and by nothing else, so equal tags mean equal bodies.

- ``not_modified(request, etag)``: ``If-None-Match`` matches (weak comparison, ``*`` included)
  → the view answers 304.
- ``if_match_revision(request, model_id=…)``: the revision ``If-Match`` demands, to be passed as
  ``expected_revision`` to the service, which compares it under the row lock (no race between
  check and write). ``None`` when there is no header or it is ``*``. A malformed header, or one
  that cannot match this model, raises ``PreconditionFailed`` (412) straight away.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..exceptions import PreconditionFailed

ETAG_FORMAT = "v1"
_ENTITY_TAG = re.compile(r'^(W/)?"([\x21\x23-\x7e\x80-\xff]*)"$')
_OUR_TAG = re.compile(rf"^{ETAG_FORMAT}-(\d{{1,19}})-(\d{{1,10}})$")


@dataclass(frozen=True, slots=True)
class EntityTag:
    opaque: str
    weak: bool = False
    wildcard: bool = False  # the unquoted ``*``


WILDCARD = EntityTag("", wildcard=True)


def model_etag(*, id: int, revision: int) -> str:  # noqa: A002
    """The strong ETag header value of a model at a revision."""
    return f'"{ETAG_FORMAT}-{id}-{revision}"'


def parse_entity_tags(header: str) -> list[EntityTag] | None:
    """The tags of an ``If-Match`` / ``If-None-Match`` value; ``[WILDCARD]`` for ``*``;
    ``None`` when the value is malformed."""
    header = header.strip()
    if header == "*":
        return [WILDCARD]
    tags = []
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        match = _ENTITY_TAG.match(part)
        if match is None:
            return None
        tags.append(EntityTag(match.group(2), weak=bool(match.group(1))))
    return tags or None


def _revision_in(tag: EntityTag, model_id: int) -> int | None:
    match = _OUR_TAG.match(tag.opaque)
    if match is None or int(match.group(1)) != model_id:
        return None
    return int(match.group(2))


def not_modified(request, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison), i.e. the client's copy is current."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = parse_entity_tags(header)
    if not tags:
        return False  # a malformed If-None-Match is ignored: the client simply gets the body
    if tags == [WILDCARD]:
        return True
    current = etag.strip('"')
    return any(tag.opaque == current for tag in tags)


def if_match_revision(
    request, *, model_id: int, current_revision: Callable[[], int] | None = None
) -> int | None:
    """The revision ``If-Match`` requires, for ``expected_revision``; ``None`` = no condition.

    Strong comparison: weak tags never match. With several tags for this model the current
    revision (``current_revision()``) decides which one is meant; the service still re-checks it
    under the lock.
    """
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tags = parse_entity_tags(header)
    if tags is None:
        raise PreconditionFailed('Malformed If-Match header: expected "*" or a list of quoted ETags.')
    if tags == [WILDCARD]:
        return None
    revisions = sorted({r for t in tags if not t.weak and (r := _revision_in(t, model_id)) is not None})
    if not revisions:
        raise PreconditionFailed("If-Match does not match the current ETag of this model.")
    if len(revisions) == 1 or current_revision is None:
        return revisions[-1]
    current = current_revision()
    if current in revisions:
        return current
    raise PreconditionFailed(
        "If-Match does not match the current ETag of this model.", extra={"current_revision": current}
    )
