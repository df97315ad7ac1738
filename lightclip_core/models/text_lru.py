"""A thread-safe LRU of one entry per text: what makes a repeated query or a training caption cost a
lookup instead of a forward pass. Used by every `TextEncoder` (one for sentence vectors, one for
token states)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Sequence


class TextLRU:
    """At most `size` entries, least recently used evicted first; counts hits and misses."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __contains__(self, text: str) -> bool:
        with self._lock:
            return text in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[str]:
        """The texts held, least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get_many(self, texts: Sequence[str], compute: Callable[[list[str]], list], batch_size: int) -> list:
        """Each text's entry; the missing ones computed by `compute(chunk) -> [entry, ...]` in batches of
        similar length (less padding), outside the lock, so concurrent callers do not wait on a forward."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._entries))
            self.misses += len(missing)
            self.hits += len(texts) - len(missing)
        fresh: dict[str, Any] = {}
        missing.sort(key=len)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            fresh.update(zip(chunk, compute(chunk)))
        with self._lock:
            self._entries.update(fresh)
            rows = []
            for t in texts:
                entry = self._entries.get(t)
                if entry is None:  # evicted by a concurrent caller between the two locked sections
                    entry = fresh[t]
                else:
                    self._entries.move_to_end(t)
                rows.append(entry)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return rows
