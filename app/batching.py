"""Continuous micro-batching: concurrent requests share one forward pass.

Items wait in a bounded FIFO. The dispatch loop runs on the forward worker thread itself, not on the
event loop: when a pass ends, the next one starts with whatever is queued, without waiting for the
event loop to get round to it. (With the loop doing the dispatching, a loop busy parsing and answering
requests left the worker idle between passes: small model, single-tweet requests arriving at 1,500/s
on 2 cores, the worker's passes took 8x their in-process time and the model process sat idle 72% of
the time.) An idle worker dispatches whatever is queued at once (a lone request never waits for
company); while a forward pass runs, new items accumulate, and the next batch takes everything queued,
up to ``max_batch``. So batches grow with load by themselves. ``max_wait_ms`` (default 0) is an
optional extra wait for a batch to fill, used only under load: when the batch's first item arrived
while a forward pass was running and the batch is not yet full. Each item has its own future, resolved
on the event loop, so results return in order. When the queue is full the caller gets QueueFullError
(a 429 with Retry-After) instead of unbounded latency.

The same thread also runs ``call(fn)`` jobs between batches: loading the model there keeps any
per-thread state of its threading library on the thread that runs the forward passes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
T = TypeVar("T")

log = logging.getLogger(__name__)


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
    queued_at: float  # time.monotonic() at submit


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


_STOP = object()


class MicroBatcher(Generic[ItemT, ResultT]):
    def __init__(
        self,
        run_batch: Callable[[list[ItemT]], Sequence[ResultT]],
        executor: Executor,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        max_queue: int = 512,
        on_batch: Callable[[int, float], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ) -> None:
        """``executor`` lends the worker thread: the dispatch loop occupies one of its threads until
        ``close()``, so give it an executor of its own (one thread)."""
        self._run_batch = run_batch
        self._executor = executor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._queue: queue.SimpleQueue[_Pending[ItemT, ResultT] | _Job | object] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _depth, changed by the loop (submit) and the worker
        self._depth = 0  # items waiting, not yet taken into a batch
        self._closing = False
        self._last_batch_s = 0.05  # running estimate of one batch's duration, for Retry-After
        self._last_end = -math.inf  # time.monotonic() when the last forward pass finished
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Future[None] | None = None

    @property
    def depth(self) -> int:
        return self._depth

    def start(self) -> None:
        if self._worker is None:
            self._loop = asyncio.get_running_loop()
            self._worker = self._loop.run_in_executor(self._executor, self._work)

    async def close(self) -> None:
        """Refuse new items, finish everything already queued, then stop the worker."""
        self._closing = True
        if self._worker is not None:
            self._queue.put(_STOP)
            await self._worker
            self._worker = None

    async def submit(self, items: Sequence[ItemT]) -> list[ResultT]:
        """Results for ``items`` in order; all of a request's items are admitted or none are."""
        if self._closing:
            raise BatcherClosedError("the service is shutting down")
        if self._worker is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        pending = [_Pending[ItemT, ResultT](item, loop.create_future(), now) for item in items]
        with self._lock:
            if self._depth + len(items) > self.max_queue:
                raise QueueFullError(self.retry_after_s())
            self._depth += len(pending)
            depth = self._depth
        for p in pending:
            self._queue.put(p)
        self._report_depth(depth)
        return list(await asyncio.gather(*(p.future for p in pending)))

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread, between two batches."""
        if self._worker is None or self._loop is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(fn, future))
        return await future

    def retry_after_s(self, extra_items: int = 0) -> int:
        """Seconds until the queue plus ``extra_items`` would have gone through, at the measured pace."""
        batches_ahead = math.ceil((self._depth + extra_items) / self.max_batch)
        return max(1, math.ceil(batches_ahead * self._last_batch_s))

    # --- the worker thread ---------------------------------------------------------------------
    def _report_depth(self, depth: int) -> None:
        if self._on_depth is not None:
            self._on_depth(depth)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        """Hand ``fn(*args)`` to the event loop (futures are only touched there)."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.debug("event loop closed; dropping a batch's results")

    def _take_queued(self, batch: list[_Pending[ItemT, ResultT]], jobs: list[_Job]) -> bool:
        """Moves queued items into ``batch`` up to max_batch without waiting (jobs aside into ``jobs``);
        True if it met the stop."""
        while len(batch) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return False
            if nxt is _STOP:
                return True  # everything queued before the stop still runs
            if isinstance(nxt, _Job):
                jobs.append(nxt)
            else:
                batch.append(nxt)  # type: ignore[arg-type]
        return False

    def _wait_for_more(self, batch: list[_Pending[ItemT, ResultT]], jobs: list[_Job]) -> bool:
        """Waits up to max_wait for ``batch`` to fill; True if it met the stop."""
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                nxt = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if nxt is _STOP:
                return True
            if isinstance(nxt, _Job):
                jobs.append(nxt)
            else:
                batch.append(nxt)  # type: ignore[arg-type]
        return False

    def _run_job(self, job: _Job) -> None:
        try:
            value = job.fn()
        except BaseException as exc:  # handed to the caller, whatever it is
            self._post(_settle, job.future, None, exc)
        else:
            self._post(_settle, job.future, value, None)

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            if isinstance(first, _Job):
                self._run_job(first)
                continue
            batch: list[_Pending[ItemT, ResultT]] = [first]  # type: ignore[list-item]
            jobs: list[_Job] = []
            stopping = self._take_queued(batch, jobs)
            # The optional wait is for load only: a first item that found the worker idle goes at once.
            arrived_during_pass = batch[0].queued_at <= self._last_end
            if (
                not stopping
                and arrived_during_pass
                and self.max_wait_s > 0
                and len(batch) < self.max_batch
                and not self._closing
            ):
                stopping = self._wait_for_more(batch, jobs)
            with self._lock:
                self._depth -= len(batch)
                depth = self._depth
            self._report_depth(depth)
            # A cancelled request's items are dropped (a benign race: _deliver checks again on the loop).
            live = [p for p in batch if not p.future.done()]
            if live:
                self._run(live)
            for job in jobs:
                self._run_job(job)

    def _run(self, live: list[_Pending[ItemT, ResultT]]) -> None:
        started = time.perf_counter()
        try:
            results = self._run_batch([p.item for p in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(live)} items")
        except Exception as exc:
            self._post(_deliver, [p.future for p in live], None, exc)
        else:
            self._post(_deliver, [p.future for p in live], list(results), None)
        finally:
            elapsed = time.perf_counter() - started
            self._last_end = time.monotonic()
            self._last_batch_s = 0.8 * self._last_batch_s + 0.2 * elapsed
            if self._on_batch is not None:
                try:
                    self._on_batch(len(live), elapsed)
                except Exception:  # metrics must never stop the worker
                    log.exception("on_batch callback failed")


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


def _deliver(
    futures: list[asyncio.Future[Any]], results: list[Any] | None, exc: BaseException | None
) -> None:
    for i, future in enumerate(futures):
        _settle(future, None if results is None else results[i], exc)
