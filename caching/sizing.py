"""Real memory size of a cached value: ``sys.getsizeof`` summed over the whole object graph.

Measured once, when a value enters L1, so the byte budget (``L1_MAX_BYTES``) bounds what the
cache really holds rather than an entry count or a guess. Shared objects (interned strings,
``None``, small ints) are counted once per value.
"""

import sys
from dataclasses import fields, is_dataclass
from types import MappingProxyType


def deep_sizeof(value) -> int:
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, MappingProxyType):
            # the proxy's own header plus the dict it wraps (rebuilt with the same items)
            total += sys.getsizeof(obj) + sys.getsizeof(dict(obj))
            for key, item in obj.items():
                stack.append(key)
                stack.append(item)
            continue
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            for key, item in obj.items():
                stack.append(key)
                stack.append(item)
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif is_dataclass(obj) and not isinstance(obj, type):
            stack.extend(getattr(obj, f.name) for f in fields(obj))
    return total
