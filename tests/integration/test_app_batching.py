"""Micro-batching: concurrent requests share forward passes, keep their order and vectors, the
queue is bounded (429 + Retry-After), and shutdown finishes what was queued."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from app.engine.batching import BatcherClosedError, MicroBatcher, QueueFullError
from app.engine.fake_backend import FakeBackend
from tests.app_fixtures import error_of, running_app

pytestmark = pytest.mark.asyncio


def _tweets(start: int, n: int) -> list[dict[str, object]]:
    return [
        {"id": i, "text": f"tweet number {i} #tag{i % 3}", "user_id": "alice" if i % 2 else "zoe"}
        for i in range(start, start + n)
    ]


async def test_concurrent_requests_are_batched_and_equal_one_by_one() -> None:
    batched_backend = FakeBackend(delay_s=0.02)
    async with running_app(batched_backend, cache_enabled=False, batch_max_size=16, batch_max_wait_ms=20) as (
        _,
        client,
    ):
        responses = await asyncio.gather(
            *(client.post("/embed", json={"tweets": _tweets(3 * r, 3)}) for r in range(8))
        )
    assert all(r.status_code == 200 for r in responses)
    assert sum(batched_backend.batch_sizes) == 24
    assert len(batched_backend.batch_sizes) < 8  # requests shared forward passes
    assert max(batched_backend.batch_sizes) > 3

    alone_backend = FakeBackend()
    async with running_app(alone_backend, cache_enabled=False, batch_max_size=1) as (_, client):
        alone = [
            (await client.post("/embed", json={"tweet": t})).json()["results"][0] for t in _tweets(0, 24)
        ]
    assert alone_backend.batch_sizes == [1] * 24

    together = [result for r in responses for result in r.json()["results"]]
    assert [t["id"] for t in together] == [str(i) for i in range(24)]  # order kept
    for a, b in zip(together, alone, strict=True):
        assert a["present"] == b["present"]
        assert np.allclose(a["average"], b["average"], atol=1e-6)
        for c in a["components"]:
            assert np.allclose(a["components"][c], b["components"][c], atol=1e-6)


async def test_a_lone_request_is_not_delayed_by_max_wait() -> None:
    # 200 ms of allowed wait: the old batcher slept all of it for every request; a continuous one sends
    # a request that finds the worker idle straight to the forward pass.
    async with running_app(FakeBackend(), cache_enabled=False, batch_max_wait_ms=200) as (_, client):
        await client.post("/embed", json={"tweet": _tweets(0, 1)[0]})  # warm-up
        took = []
        for t in _tweets(1, 5):
            started = time.perf_counter()
            response = await client.post("/embed", json={"tweet": t})
            took.append(time.perf_counter() - started)
            assert response.status_code == 200
    assert sorted(took)[len(took) // 2] < 0.1, took  # generous: a shared 2-core machine


async def test_batcher_sends_a_lone_item_at_once_and_batches_what_arrives_during_a_pass() -> None:
    sizes: list[int] = []

    def slow(items: list[int]) -> list[int]:
        sizes.append(len(items))
        time.sleep(0.15)
        return items

    with ThreadPoolExecutor(1) as pool:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            slow, pool, max_batch=8, max_wait_ms=300, max_queue=100
        )
        batcher.start()
        started = time.perf_counter()
        assert await batcher.submit([1]) == [1]
        assert time.perf_counter() - started < 0.3  # the pass alone, not the pass plus max_wait

        # While one pass runs, items accumulate; max_wait then lets the next batch wait for a late one.
        first = asyncio.create_task(batcher.submit([10]))
        await asyncio.sleep(0.05)  # the pass on [10] is running
        during = [asyncio.create_task(batcher.submit([i])) for i in (11, 12, 13)]
        await first  # the pass ended; 11-13 (arrived during it) may wait up to 300 ms for company
        await asyncio.sleep(0.05)
        late = asyncio.create_task(batcher.submit([14]))
        assert [await t for t in during] == [[11], [12], [13]] and await late == [14]
        await batcher.close()
    assert sizes == [1, 1, 4], sizes


async def test_full_queue_is_429_with_retry_after() -> None:
    backend = FakeBackend(delay_s=0.2)
    async with running_app(
        backend, cache_enabled=False, queue_max=4, batch_max_size=2, batch_max_wait_ms=0
    ) as (app, client):
        responses = await asyncio.gather(
            *(client.post("/embed", json={"tweets": _tweets(10 * r, 2)}) for r in range(8))
        )
        statuses = sorted(r.status_code for r in responses)
        assert 200 in statuses and 429 in statuses, statuses
        refused = next(r for r in responses if r.status_code == 429)
        assert error_of(refused)["type"] == "queue_full" and int(refused.headers["retry-after"]) >= 1
        metrics = (await client.get("/metrics")).text
        assert "tweetembed_queue_rejections_total" in metrics
        assert app.state.service.batcher.depth == 0


async def test_a_request_larger_than_the_queue_is_refused_whole() -> None:
    async with running_app(queue_max=3, cache_enabled=False) as (_, client):
        response = await client.post("/embed", json={"tweets": _tweets(0, 4)})
        assert response.status_code == 429


def _double(items: list[int]) -> list[int]:
    time.sleep(0.05)
    return [2 * i for i in items]


async def test_batcher_keeps_order_and_drains_on_close() -> None:
    sizes: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            _double, pool, max_batch=4, max_wait_ms=5, max_queue=100, on_batch=lambda n, _: sizes.append(n)
        )
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit(list(range(10 * k, 10 * k + 3)))) for k in range(5)]
        await asyncio.sleep(0.01)  # let every submit enqueue before shutdown begins
        await batcher.close()  # returns only once every queued item went through a batch
        assert sum(sizes) == 15 and max(sizes) <= 4
        results = await asyncio.gather(*tasks)
        assert results == [[2 * i for i in range(10 * k, 10 * k + 3)] for k in range(5)]
        with pytest.raises(BatcherClosedError):
            await batcher.submit([1])


async def test_batcher_queue_bound_and_errors_reach_every_waiter() -> None:
    gate = threading.Event()

    def blocked(items: list[int]) -> list[int]:
        gate.wait(5)
        if 13 in items:
            raise ValueError("bad item")
        return items

    with ThreadPoolExecutor(1) as pool:
        batcher: MicroBatcher[int, int] = MicroBatcher(blocked, pool, max_batch=2, max_wait_ms=0, max_queue=3)
        batcher.start()
        first = asyncio.create_task(batcher.submit([1, 2]))  # taken by the worker, blocked in the thread
        await asyncio.sleep(0.05)
        second = asyncio.create_task(batcher.submit([13, 14]))  # waits in the queue
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFullError) as refused:
            await batcher.submit([5, 6])
        assert refused.value.retry_after_s >= 1
        gate.set()
        assert await first == [1, 2]
        with pytest.raises(ValueError, match="bad item"):
            await second
        await batcher.close()


async def test_lifespan_shutdown_finishes_in_flight_requests() -> None:
    backend = FakeBackend(delay_s=0.2)
    async with running_app(backend, cache_enabled=False) as (app, client):
        pending = asyncio.create_task(client.post("/embed", json={"tweets": _tweets(0, 3)}))
        await asyncio.sleep(0.05)  # the batch is now in the forward pass
        await app.state.service.stop()  # what the lifespan runs on SIGTERM
        response = await pending
        assert response.status_code == 200 and len(response.json()["results"]) == 3
        late = await client.post("/embed", json={"tweet": {"id": 9, "text": "too late"}})
        assert late.status_code == 503 and error_of(late)["type"] == "shutting_down"


async def test_two_workers_run_two_batches_at_once_and_drain_on_close() -> None:
    # A barrier of two in the batch function only opens when two batches are in it at the same time:
    # one worker alone would time out on it.
    both_inside = threading.Barrier(2, timeout=5)
    sizes: list[int] = []

    def meet(items: list[int]) -> list[int]:
        if len(sizes) < 2:
            sizes.append(len(items))
            both_inside.wait()
        return [2 * i for i in items]

    with ThreadPoolExecutor(2) as pool:
        batcher: MicroBatcher[int, int] = MicroBatcher(meet, pool, max_batch=4, max_queue=100, workers=2)
        batcher.start()
        first = asyncio.create_task(batcher.submit([1, 2]))
        await asyncio.sleep(0.05)  # the first worker is now inside the batch function, waiting
        second = asyncio.create_task(batcher.submit([3]))
        assert await asyncio.wait_for(asyncio.gather(first, second), 10) == [[2, 4], [6]]
        rest = [asyncio.create_task(batcher.submit([10 * k])) for k in range(6)]
        await asyncio.sleep(0)
        await batcher.close()  # both workers stop, and only after everything queued went through
        assert await asyncio.gather(*rest) == [[20 * k] for k in range(6)]
    assert sizes == [2, 1]


async def test_retry_after_counts_every_worker() -> None:
    with ThreadPoolExecutor(1) as pool:
        one: MicroBatcher[int, int] = MicroBatcher(_double, pool, max_batch=4, workers=1)
        two: MicroBatcher[int, int] = MicroBatcher(_double, pool, max_batch=4, workers=2)
        for batcher in (one, two):
            batcher._last_batch_s = 1.0  # one batch a second, per worker
        assert one.retry_after_s(extra_items=16) == 4
        assert two.retry_after_s(extra_items=16) == 2
    with pytest.raises(ValueError, match="workers"):
        MicroBatcher(_double, pool, workers=0)
