"""The in-process recent-tweet store: entries hold only the bot head's compact fields, idle users
expire, the user cap drops the longest idle, and distinct posters per text are counted."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.engine.store import MemoryStore, StoredTweet
from model.heads.bot_features import MAX_MENTIONS, MAX_TEXT_CHARS, TweetFields, text_hash
from model.record import Tweet

pytestmark = pytest.mark.asyncio


def _entry(text: str, mentions: int = 0) -> StoredTweet:
    tweet = Tweet("1", text, mentions=tuple("m" * 140 + str(i) for i in range(mentions)))
    return StoredTweet(TweetFields.from_tweet(tweet), np.ones(8, np.float32), "d" * 64)


async def test_entries_are_bounded_whatever_the_tweet_holds() -> None:
    small = len(_entry("hi").to_json().encode())
    huge = _entry("x" * 100_000, mentions=1000)
    raw = huge.to_json().encode()
    assert len(raw) < small + MAX_TEXT_CHARS + MAX_MENTIONS * 11 + 16
    back = StoredTweet.from_json(raw)
    assert back.fields == huge.fields and back.made_by("d" * 64) and not back.made_by("e" * 64)
    np.testing.assert_array_equal(back.average, huge.average)


async def test_idle_users_expire_and_the_cap_drops_the_longest_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore(max_tweets=3, max_users=2, ttl_s=60)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    assert await store.append("ann", [_entry(f"a{i}") for i in range(5)]) == 3
    await store.append("ben", [_entry("b")])
    now[0] += 30
    await store.append("ann", [_entry("a5")])  # refreshes ann
    await store.append("cat", [_entry("c")])  # over the cap: ben, the longest idle, goes
    assert await store.recent("ben", 3) == []
    assert [e.fields.text for e in await store.recent("ann", 3)] == ["a5", "a4", "a3"]
    now[0] += 61
    assert await store.recent("ann", 3) == [] and await store.recent("cat", 3) == []


async def test_posters_count_distinct_users_per_text() -> None:
    store = MemoryStore(max_tweets=10, max_users=10)
    await store.append("ann", [_entry("buy now https://t.co/1"), _entry("buy now")])
    await store.append("ann", [_entry("buy now")])  # ann again: not a new poster
    await store.append("ben", [_entry("RT buy now")])
    assert await store.posters([text_hash("buy now"), 7]) == {text_hash("buy now"): 2, 7: 0}
