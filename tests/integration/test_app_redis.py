"""The Redis cache and recent-tweet store against a real redis-server, including Redis stopped and
restarted while the service runs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.engine.fake_backend import FakeBackend
from tests.app_fixtures import error_of, running_app
from tests.redis_fixtures import RedisServer

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]


async def test_cache_in_redis_is_shared_between_replicas(redis_server: RedisServer) -> None:
    tweet = {"id": 1, "text": "cache me #please", "place_id": "p-nyc", "user_id": "bob"}
    first_backend, second_backend = FakeBackend(), FakeBackend()
    async with running_app(first_backend, redis_url=redis_server.url) as (_, client):
        assert (await client.get("/info")).json()["cache"] == "redis"
        first = (await client.post("/embed", json={"tweet": tweet})).json()["results"][0]
    keys = redis_server.command("--scan", "--pattern", "tweetembed:emb:*").split()
    assert len(keys) == 4  # text, hashtags, location, user
    assert {k.split(":")[3] for k in keys} == {"text", "hashtags", "location", "user"}
    # A second replica (fresh process state) finds every component in Redis: no forward pass.
    async with running_app(second_backend, redis_url=redis_server.url) as (_, client):
        second = (await client.post("/embed", json={"tweet": tweet})).json()["results"][0]
        metrics = (await client.get("/metrics")).text
    assert first_backend.batch_sizes == [1] and second_backend.batch_sizes == []
    assert 'tweetembed_cache_lookups_total{result="hit"} 4.0' in metrics
    assert np.allclose(first["average"], second["average"], atol=1e-6)
    for c in first["components"]:
        assert np.allclose(first["components"][c], second["components"][c])


async def test_store_in_redis_is_capped(redis_server: RedisServer) -> None:
    async with running_app(redis_url=redis_server.url, store_max_tweets=4) as (_, client):
        tweets = [{"id": i, "text": f"post {i}"} for i in range(6)]
        response = await client.post("/users/bob/tweets", json={"tweets": tweets})
        assert response.status_code == 201 and response.json()["total"] == 4
        assert redis_server.command("llen", "tweetembed:recent:bob") == "4"
        newest = redis_server.command("lindex", "tweetembed:recent:bob", "0")
        assert '"post 5"' in newest
        score = (await client.get("/bot-score/bob")).json()
        assert score["tweets_used"] == 4


async def test_redis_stopped_and_restarted_mid_run(redis_server: RedisServer) -> None:
    backend = FakeBackend()
    async with running_app(backend, redis_url=redis_server.url, redis_retry_s=0.2, redis_timeout_s=0.3) as (
        _,
        client,
    ):
        tweets = {"tweets": [{"id": 1, "text": "before the outage"}]}
        assert (await client.post("/users/alice/tweets", json=tweets)).status_code == 201
        assert (await client.post("/embed", json={"tweet": {"id": 1, "text": "hello"}})).status_code == 200

        redis_server.stop()
        # Embedding keeps working: the cache is bypassed.
        during = await client.post("/embed", json={"tweet": {"id": 1, "text": "hello"}})
        assert during.status_code == 200
        again = await client.post("/embed", json={"tweet": {"id": 1, "text": "hello"}})
        assert again.status_code == 200
        assert backend.batch_sizes[-2:] == [1, 1]  # no cache while Redis is down
        # The store answers a clear 503.
        stored = await client.post("/users/alice/tweets", json=tweets)
        assert stored.status_code == 503 and error_of(stored)["type"] == "store_unavailable"
        scored = await client.get("/bot-score/alice")
        assert scored.status_code == 503 and "Redis" in error_of(scored)["message"]
        assert (await client.get("/info")).json()["redis"] == "down"
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 200

        redis_server.start()  # an empty Redis: the earlier store is gone (--save '')
        await asyncio.sleep(0.3)  # past the back-off window
        assert (await client.post("/users/alice/tweets", json=tweets)).status_code == 201
        assert (await client.get("/bot-score/alice")).json()["tweets_used"] == 1
        calls = len(backend.batch_sizes)
        await client.post("/embed", json={"tweet": {"id": 1, "text": "after"}})
        await client.post("/embed", json={"tweet": {"id": 1, "text": "after"}})
        assert len(backend.batch_sizes) == calls + 1  # the cache works again
        assert (await client.get("/info")).json()["redis"] == "up"


async def test_redis_down_at_start_still_serves(redis_server: RedisServer) -> None:
    redis_server.stop()
    async with running_app(redis_url=redis_server.url, redis_retry_s=0.1, redis_timeout_s=0.3) as (_, client):
        assert (await client.post("/embed", json={"tweet": {"id": 1, "text": "x"}})).status_code == 200
        assert (await client.get("/bot-score/alice")).status_code == 503
        redis_server.start()
        await asyncio.sleep(0.15)
        assert (await client.get("/bot-score/alice")).status_code == 404  # reachable, and nothing stored


BYTES_PER_TWEET_BOUND = 4_096
"""Redis bytes per stored tweet (FakeBackend, dim 64) that a hostile request may not exceed: the
fields, 16 hashed mentions, 280 characters of text and the base64 tweet average, with Redis' own
per-element overhead."""


async def test_store_bounds_each_tweet_whatever_the_request_holds(redis_server: RedisServer) -> None:
    # 64 tweets, each with 1,000 mentions of 140 characters and a 2,000-character text: ~9 MB.
    mentions = [f"{i:04d}" + "m" * 136 for i in range(1000)]
    tweets = [{"id": i, "text": "x" * 2000, "mentions": mentions} for i in range(64)]
    async with running_app(redis_url=redis_server.url, store_max_tweets=100) as (_, client):
        response = await client.post("/users/mallory/tweets", json={"tweets": tweets})
        assert response.status_code == 201, response.text
        assert (await client.get("/bot-score/mallory")).status_code == 200
    assert redis_server.command("llen", "tweetembed:recent:mallory") == "64"
    used = int(redis_server.command("memory", "usage", "tweetembed:recent:mallory", "samples", "0"))
    print("redis bytes per stored tweet:", used / 64)
    assert used < 64 * BYTES_PER_TWEET_BOUND, used


async def test_store_users_expire_and_are_capped(redis_server: RedisServer) -> None:
    async with running_app(redis_url=redis_server.url, store_ttl_s=3600, store_max_users=2) as (_, client):
        for user in ("ann", "ben", "cat"):
            tweets = {"tweets": [{"id": 1, "text": f"hello from {user}"}]}
            assert (await client.post(f"/users/{user}/tweets", json=tweets)).status_code == 201
        ttl = int(redis_server.command("ttl", "tweetembed:recent:cat"))
        assert 3500 < ttl <= 3600
        assert int(redis_server.command("ttl", "tweetembed:texts:cat")) > 3500
        # The longest idle user went when the third arrived.
        assert redis_server.command("exists", "tweetembed:recent:ann") == "0"
        assert (await client.get("/bot-score/ann")).status_code == 404
        assert (await client.get("/bot-score/cat")).status_code == 200
        # An append refreshes the TTL.
        redis_server.command("expire", "tweetembed:recent:cat", "10")
        more = {"tweets": [{"id": 2, "text": "again"}]}
        assert (await client.post("/users/cat/tweets", json=more)).status_code == 201
        assert int(redis_server.command("ttl", "tweetembed:recent:cat")) > 3500


async def test_store_counts_distinct_posters_of_a_text(redis_server: RedisServer) -> None:
    from app.engine.store import RedisStore
    from model.heads.bot_features import text_hash

    async with running_app(redis_url=redis_server.url) as (app, client):
        for user in ("ann", "ben"):
            tweets = {"tweets": [{"id": 1, "text": "buy now https://t.co/a"}, {"id": 2, "text": "buy now"}]}
            assert (await client.post(f"/users/{user}/tweets", json=tweets)).status_code == 201
        store = app.state.service.store
        assert isinstance(store, RedisStore)
        h = text_hash("buy now")
        assert await store.posters([h, 12345]) == {h: 2, 12345: 0}
