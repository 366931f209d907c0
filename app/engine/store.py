"""The per-user recent-tweet store behind /bot-score: the last n tweets of each user, newest first.

Each entry keeps only what the bot head needs (model.heads.bot_features.TweetFields: counts, flags,
a timestamp, a text hash, hashed mention ids and the first MAX_TEXT_CHARS characters of the text)
and, when it was embedded, the tweet average with the digest of the checkpoint that produced it, so
an entry's size is bounded whatever the request held. /bot-score uses the stored averages of the
current checkpoint as they are and re-embeds stale ones from their kept text, so a checkpoint swap
never mixes spaces. Keeping the average is what lets an image count towards the score without
storing the image itself.

Beside the lists, the store counts how many distinct users posted each text (the bot head's
``shared_text_share``), updated on every append: a user's tweet adds one to its text's count unless
that user's stored tweets already hold the same text.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.engine.redis_link import REDIS_ERRORS, RedisLink
from model.heads.bot_features import TweetFields

DIGEST_CHARS = 16
"""Hex characters of the checkpoint digest kept per entry: enough to tell checkpoints apart."""
MAX_POSTER_ENTRIES = 1_000_000
"""Texts the in-process poster counter remembers; the oldest are forgotten first."""
_DAY_S = 86_400


class StoreUnavailableError(Exception):
    """The store's backend (Redis) cannot be reached; the client gets a 503."""


