"""Dynamic micro-batching: concurrent requests share one forward pass.

Items wait in a bounded FIFO; a worker takes up to ``max_batch`` of them, waiting at most
``max_wait_ms`` for a batch to fill, and runs the batch function in a worker thread so the event
loop keeps accepting requests. Each item has its own future, so results return in order. When the
queue is full the caller gets QueueFullError (a 429 with Retry-After) instead of unbounded latency.
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


_STOP = object()


class MicroBatcher(Generic[ItemT, ResultT]):
    def __init__(
        self,
        run_batch: Callable[[list[ItemT]], Sequence[ResultT]],
        executor: Executor,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 512,
        on_batch: Callable[[int, float], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._queue: asyncio.Queue[_Pending[ItemT, ResultT] | object] = asyncio.Queue()
        self._depth = 0  # items waiting, not yet taken into a batch
        self._closing = False
        self._last_batch_s = 0.05  # running estimate of one batch's duration, for Retry-After
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._depth

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="micro-batcher")

    async def close(self) -> None:
        """Refuse new items, finish everything already queued, then stop the worker."""
        self._closing = True
        if self._worker is not None:
            self._queue.put_nowait(_STOP)
            await self._worker
            self._worker = None

    async def submit(self, items: Sequence[ItemT]) -> list[ResultT]:
        """Results for ``items`` in order; all of a request's items are admitted or none are."""
        if self._closing:
            raise BatcherClosedError("the service is shutting down")
        if self._worker is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self._depth + len(items) > self.max_queue:
            raise QueueFullError(self._retry_after())
        loop = asyncio.get_running_loop()
        pending = [_Pending[ItemT, ResultT](item, loop.create_future()) for item in items]
        for p in pending:
            self._queue.put_nowait(p)
        self._set_depth(self._depth + len(pending))
        return list(await asyncio.gather(*(p.future for p in pending)))

    def _retry_after(self) -> int:
        batches_ahead = math.ceil(self._depth / self.max_batch)
        return max(1, math.ceil(batches_ahead * self._last_batch_s))

    def _set_depth(self, depth: int) -> None:
        self._depth = depth
        if self._on_depth is not None:
            self._on_depth(depth)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch: list[_Pending[ItemT, ResultT]] = [first]  # type: ignore[list-item]
            # Wait for company only when the queue cannot already fill the batch.
            if self._queue.qsize() + 1 < self.max_batch and self.max_wait_s > 0 and not self._closing:
                await asyncio.sleep(self.max_wait_s)
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is _STOP:
                    stopping = True  # everything queued before the stop still runs
                    break
                batch.append(nxt)  # type: ignore[arg-type]
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
                self._last_batch_s = 0.8 * self._last_batch_s + 0.2 * elapsed
                if self._on_batch is not None:
                    self._on_batch(len(live), elapsed)
            for p, result in zip(live, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)
