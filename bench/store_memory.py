"""Redis memory per stored tweet of the recent-tweet store, measured with MEMORY USAGE against a real
redis-server: ``python -m bench.store_memory`` prints bytes per tweet for a typical and a worst-case
tweet (280 characters, 16 mentions) at the small (256) and paper (1024) dims, n = 100 per user."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import numpy as np

from app.engine.redis_link import RedisLink
from app.engine.store import RedisStore, StoredTweet
from bench.redis_proc import RedisProcess
from model.heads.bot_features import TweetFields
from model.record import Tweet

N = 100
USERS = 50


def _tweet(i: int, worst: bool) -> Tweet:
    if worst:
        text = f"{i} " + "é" * 300  # two UTF-8 bytes a character, cut to 280 characters
        mentions = tuple(f"user{j:012d}" for j in range(40))
    else:
        text = f"tweet {i} about the weather in paris #travel https://t.co/abcdefghij"
        mentions = ("alice",)
    return Tweet(str(i), text, created_at="2020-03-01T12:00:00Z", hashtags=("travel",), mentions=mentions)


async def measure(server: RedisProcess, dim: int, worst: bool) -> float:
    link = RedisLink(server.url)
    store = RedisStore(link, N, 30 * 86_400, 100_000)
    rng = np.random.default_rng(0)
    server.command("flushall")
    for u in range(USERS):
        entries = [
            StoredTweet(
                TweetFields.from_tweet(_tweet(u * N + i, worst)),
                rng.standard_normal(dim).astype(np.float32),
                "f" * 64,
            )
            for i in range(N)
        ]
        await store.append(f"user{u}", entries)
    keys = server.command("--scan", "--pattern", "tweetembed:*").split()
    total = sum(int(server.command("memory", "usage", k, "samples", "0")) for k in keys)
    await link.close()
    return total / (USERS * N)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisProcess(Path(tmp))
        server.start()
        try:
            print(
                f"redis-server {server.command('info', 'server').split('redis_version:')[1].split()[0]}, "
                f"{USERS} users x {N} tweets"
            )
            for dim in (256, 1024):
                for worst in (False, True):
                    per = await measure(server, dim, worst)
                    kind = "worst case (280 chars, 16 mentions)" if worst else "typical tweet"
                    print(f"dim {dim:5d}  {kind:38s} {per:7.0f} bytes per tweet (lists + counters)")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
