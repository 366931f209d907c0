"""The per-user recent-tweet store behind /bot-score: the last n tweets of each user, newest first.

Each entry keeps the tweet record (without image bytes) and, when it was embedded, its tweet
average together with the digest of the checkpoint that produced it. /bot-score uses the stored
averages of the current checkpoint as they are and re-embeds the rest from their records in one
batch, so a checkpoint swap never mixes spaces. Keeping the average is what lets an image count
towards the score without storing the image itself.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.redis_link import REDIS_ERRORS, RedisLink


class StoreUnavailableError(Exception):
    """The store's backend (Redis) cannot be reached; the client gets a 503."""


@dataclass(frozen=True)
class StoredTweet:
    record: dict[str, Any]  # Tweet.to_flat(), without the image
    average: np.ndarray | None  # (dim,) when it was embedded
    digest: str | None  # checkpoint digest of ``average``

    def to_json(self) -> str:
        avg = (
            None
            if self.average is None
            else base64.b64encode(self.average.astype(np.float32).tobytes()).decode()
        )
        return json.dumps(
            {"record": self.record, "average": avg, "digest": self.digest}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> StoredTweet:
        obj = json.loads(raw)
        avg = obj.get("average")
        vector = None if avg is None else np.frombuffer(base64.b64decode(avg), np.float32).copy()
        return cls(obj["record"], vector, obj.get("digest"))


class RecentTweetStore(Protocol):
    kind: str
    max_tweets: int

    async def append(self, user: str, tweets: Sequence[StoredTweet]) -> int:
        """Store ``tweets`` (oldest first) for ``user``; returns how many the user now has."""
        ...

    async def recent(self, user: str, n: int) -> list[StoredTweet]:
        """The user's last ``n`` tweets, newest first; [] for an unknown user."""
        ...


class MemoryStore:
    kind = "memory"

    def __init__(self, max_tweets: int, max_users: int) -> None:
        self.max_tweets = max_tweets
        self.max_users = max_users
        self._users: OrderedDict[str, deque[StoredTweet]] = OrderedDict()

    async def append(self, user: str, tweets: Sequence[StoredTweet]) -> int:
        recent = self._users.setdefault(user, deque(maxlen=self.max_tweets))
        recent.extendleft(tweets)
        self._users.move_to_end(user)
        while len(self._users) > self.max_users:
            self._users.popitem(last=False)
        return len(recent)

    async def recent(self, user: str, n: int) -> list[StoredTweet]:
        return list(self._users.get(user, ()))[:n]


class RedisStore:
    """A Redis list per user: LPUSH then LTRIM keeps the newest ``max_tweets`` in one transaction."""

    kind = "redis"

    def __init__(self, link: RedisLink, max_tweets: int) -> None:
        self.link = link
        self.max_tweets = max_tweets

    @staticmethod
    def key(user: str) -> str:
        return f"tweetembed:recent:{user}"

    async def append(self, user: str, tweets: Sequence[StoredTweet]) -> int:
        if not tweets:
            return len(await self.recent(user, self.max_tweets))
        try:
            async with self.link.client.pipeline(transaction=True) as pipe:
                pipe.lpush(self.key(user), *[t.to_json() for t in tweets])
                pipe.ltrim(self.key(user), 0, self.max_tweets - 1)
                pipe.llen(self.key(user))
                results = await pipe.execute()
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise StoreUnavailableError(f"recent-tweet store (Redis) unavailable: {exc}") from exc
        self.link.succeeded()
        return int(results[-1])

    async def recent(self, user: str, n: int) -> list[StoredTweet]:
        try:
            raw = await self.link.client.lrange(self.key(user), 0, n - 1)
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise StoreUnavailableError(f"recent-tweet store (Redis) unavailable: {exc}") from exc
        self.link.succeeded()
        return [StoredTweet.from_json(r) for r in raw]
