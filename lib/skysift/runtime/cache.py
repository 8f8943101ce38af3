"""The one executor-side cache: models and indexes loaded once per Python worker, by URI, with eviction.

Entries belong to a *group* (a model URI and version, a KB folder and version); the cache keeps the entries
of at most ``max_groups`` groups, the least recently used group leaving first, so the parts of one object
(the shards of one KB, one model on two devices) stay together. The default keeps one group: a 1M x 768 flat
KB is 3 GB per worker, and keeping the previous KB as well ran a 24 GiB machine out of memory; a worker that
alternates between two models pays a reload, never twice the memory.

Closures shipped to executors carry only the URI and small parameters; the loader runs on the executor.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")


class ExecutorCache:
    """Per-process cache of loaded objects keyed by (group, key), keeping at most ``max_groups`` groups."""

    def __init__(self, max_groups: int = 1):
        self.max_groups = max_groups
        self._groups: OrderedDict[Hashable, dict[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, group: Hashable, key: Hashable, load: Callable[[], T]) -> T:
        """The cached object, or ``load()`` run once (outside the lock), stored and returned."""
        with self._lock:
            entries = self._groups.get(group)
            if entries is not None and key in entries:
                self._groups.move_to_end(group)
                return entries[key]
            self._evict_for(group)
        value = load()
        with self._lock:
            self._evict_for(group)  # again: another thread may have loaded another group meanwhile
            self._groups.setdefault(group, {})[key] = value
            self._groups.move_to_end(group)
        return value

    def _evict_for(self, group: Hashable) -> None:
        while len(self._groups) >= self.max_groups and group not in self._groups:
            self._groups.popitem(last=False)

    def clear(self) -> None:
        """Drop everything (e.g. the driver after a sequential run held a KB)."""
        with self._lock:
            self._groups.clear()

    def groups(self) -> list[Hashable]:
        """The cached groups, least recently used first."""
        with self._lock:
            return list(self._groups)


CACHE = ExecutorCache(max_groups=1)
"""The process-wide cache every stage uses."""


def cached(group: Hashable, key: Hashable, load: Callable[[], T]) -> T:
    """``CACHE.get``: the object ``load()`` returns, loaded once per worker per (group, key)."""
    return CACHE.get(group, key, load)
