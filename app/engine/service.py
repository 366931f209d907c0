"""The embedding service: backend + micro-batcher + cache + recent-tweet store, one per app.

Routes reach it through app/api/deps.py. The backend loads in a worker thread after start-up, so
/health answers at once and /ready says 503 until the checkpoint and its heads are in memory.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from app.api.errors import ApiError
from app.engine.backend import Backend, EmbeddingResult, EmbeddingRow, average_of
from app.engine.batching import BatcherClosedError, MicroBatcher, QueueFullError
from app.engine.cache import ABSENT, EmbeddingCache, MemoryCache, NoCache, RedisCache, cache_key
from app.engine.gc_freeze import freeze_startup_objects
from app.engine.inputs import TweetInput
from app.engine.metrics import ServiceMetrics
from app.engine.redis_link import RedisLink
from app.engine.store import MemoryStore, RecentTweetStore, RedisStore, StoredTweet, StoreUnavailableError
from app.settings import Settings
from model.heads.bot_features import BotUser, TweetFields
from model.record import Tweet

log = logging.getLogger(__name__)
T = TypeVar("T")


def store_unavailable(exc: BaseException) -> ApiError:
    """The client learns which dependency failed; its address and the failed command go to the log."""
    log.warning("recent-tweet store unavailable: %s", exc)
    return ApiError(
        "store_unavailable",
        "the recent-tweet store (Redis) is unavailable; retry later",
        headers={"Retry-After": "5"},
    )


def component_contents(item: TweetInput) -> dict[str, bytes]:
    """The raw content of each component the tweet has; what the cache key hashes."""
    tweet = item.tweet
    out: dict[str, bytes] = {}
    if tweet.text:
        out["text"] = tweet.text.encode("utf-8")
    if item.image is not None:
        out["image"] = item.image.digest.encode("ascii")
    if tweet.hashtags:
        out["hashtags"] = "\x1f".join(tweet.hashtags).encode("utf-8")
    if tweet.place_id:
        out["location"] = tweet.place_id.encode("utf-8")
    if tweet.user_id:
        out["user"] = tweet.user_id.encode("utf-8")
    return out


class EmbeddingService:
    def __init__(
        self, settings: Settings, metrics: ServiceMetrics, load_backend: Callable[[], Backend]
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._load_backend = load_backend
        self.backend: Backend | None = None
        self.load_error: str | None = None
        self.redis: RedisLink | None = None
        self.cache: EmbeddingCache = NoCache()
        self.store: RecentTweetStore = MemoryStore(
            settings.store_max_tweets, settings.store_max_users, settings.store_ttl_s
        )
        self._loading: asyncio.Task[None] | None = None
        self._switch_interval = sys.getswitchinterval()
        self._make_workers()

    def _make_workers(self) -> None:
        # A thread per forward pass that may run at once (one per model process; torch parallelises
        # inside), one for heads and profile texts.
        # Made afresh on every start: an app may be started again after a shutdown (test clients do).
        s = self.settings
        self._forward_pool = ThreadPoolExecutor(s.forward_workers, thread_name_prefix="forward")
        self._heads_pool = ThreadPoolExecutor(1, thread_name_prefix="heads")
        self.batcher: MicroBatcher[TweetInput, EmbeddingRow] = MicroBatcher(
            self._forward,
            self._forward_pool,
            s.batch_max_size,
            s.batch_max_wait_ms,
            s.queue_max,
            workers=s.forward_workers,
            on_batch=self.metrics.observe_batch,
            on_depth=self.metrics.queue_depth.set,
        )
        self._stopped = False

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        # The forward worker thread needs the GIL a few times per batch (to hand tweets to the model
        # process and split its answer); with Python's 5 ms switch interval it waits that long behind
        # an event loop busy with requests (docs/HISTORY.md has the measurement).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(s.gil_switch_interval_ms / 1000.0)
        if self._stopped:
            self._make_workers()
        if s.redis_url:
            self.redis = RedisLink(s.redis_url, s.redis_timeout_s, s.redis_retry_s)
            if not await self.redis.ping():
                log.warning(
                    "redis at %s not reachable at start; cache bypassed and store 503 until it is",
                    s.redis_url,
                )
            self.store = RedisStore(self.redis, s.store_max_tweets, s.store_ttl_s, s.store_max_users)
            if s.cache_enabled:
                self.cache = RedisCache(self.redis, s.cache_ttl_s)
        elif s.cache_enabled:
            self.cache = MemoryCache(s.cache_max_entries)
        self.batcher.start()
        if self.backend is None:
            self.load_error = None
            self._loading = asyncio.get_running_loop().create_task(self._load(), name="load-backend")

    async def _load(self) -> None:
        try:
            backend = await asyncio.get_running_loop().run_in_executor(self._forward_pool, self._load_backend)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("loading the checkpoint failed: %s", self.load_error)
            return
        self.backend = backend
        freeze_startup_objects()
        self.metrics.ready.set(1)
        log.info(
            "ready: %s backend, dim %d, components %s",
            backend.kind,
            backend.dim,
            ",".join(backend.components),
        )

    async def wait_loaded(self) -> None:
        if self._loading is not None:
            await self._loading

    async def stop(self) -> None:
        """Finish every queued forward pass, then release threads and connections."""
        await self.batcher.close()
        if self._loading is not None:
            await self._loading
        self._forward_pool.shutdown(wait=True)
        self._heads_pool.shutdown(wait=True)
        self._stopped = True
        sys.setswitchinterval(self._switch_interval)
        gc.unfreeze()  # what the service kept alive can be collected again once it is gone
        if self.backend is not None:
            # A restarted service loads again (the loader of a given instance hands the same one back).
            self.backend.close()
            self.backend = None
            self.metrics.ready.set(0)
        if self.redis is not None:
            await self.redis.close()
            self.redis = None

    # --- access -------------------------------------------------------------------------------
    def require_backend(self) -> Backend:
        if self._stopped:
            raise ApiError("shutting_down", "the service is shutting down", headers={"Retry-After": "5"})
        if self.backend is None:
            detail = (
                f"loading failed: {self.load_error}" if self.load_error else "the checkpoint is still loading"
            )
            raise ApiError("not_ready", detail, headers={"Retry-After": "5"})
        return self.backend

    def require_head(self, name: str) -> Backend:
        backend = self.require_backend()
        if not backend.heads_available().get(name, False):
            raise ApiError(
                "head_unavailable", f"this checkpoint has no '{name}' head (run `tweetembed build-heads`)"
            )
        return backend

    async def run_head(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a head on the heads thread, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._heads_pool, fn, *args)

    # --- embedding ----------------------------------------------------------------------------
    def _forward(self, items: list[TweetInput]) -> list[EmbeddingRow]:
        backend = self.require_backend()
        result = backend.embed(
            [it.tweet for it in items], [it.image.pixels if it.image else None for it in items]
        )
        return [result.row(i) for i in range(len(items))]

    async def embed(self, items: list[TweetInput]) -> EmbeddingResult:
        """Every component of every tweet: cached components are reused, the rest batched with others."""
        backend = self.require_backend()
        components, dim, digest = backend.components, backend.dim, backend.checkpoint_digest
        keyed = [
            {
                c: cache_key(digest, c, content)
                for c, content in component_contents(it).items()
                if c in components
            }
            for it in items
        ]
        flat_keys = [key for keys in keyed for key in keys.values()]
        values = await self.cache.get_many(flat_keys)
        cached = dict(zip(flat_keys, values, strict=True))
        hits = sum(v is not None for v in values)
        self.metrics.observe_cache(hits, len(values) - hits)

        rows: list[EmbeddingRow | None] = []
        misses: list[int] = []
        for i, keys in enumerate(keyed):
            found = {c: cached[k] for c, k in keys.items()}
            if keys and all(v is not None for v in found.values()):
                comps = {c: v for c, v in found.items() if v is not None and v.size}
                present = {c: c in comps for c in components}
                rows.append(EmbeddingRow(comps, present, average_of(comps, present, dim)))
            else:
                rows.append(None)
                misses.append(i)

        if misses:
            try:
                fresh = await self.batcher.submit([items[i] for i in misses])
            except QueueFullError as exc:
                self.metrics.queue_rejections.inc()
                raise ApiError(
                    "queue_full",
                    f"too many tweets waiting for the model; retry in {exc.retry_after_s} s",
                    headers={"Retry-After": str(exc.retry_after_s)},
                ) from None
            except BatcherClosedError:
                raise ApiError("shutting_down", "the service is shutting down") from None
            writes = []
            for i, row in zip(misses, fresh, strict=True):
                rows[i] = row
                for c, key in keyed[i].items():
                    writes.append((key, row.components[c] if row.present.get(c) else ABSENT))
            await self.cache.put_many(writes)
        return EmbeddingResult.from_rows([r for r in rows if r is not None], components, dim)

    # --- recent-tweet store -------------------------------------------------------------------
    async def store_tweets(self, user: str, items: list[TweetInput], averages: np.ndarray | None) -> int:
        digest = self.backend.checkpoint_digest if self.backend is not None else None
        entries = []
        for i, item in enumerate(items):
            fields = TweetFields.from_tweet(
                item.tweet, image=item.image is not None or bool(item.tweet.image)
            )
            avg = None if averages is None or not np.any(averages[i]) else averages[i]
            entries.append(StoredTweet(fields, avg, digest if avg is not None else None))
        try:
            return await self.store.append(user, entries)
        except StoreUnavailableError as exc:
            raise store_unavailable(exc) from None

    async def recent_user(self, user: str, n: int) -> tuple[BotUser, dict[int, int]]:
        """The user's last n stored tweets as the bot head sees them (entries embedded by another
        checkpoint are re-embedded from their kept text; image-only ones are then left out), and the
        poster counts of their texts."""
        backend = self.require_backend()
        try:
            stored = await self.store.recent(user, n)
        except StoreUnavailableError as exc:
            raise store_unavailable(exc) from None
        if not stored:
            raise ApiError(
                "user_not_found",
                f"no tweets stored for user '{user}' "
                f"(store some with POST /users/{{user}}/tweets or POST /embed with store: true)",
            )
        stale = [
            i
            for i, s in enumerate(stored)
            if s.average is None
            or not s.made_by(backend.checkpoint_digest)
            or s.average.shape != (backend.dim,)
        ]
        averages: dict[int, np.ndarray] = {
            i: s.average for i, s in enumerate(stored) if i not in set(stale) and s.average is not None
        }
        texts = [i for i in stale if stored[i].fields.text]
        if texts:
            result = await self.embed(
                [TweetInput(Tweet(f"stored-{i}", stored[i].fields.text)) for i in texts]
            )
            for j, i in enumerate(texts):
                if np.any(result.average[j]):
                    averages[i] = result.average[j]
        kept = sorted(averages)
        if not kept:
            raise ApiError("user_not_found", f"no usable tweets stored for user '{user}'")
        fields = [stored[i].fields for i in kept]
        try:
            posters = await self.store.posters(sorted({f.text_hash for f in fields}))
        except StoreUnavailableError as exc:
            raise ApiError("store_unavailable", str(exc)) from None
        matrix = np.stack([averages[i] for i in kept]).astype(np.float32)  # (n_u, dim)
        return BotUser(fields, matrix), posters
