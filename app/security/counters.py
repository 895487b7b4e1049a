"""Fixed-window counters: in process memory, or in Redis so that every process shares them.

``incr(key, window)`` counts one event and returns ``(count, seconds_left)``; the first event of
a key starts its window. ``get(key)`` reads without counting. Redis failures let requests through
(logged): a broken limiter must not stop customers from answering a survey.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Counters(Protocol):
    async def incr(self, key: str, window: int) -> tuple[int, int]: ...

    async def get(self, key: str) -> tuple[int, int]: ...


class MemoryCounters:
    """Per-process counters (one event loop per uvicorn worker, so no lock is needed)."""

    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._data: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] <= self.clock():
            del self._data[key]
            return None
        return entry

    def _left(self, expires: float) -> int:
        return max(1, math.ceil(expires - self.clock()))

    async def incr(self, key: str, window: int) -> tuple[int, int]:
        entry = self._live(key)
        if entry is None:
            if len(self._data) >= self.MAX_KEYS:
                self._sweep()
            entry = (0, self.clock() + window)
        count, expires = entry[0] + 1, entry[1]
        self._data[key] = (count, expires)
        return count, self._left(expires)

    async def get(self, key: str) -> tuple[int, int]:
        entry = self._live(key)
        return (0, 0) if entry is None else (entry[0], self._left(entry[1]))

    def _sweep(self) -> None:
        now = self.clock()
        self._data = {k: v for k, v in self._data.items() if v[1] > now}
        if len(self._data) >= self.MAX_KEYS:  # under a flood: forget the oldest windows
            keep = sorted(self._data.items(), key=lambda kv: kv[1][1])[self.MAX_KEYS // 2 :]
            self._data = dict(keep)


class RedisCounters:
    """Counters in Redis (``SET NX EX`` + ``INCR`` + ``TTL`` in one transaction)."""

    def __init__(self, url: str, *, namespace: str) -> None:
        self.url, self.namespace = url, namespace
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _redis(self) -> Any:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # a client belongs to one loop
            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._loop = loop
        return self._client

    def _key(self, key: str) -> str:
        return f"pvm:limits:{self.namespace}:{key}"

    async def incr(self, key: str, window: int) -> tuple[int, int]:
        name = self._key(key)
        try:
            async with self._redis().pipeline(transaction=True) as pipe:
                pipe.set(name, 0, ex=window, nx=True)
                pipe.incr(name)
                pipe.ttl(name)
                _, count, ttl = await pipe.execute()
        except Exception:  # noqa: BLE001 - fail open, see the module docstring
            logger.warning("rate-limit store %s unavailable; request let through", self.url)
            return 0, 0
        return int(count), max(1, int(ttl))

    async def get(self, key: str) -> tuple[int, int]:
        name = self._key(key)
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.ttl(name)
                count, ttl = await pipe.execute()
        except Exception:  # noqa: BLE001
            logger.warning("rate-limit store %s unavailable; request let through", self.url)
            return 0, 0
        return (0, 0) if count is None else (int(count), max(1, int(ttl)))