@dataclass(frozen=True)
class StoredTweet:
    fields: TweetFields
    average: np.ndarray | None  # (dim,) when it was embedded
    digest: str | None  # checkpoint digest of ``average`` (first DIGEST_CHARS hex characters)

    def to_json(self) -> str:
        avg = (
            None
            if self.average is None
            else base64.b64encode(self.average.astype(np.float32).tobytes()).decode()
        )
        digest = None if self.digest is None else self.digest[:DIGEST_CHARS]
        # ensure_ascii=False: UTF-8 text costs at most 4 bytes a character instead of 12 as escapes.
        return json.dumps(
            {"f": self.fields.to_obj(), "a": avg, "d": digest}, separators=(",", ":"), ensure_ascii=False
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> StoredTweet:
        obj = json.loads(raw)
        avg = obj.get("a")
        vector = None if avg is None else np.frombuffer(base64.b64decode(avg), np.float32).copy()
        return cls(TweetFields.from_obj(obj["f"]), vector, obj.get("d"))

    def made_by(self, digest: str) -> bool:
        return self.digest is not None and self.digest == digest[:DIGEST_CHARS]


class RecentTweetStore(Protocol):
    kind: str
    max_tweets: int

    async def append(self, user: str, tweets: Sequence[StoredTweet]) -> int:
        """Store ``tweets`` (oldest first) for ``user``; returns how many the user now has."""
        ...

    async def recent(self, user: str, n: int) -> list[StoredTweet]:
        """The user's last ``n`` tweets, newest first; [] for an unknown (or expired) user."""
        ...

    async def posters(self, hashes: Sequence[int]) -> dict[int, int]:
        """text hash -> distinct users known to have posted it (0 when none)."""
        ...


class MemoryStore:
    kind = "memory"

    def __init__(self, max_tweets: int, max_users: int, ttl_s: float = math.inf) -> None:
        self.max_tweets = max_tweets
        self.max_users = max_users
        self.ttl_s = ttl_s
        self._users: OrderedDict[str, tuple[float, deque[StoredTweet]]] = OrderedDict()
        self._posters: OrderedDict[int, int] = OrderedDict()

    def _live(self, user: str) -> deque[StoredTweet] | None:
        entry = self._users.get(user)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl_s:
            del self._users[user]
            return None
        return entry[1]

    async def append(self, user: str, tweets: Sequence[StoredTweet]) -> int:
        recent = self._live(user)
        if recent is None:
            recent = deque(maxlen=self.max_tweets)
        known = {t.fields.text_hash for t in recent}
        for h in {t.fields.text_hash for t in tweets} - known:
            self._posters[h] = self._posters.pop(h, 0) + 1
        while len(self._posters) > MAX_POSTER_ENTRIES:
            self._posters.popitem(last=False)
        recent.extendleft(tweets)
        self._users[user] = (time.monotonic(), recent)
        self._users.move_to_end(user)
        while len(self._users) > self.max_users:
            self._users.popitem(last=False)
        return len(recent)

    async def recent(self, user: str, n: int) -> list[StoredTweet]:
        return list(self._live(user) or ())[:n]

    async def posters(self, hashes: Sequence[int]) -> dict[int, int]:
        return {h: self._posters.get(h, 0) for h in hashes}


class RedisStore:
    """Per user, a Redis list of entries and a parallel list of their text hashes, both trimmed to the
    newest ``max_tweets`` and expiring ``ttl_s`` after the user's last append. A sorted set of users by
    last append enforces ``max_users`` (the longest-idle users are dropped first) and forgets expired
    ones. The poster counter is one hash per day, kept for ``ttl_s`` plus a day, so it holds at most
    the texts stored within the expiry window."""

    kind = "redis"
    USERS = "tweetembed:users"

    def __init__(self, link: RedisLink, max_tweets: int, ttl_s: int, max_users: int) -> None:
        self.link = link
        self.max_tweets = max_tweets
        self.ttl_s = int(ttl_s)
        self.max_users = max_users

    @staticmethod
    def key(user: str) -> str:
        return f"tweetembed:recent:{user}"

    @staticmethod
    def hashes_key(user: str) -> str:
        return f"tweetembed:texts:{user}"

    @staticmethod
    def posters_key(day: int) -> str:
        return f"tweetembed:posters:{day}"

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        self.link.failed(exc)
        return StoreUnavailableError(f"recent-tweet store (Redis) unavailable: {exc}")

    async def append(self, user: str, tweets: Sequence[StoredTweet]) -> int:
        if not tweets:
            return len(await self.recent(user, self.max_tweets))
        key, hkey = self.key(user), self.hashes_key(user)
        now = time.time()
        day = int(now // _DAY_S)
        try:
            known = {int(h) for h in await self.link.client.lrange(hkey, 0, -1)}
            new = sorted({t.fields.text_hash for t in tweets} - known)
            async with self.link.client.pipeline(transaction=True) as pipe:
                pipe.lpush(key, *[t.to_json() for t in tweets])
                pipe.ltrim(key, 0, self.max_tweets - 1)
                pipe.expire(key, self.ttl_s)
                pipe.lpush(hkey, *[str(t.fields.text_hash) for t in tweets])
                pipe.ltrim(hkey, 0, self.max_tweets - 1)
                pipe.expire(hkey, self.ttl_s)
                for h in new:
                    pipe.hincrby(self.posters_key(day), str(h), 1)
                if new:
                    pipe.expire(self.posters_key(day), self.ttl_s + _DAY_S)
                pipe.zadd(self.USERS, {user: now})
                pipe.zremrangebyscore(self.USERS, "-inf", now - self.ttl_s)
                pipe.zcard(self.USERS)
                pipe.llen(key)
                results: list[Any] = await pipe.execute()
            excess = int(results[-2]) - self.max_users
            if excess > 0:
                # The longest idle users go; the one just appended has the newest score.
                dropped = await self.link.client.zpopmin(self.USERS, excess)
                names = [m.decode() if isinstance(m, bytes) else str(m) for m, _ in dropped]
                if names:
                    await self.link.client.delete(
                        *[self.key(u) for u in names], *[self.hashes_key(u) for u in names]
                    )
        except REDIS_ERRORS as exc:
            raise self._unavailable(exc) from exc
        self.link.succeeded()
        return int(results[-1])

    async def recent(self, user: str, n: int) -> list[StoredTweet]:
        try:
            raw = await self.link.client.lrange(self.key(user), 0, n - 1)
        except REDIS_ERRORS as exc:
            raise self._unavailable(exc) from exc
        self.link.succeeded()
        return [StoredTweet.from_json(r) for r in raw]

    async def posters(self, hashes: Sequence[int]) -> dict[int, int]:
        if not hashes:
            return {}
        today = int(time.time() // _DAY_S)
        days = range(today - math.ceil(self.ttl_s / _DAY_S), today + 1)
        fields = [str(h) for h in hashes]
        try:
            async with self.link.client.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hmget(self.posters_key(day), fields)
                results: list[list[Any]] = await pipe.execute()
        except REDIS_ERRORS as exc:
            raise self._unavailable(exc) from exc
        self.link.succeeded()
        counts = {h: 0 for h in hashes}
        for row in results:
            for h, value in zip(hashes, row, strict=True):
                if value is not None:
                    counts[h] += int(value)
        return counts
