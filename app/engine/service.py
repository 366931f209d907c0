"""The engine: backend + admission + micro-batcher + cache + recent-tweet store, one per app.

Routes reach it through app/api/deps.py. The backend loads in a worker thread after start-up, so
/health answers at once and /ready says 503 until the checkpoint and its heads are in memory.
Failures are raised as app/engine/errors.py's domain errors; app/api/errors.py maps them to HTTP.

A route calls ``require_backend`` (or ``require_head``) once and passes the backend it got to
``embed``: the batcher gives every queued tweet back a ``BatchRow``, its row in the one
EmbeddingBatch of the forward pass it went through, and ``embed`` gathers a request's rows with one
indexing per batch (or hands the forward pass's batch back as a view, when a request is all of it).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from app.engine.admission import Admission
from app.engine.backend import Backend
from app.engine.batching import BatcherClosedError, MicroBatcher, QueueFullError
from app.engine.cache import ABSENT, EmbeddingCache, MemoryCache, NoCache, RedisCache, cache_key
from app.engine.errors import (
    DependencyDownError,
    HeadMissingError,
    NotReadyError,
    OverloadedError,
    ShuttingDownError,
    UserNotFoundError,
)
from app.engine.gc_freeze import freeze_startup_objects
from app.engine.inputs import TweetInput
from app.engine.metrics import ServiceMetrics
from app.engine.redis_link import RedisLink
from app.engine.store import MemoryStore, RecentTweetStore, RedisStore, StoredTweet, StoreUnavailableError
from app.settings import Settings
from model.embedding_batch import EmbeddingBatch, tweet_average
from model.heads.bot_features import BotUser, TweetFields
from model.record import Tweet

log = logging.getLogger(__name__)
T = TypeVar("T")


def store_unavailable(exc: BaseException) -> DependencyDownError:
    """The client learns which dependency failed; its address and the failed command go to the log."""
    log.warning("recent-tweet store unavailable: %s", exc)
    return DependencyDownError("the recent-tweet store (Redis) is unavailable; retry later", retry_after_s=5)


@dataclass(frozen=True)
class BatchRow:
    """Where one queued tweet's embeddings are: row ``index`` of the forward pass's ``batch``."""

    batch: EmbeddingBatch
    index: int


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
        self.admission = Admission(
            settings.inflight_limit,
            self._admission_retry_after,
            on_reject=metrics.queue_rejections.inc,
            on_change=metrics.in_progress.set,
        )

    def _admission_retry_after(self, in_progress: int) -> int:
        # Requests in progress that are not yet in the batch queue are about one tweet each.
        batcher = self.batcher  # looked up per call: a restarted service has a new batcher
        return batcher.retry_after_s(max(0, in_progress - batcher.depth))

    def _make_workers(self) -> None:
        # A thread per forward pass that may run at once (one per model process; torch parallelises
        # inside), one for heads and profile texts.
        # Made afresh on every start: an app may be started again after a shutdown (test clients do).
        s = self.settings
        self._forward_pool = ThreadPoolExecutor(s.forward_workers, thread_name_prefix="forward")
        self._heads_pool = ThreadPoolExecutor(1, thread_name_prefix="heads")
        self.batcher: MicroBatcher[TweetInput, BatchRow] = MicroBatcher(
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
        """The loaded backend; once per request, by the route, which passes it on."""
        if self._stopped:
            raise ShuttingDownError("the service is shutting down", retry_after_s=5)
        if self.backend is None:
            detail = (
                f"loading failed: {self.load_error}" if self.load_error else "the checkpoint is still loading"
            )
            raise NotReadyError(detail, retry_after_s=5)
        return self.backend

    def require_head(self, name: str) -> Backend:
        backend = self.require_backend()
        if not backend.heads_available().get(name, False):
            raise HeadMissingError(f"this checkpoint has no '{name}' head (run `tweetembed build-heads`)")
        return backend

    async def run_head(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a head on the heads thread, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._heads_pool, fn, *args)

    # --- embedding ----------------------------------------------------------------------------
    def _forward(self, items: list[TweetInput]) -> list[BatchRow]:
        backend = self.backend
        if backend is None:  # stop() drains the batcher before it lets the backend go
            raise NotReadyError("the checkpoint is not loaded", retry_after_s=5)
        batch = backend.embed(
            [it.tweet for it in items], [it.image.pixels if it.image else None for it in items]
        )
        return [BatchRow(batch, i) for i in range(len(items))]

    async def embed(self, items: list[TweetInput], backend: Backend) -> EmbeddingBatch:
        """Every component of every tweet: cached components are reused, the rest batched with others.
        ``backend`` is what the route's require_backend returned."""
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
        hits = sum(v is not None for v in values)
        self.metrics.observe_cache(hits, len(values) - hits)
        cached = dict(zip(flat_keys, values, strict=True))
        misses = [
            i for i, keys in enumerate(keyed) if not keys or any(cached[k] is None for k in keys.values())
        ]
        fresh: list[BatchRow] = []
        if misses:
            try:
                fresh = await self.batcher.submit([items[i] for i in misses])
            except QueueFullError as exc:
                self.metrics.queue_rejections.inc()
                raise OverloadedError(
                    f"too many tweets waiting for the model; retry in {exc.retry_after_s} s",
                    retry_after_s=exc.retry_after_s,
                ) from None
            except BatcherClosedError:
                raise ShuttingDownError("the service is shutting down") from None
        whole = _whole_batch(fresh, len(items))
        out = (
            whole if whole is not None else self._gather(items, keyed, cached, misses, fresh, components, dim)
        )
        if misses:
            writes: list[tuple[str, np.ndarray]] = []
            for i in misses:
                for c, key in keyed[i].items():
                    writes.append((key, out.components[c][i] if out.present[c][i] else ABSENT))
            await self.cache.put_many(writes)
        return out

    @staticmethod
    def _gather(
        items: list[TweetInput],
        keyed: list[dict[str, str]],
        cached: dict[str, np.ndarray | None],
        misses: list[int],
        fresh: list[BatchRow],
        components: tuple[str, ...],
        dim: int,
    ) -> EmbeddingBatch:
        """One request's batch from the cache and the forward passes its misses went through."""
        out = EmbeddingBatch.zeros(components, len(items), dim)
        by_batch: dict[int, tuple[EmbeddingBatch, list[int], list[int]]] = {}
        for i, row in zip(misses, fresh, strict=True):
            _, positions, rows = by_batch.setdefault(id(row.batch), (row.batch, [], []))
            positions.append(i)
            rows.append(row.index)
        for batch, positions, rows in by_batch.values():
            for c in components:
                out.components[c][positions] = batch.components[c][rows]
                out.present[c][positions] = batch.present[c][rows]
            out.average[positions] = batch.average[rows]
        missed = set(misses)
        hit_rows = [i for i in range(len(items)) if i not in missed]
        for i in hit_rows:
            for c, key in keyed[i].items():
                vector = cached[key]
                if vector is not None and vector.size:
                    out.components[c][i] = vector
                    out.present[c][i] = True
        if hit_rows:
            out.average[hit_rows] = tweet_average(
                {c: out.components[c][hit_rows] for c in components},
                {c: out.present[c][hit_rows] for c in components},
            )
        return out

    # --- recent-tweet store -------------------------------------------------------------------
    async def store_tweets(self, user: str, items: list[TweetInput], averages: np.ndarray | None) -> int:
        digest = self.backend.checkpoint_digest if self.backend is not None else None
        entries = []
        for i, item in enumerate(items):
            fields = TweetFields.from_tweet(
                item.tweet, image=item.image is not None or bool(item.tweet.image)
            )
            # A copy: a row of the forward pass's batch must not keep the whole batch alive in the store.
            avg = None if averages is None or not np.any(averages[i]) else averages[i].copy()
            entries.append(StoredTweet(fields, avg, digest if avg is not None else None))
        try:
            return await self.store.append(user, entries)
        except StoreUnavailableError as exc:
            raise store_unavailable(exc) from None

    async def recent_user(self, user: str, n: int, backend: Backend) -> tuple[BotUser, dict[int, int]]:
        """The user's last n stored tweets as the bot head sees them (entries embedded by another
        checkpoint are re-embedded from their kept text; image-only ones are then left out), and the
        poster counts of their texts."""
        try:
            stored = await self.store.recent(user, n)
        except StoreUnavailableError as exc:
            raise store_unavailable(exc) from None
        if not stored:
            raise UserNotFoundError(
                f"no tweets stored for user '{user}' "
                f"(store some with POST /users/{{user}}/tweets or POST /embed with store: true)"
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
                [TweetInput(Tweet(f"stored-{i}", stored[i].fields.text)) for i in texts], backend
            )
            for j, i in enumerate(texts):
                if np.any(result.average[j]):
                    averages[i] = result.average[j]
        kept = sorted(averages)
        if not kept:
            raise UserNotFoundError(f"no usable tweets stored for user '{user}'")
        fields = [stored[i].fields for i in kept]
        try:
            posters = await self.store.posters(sorted({f.text_hash for f in fields}))
        except StoreUnavailableError as exc:
            raise store_unavailable(exc) from None
        matrix = np.stack([averages[i] for i in kept]).astype(np.float32)  # (n_u, dim)
        return BotUser(fields, matrix), posters


def _whole_batch(fresh: list[BatchRow], n: int) -> EmbeddingBatch | None:
    """The forward pass's batch itself (or a view of it), when a request's n tweets were all missed and
    make up consecutive rows of one batch: the common case, answered without a copy."""
    if len(fresh) != n or n == 0:
        return None
    batch, start = fresh[0].batch, fresh[0].index
    for j, row in enumerate(fresh):
        if row.batch is not batch or row.index != start + j:
            return None
    return batch if start == 0 and len(batch) == n else batch.rows(slice(start, start + n))
