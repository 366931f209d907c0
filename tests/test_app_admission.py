"""Admission control: past TWEETEMBED_MAX_INFLIGHT_REQUESTS, model endpoints answer 429 at once,
before the app parses the body, while the accepted requests go on and the service recovers right
after. (In the service the body reader runs first, so that slow uploads hold no permit:
tests/test_app_slow_clients.py.)"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.api.middleware import AdmissionMiddleware
from app.engine.fake_backend import FakeBackend
from app.settings import Settings
from tests.app_fixtures import error_of, running_app

pytestmark = pytest.mark.asyncio


async def _timed(client: httpx.AsyncClient, i: int) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post("/embed", json={"tweet": {"id": i, "text": f"flood tweet {i}"}})
    return response, time.perf_counter() - started


async def test_flood_gets_immediate_429s_no_5xx_and_recovers() -> None:
    backend = FakeBackend(delay_s=0.3)
    async with running_app(backend, cache_enabled=False, max_inflight_requests=4) as (_, client):
        flood = asyncio.gather(*(_timed(client, i) for i in range(24)))
        await asyncio.sleep(0.05)
        health = await client.get("/health")  # not a model endpoint: never refused
        outcomes = await flood
        statuses = [r.status_code for r, _ in outcomes]
        assert set(statuses) <= {200, 429}, statuses
        accepted = [took for r, took in outcomes if r.status_code == 200]
        refused = [(r, took) for r, took in outcomes if r.status_code == 429]
        assert len(accepted) == 4 and len(refused) == 20, statuses
        assert health.status_code == 200
        for response, took in refused:
            assert error_of(response)["type"] == "queue_full"
            assert int(response.headers["retry-after"]) >= 1
            assert took < 0.25, took  # answered at the door, not after a 0.3 s forward pass
        assert min(accepted) >= 0.3  # the accepted ones really went through the slow backend
        assert sum(backend.batch_sizes) == 4

        after = await client.post("/embed", json={"tweet": {"id": "next", "text": "right after"}})
        assert after.status_code == 200 and after.json()["results"][0]["id"] == "next"
        metrics = (await client.get("/metrics")).text
        assert "tweetembed_model_requests_in_progress 0.0" in metrics
        assert "tweetembed_queue_rejections_total 20.0" in metrics
        # refusals are counted under their endpoint, not as unmatched routes
        assert 'tweetembed_requests_total{endpoint="/embed",method="POST",status="429"} 20.0' in metrics
        info = (await client.get("/info")).json()
        assert info["limits"]["max_inflight_requests"] == 4


async def test_the_default_bound_is_two_batches_at_most_the_queue() -> None:
    assert Settings(fake_backend=True).inflight_limit == 2 * 32  # two full batches
    assert Settings(fake_backend=True, batch_max_size=8).inflight_limit == 16
    assert Settings(fake_backend=True, queue_max=50).inflight_limit == 50
    assert Settings(fake_backend=True, queue_max=77, max_inflight_requests=500).inflight_limit == 500


async def test_admission_refuses_before_reading_the_body() -> None:
    release = asyncio.Event()
    reached: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await receive()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def embed_endpoint() -> None:  # only its route matters here
        raise AssertionError("not called")

    gate = AdmissionMiddleware(
        inner, routes=[Route("/embed", embed_endpoint, methods=["POST"])], limit=1, retry_after_s=lambda n: 7
    )

    def scope(path: str, method: str = "POST") -> Scope:
        return {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
        }

    async def body() -> Message:
        return {"type": "http.request", "body": b'{"tweet": {"id": 1, "text": "x"}}', "more_body": False}

    async def unread() -> Message:
        raise AssertionError("the refused request's body was read")

    def collector() -> tuple[list[Message], Send]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        return sent, send

    first_sent, first_send = collector()
    first = asyncio.create_task(gate(scope("/embed"), body, first_send))
    await asyncio.sleep(0.01)
    assert gate.in_progress == 1

    refused_sent, refused_send = collector()
    await gate(scope("/embed"), unread, refused_send)
    start = refused_sent[0]
    assert start["status"] == 429
    headers: dict[bytes, bytes] = dict(start["headers"])
    assert headers[b"retry-after"] == b"7"
    error: dict[str, Any] = json.loads(refused_sent[1]["body"])
    assert set(error) == {"error"} and error["error"]["type"] == "queue_full"

    other_sent, other_send = collector()
    other = asyncio.create_task(gate(scope("/metrics", "GET"), body, other_send))  # not counted
    await asyncio.sleep(0.01)
    assert reached == ["/embed", "/metrics"] and gate.in_progress == 1

    release.set()
    await asyncio.gather(first, other)
    assert first_sent[0]["status"] == 200 and other_sent[0]["status"] == 200
    assert gate.in_progress == 0
