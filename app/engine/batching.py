"""Continuous micro-batching: concurrent requests share one forward pass.

Items wait in a bounded FIFO. An idle worker dispatches whatever is queued at once (a lone request
never waits for company); while a forward pass runs in a worker thread, new items accumulate, and the
next batch takes everything queued, up to ``max_batch``. So batches grow with load by themselves.
``max_wait_ms`` (default 0) is an optional extra wait for a batch to fill, used only under load: when
the batch's first item arrived while a forward pass was running and the batch is not yet full.
Each item has its own future, so results return in order. When the queue is full the caller gets
QueueFullError (a 429 with Retry-After) instead of unbounded latency.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class QueueFullError(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"queue full; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class BatcherClosedError(Exception):
    """Submitted after shutdown began."""


@dataclass
class _Pending(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT]
    queued_at: float  # loop.time() at submit


_STOP = object()


class MicroBatcher(Generic[ItemT, ResultT]):
    def __init__(
        self,
        run_batch: Callable[[list[ItemT]], Sequence[ResultT]],
        executor: Executor,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        max_queue: int = 512,
        workers: int = 1,
        on_batch: Callable[[int, float], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._queue: asyncio.Queue[_Pending[ItemT, ResultT] | object] = asyncio.Queue()
        self._depth = 0  # items waiting, not yet taken into a batch
        self._closing = False
        self._last_batch_s = 0.05  # running estimate of one batch's duration, for Retry-After
        self._last_end = -math.inf  # loop.time() when the last forward pass finished
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def depth(self) -> int:
        return self._depth

    def start(self) -> None:
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._work(), name=f"micro-batcher-{i}") for i in range(self.workers)
            ]

    async def close(self) -> None:
        """Refuse new items, finish everything already queued, then stop the workers."""
        self._closing = True
        if self._tasks:
            for _ in self._tasks:  # each worker stops at the first stop it meets, after the items before it
                self._queue.put_nowait(_STOP)
            await asyncio.gather(*self._tasks)
            self._tasks = []

    async def submit(self, items: Sequence[ItemT]) -> list[ResultT]:
        """Results for ``items`` in order; all of a request's items are admitted or none are."""
        if self._closing:
            raise BatcherClosedError("the service is shutting down")
        if not self._tasks:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self._depth + len(items) > self.max_queue:
            raise QueueFullError(self.retry_after_s())
        loop = asyncio.get_running_loop()
        now = loop.time()
        pending = [_Pending[ItemT, ResultT](item, loop.create_future(), now) for item in items]
        for p in pending:
            self._queue.put_nowait(p)
        self._set_depth(self._depth + len(pending))
        return list(await asyncio.gather(*(p.future for p in pending)))

    def retry_after_s(self, extra_items: int = 0) -> int:
        """Seconds until the queue plus ``extra_items`` would have gone through, at the measured pace."""
        batches_ahead = math.ceil((self._depth + extra_items) / (self.max_batch * self.workers))
        return max(1, math.ceil(batches_ahead * self._last_batch_s))

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        if self._on_depth is not None:
            self._on_depth(depth)

    def _take_queued(self, batch: list[_Pending[ItemT, ResultT]]) -> bool:
        """Moves queued items into ``batch`` up to max_batch without waiting; True if it met the stop."""
        while len(batch) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return False
            if nxt is _STOP:
                return True  # everything queued before the stop still runs
            batch.append(nxt)  # type: ignore[arg-type]
        return False

    async def _wait_for_more(self, batch: list[_Pending[ItemT, ResultT]]) -> bool:
        """Waits up to max_wait for ``batch`` to fill; True if it met the stop."""
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.max_batch and not self._closing:
            try:
                async with asyncio.timeout_at(deadline):
                    nxt = await self._queue.get()  # a cancelled get leaves the queue untouched
            except TimeoutError:
                return False
            if nxt is _STOP:
                return True
            batch.append(nxt)  # type: ignore[arg-type]
        return False

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch: list[_Pending[ItemT, ResultT]] = [first]  # type: ignore[list-item]
            stopping = self._take_queued(batch)
            # The optional wait is for load only: a first item that found the worker idle goes at once.
            arrived_during_pass = batch[0].queued_at <= self._last_end
            if (
                not stopping
                and arrived_during_pass
                and self.max_wait_s > 0
                and len(batch) < self.max_batch
                and not self._closing
            ):
                stopping = await self._wait_for_more(batch)
            self._set_depth(self._depth - len(batch))
            live = [p for p in batch if not p.future.done()]  # a cancelled request's items are dropped
            if not live:
                continue
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, [p.item for p in live])
                if len(results) != len(live):
                    raise RuntimeError(
                        f"batch function returned {len(results)} results for {len(live)} items"
                    )
            except Exception as exc:
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            finally:
                elapsed = time.perf_counter() - started
                self._last_end = loop.time()
                self._last_batch_s = 0.8 * self._last_batch_s + 0.2 * elapsed
                if self._on_batch is not None:
                    self._on_batch(len(live), elapsed)
            for p, result in zip(live, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)
