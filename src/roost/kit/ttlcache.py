"""A small in-process cache with a short lifetime per entry, for hot per-request lookups
(admin keys, mode settings) that may be a little stale in other processes but never here."""

import time
from collections.abc import Callable
from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, seconds: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        # Keys forgotten recently, with the time until which they may not be stored again: a
        # request that read the row just before the writer committed must not put the old value
        # back.
        self._blocked: dict[K, float] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        now = self._clock()
        if self._blocked:
            until = self._blocked.get(key)
            if until is not None:
                if until > now:
                    return
                del self._blocked[key]
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # rare; simpler than LRU bookkeeping on every hit
        self._entries[key] = (now + self.seconds, value)

    def forget(self, key: K) -> None:
        now = self._clock()
        self._entries.pop(key, None)
        if len(self._blocked) >= self.max_entries:
            self._blocked = {k: t for k, t in self._blocked.items() if t > now}
        self._blocked[key] = now + self.seconds

    def clear(self) -> None:
        self._entries.clear()
        self._blocked.clear()
