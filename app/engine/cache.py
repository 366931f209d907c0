"""The component embedding cache: key = checkpoint digest + component + sha256 of the content.

A checkpoint swap therefore never serves stale vectors, and equal content (a retweeted text, a
reused image, a known place) is embedded once. "Absent" (e.g. an unknown place) is cached too, as
an empty value. Two stores behind one interface: an in-process LRU, or Redis shared by replicas.
Redis errors never fail a request: lookups count as misses and writes are dropped.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from app.engine.redis_link import REDIS_ERRORS, RedisLink

ABSENT = np.zeros(0, np.float32)  # cached "this content has no embedding" (e.g. an unknown place)


def cache_key(digest: str, component: str, content: bytes) -> str:
    return f"tweetembed:emb:{digest[:16]}:{component}:{hashlib.sha256(content).hexdigest()}"


class EmbeddingCache(Protocol):
    kind: str

    async def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """A vector, ABSENT, or None (a miss) per key."""
        ...

    async def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None: ...


class NoCache:
    kind = "off"

    async def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        return [None] * len(keys)

    async def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        return None


class MemoryCache:
    kind = "memory"

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()

    async def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        out: list[np.ndarray | None] = []
        for key in keys:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            out.append(value)
        return out

    async def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        for key, vector in items:
            # A copy: the vector is a row of a forward pass's batch, which it must not keep alive.
            self._data[key] = vector.copy()
            self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)


class RedisCache:
    kind = "redis"

    def __init__(self, link: RedisLink, ttl_s: int) -> None:
        self.link = link
        self.ttl_s = ttl_s
        self.errors = 0  # lookups or writes that bypassed Redis because it failed

    async def get_many(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        if not keys or not self.link.available():
            return [None] * len(keys)
        try:
            raw = await self.link.client.mget(list(keys))
        except REDIS_ERRORS as exc:
            self.errors += 1
            self.link.failed(exc)
            return [None] * len(keys)
        self.link.succeeded()
        return [None if value is None else np.frombuffer(value, np.float32).copy() for value in raw]

    async def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        if not items or not self.link.available():
            return
        try:
            async with self.link.client.pipeline(transaction=False) as pipe:
                for key, vector in items:
                    pipe.set(key, np.asarray(vector, np.float32).tobytes(), ex=self.ttl_s)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self.errors += 1
            self.link.failed(exc)
            return
        self.link.succeeded()
