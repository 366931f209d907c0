"""Admission control: past TWEETEMBED_MAX_INFLIGHT_REQUESTS, model endpoints answer 429 at once,
before the app parses the body, while the accepted requests go on and the service recovers right
after. (In the service the body reader runs first, so that slow uploads hold no permit:
tests/e2e/test_app_slow_clients.py; with every permit already taken as the headers arrive, the body is
not read at all.)"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.api.middleware import AdmissionMiddleware, RouteTable
from app.engine.admission import Admission
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


async def test_the_default_bound_is_four_batches_at_most_the_queue() -> None:
    # Four, not two: at 80% of capacity two batches' worth of permits turned short stalls into 429s.
    assert Settings(fake_backend=True).inflight_limit == 4 * 32
    assert Settings(fake_backend=True, batch_max_size=8).inflight_limit == 32
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

    embed_route = Route("/embed", embed_endpoint, methods=["POST"])
    admission = Admission(limit=1, retry_after_s=lambda n: 7)
    gate = AdmissionMiddleware(inner, admission, RouteTable([embed_route], model=[embed_route]))

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
    assert admission.in_progress == 1

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
    assert reached == ["/embed", "/metrics"] and admission.in_progress == 1

    release.set()
    await asyncio.gather(first, other)
    assert first_sent[0]["status"] == 200 and other_sent[0]["status"] == 200
    assert admission.in_progress == 0


def _http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _answer(app: Any, scope: Scope, body: bytes | None = None) -> list[Message]:
    """The app's answer to a request whose ``body`` is all there at once, or (None) never arrives
    (a read would wait for ever)."""
    sent: list[Message] = []
    given = False

    async def receive() -> Message:
        nonlocal given
        if body is not None and not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    async with asyncio.timeout(2):
        await app(scope, receive, send)
    return sent


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON request whose whole ``body`` arrived with them."""
    return [(b"host", b"x"), (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]


async def test_with_every_permit_taken_a_request_is_refused_before_its_body_is_read() -> None:
    backend = FakeBackend(delay_s=0.5)
    async with running_app(backend, cache_enabled=False, max_inflight_requests=1) as (app, client):
        busy = asyncio.create_task(client.post("/embed", json={"tweet": {"id": 1, "text": "holds it"}}))
        while not backend.batch_sizes:  # in its forward pass, so holding the one permit
            await asyncio.sleep(0.005)
        headers = [(b"host", b"x"), (b"content-type", b"application/json"), (b"content-length", b"100")]
        started = time.perf_counter()
        sent = await _answer(app, _http_scope("POST", "/embed", headers))
        assert time.perf_counter() - started < 0.25  # not after the busy request's forward pass
        start = sent[0]
        assert start["status"] == 429
        answer_headers: dict[bytes, bytes] = dict(start["headers"])
        assert answer_headers[b"connection"] == b"close"  # the unread body must not be parsed
        assert int(answer_headers[b"retry-after"]) >= 1
        assert json.loads(sent[1]["body"])["error"]["type"] == "queue_full"
        # A small body already in is drained instead: the refused client keeps its connection.
        body = b'{"tweet": {"id": 2, "text": "arrived with its headers"}}'
        sent = await _answer(app, _http_scope("POST", "/embed", _json_headers(body)), body=body)
        assert sent[0]["status"] == 429 and b"connection" not in dict(sent[0]["headers"])
        # A templated model endpoint without a body is refused the same way, and keeps its connection.
        sent = await _answer(app, _http_scope("GET", "/bot-score/alice", [(b"host", b"x")]))
        assert sent[0]["status"] == 429 and b"connection" not in dict(sent[0]["headers"])
        admission = app.state.service.admission
        assert admission.in_progress == 1  # the refusals took nothing
        assert (await busy).status_code == 200
        assert admission.in_progress == 0
        metrics = (await client.get("/metrics")).text
        assert 'tweetembed_requests_total{endpoint="/embed",method="POST",status="429"} 2.0' in metrics
        assert 'endpoint="/bot-score/{user}",method="GET",status="429"} 1.0' in metrics
        assert "tweetembed_queue_rejections_total 3.0" in metrics


async def test_a_refusal_with_every_permit_taken_enters_no_middleware() -> None:
    # Under overload most requests are refused, on the event loop the accepted ones need: a refusal
    # must not pass through the middleware stack (metrics, auth, FastAPI's own layers) to be answered.
    async with running_app(cache_enabled=False, api_keys=["k" * 16]) as (app, client):
        admission = app.state.service.admission
        admission._in_progress = admission.limit  # every permit taken

        async def no_middleware(scope: Scope, receive: Receive, send: Send) -> None:
            raise AssertionError("the refusal entered the middleware stack")

        stack, app.middleware_stack = app.middleware_stack, no_middleware
        try:
            body = b'{"tweet": {"id": 1, "text": "refused"}}'
            sent = await _answer(app, _http_scope("POST", "/embed", _json_headers(body)), body=body)
        finally:
            app.middleware_stack = stack
            admission._in_progress = 0
        # 429 before the key is checked: an overloaded service does not spend work on auth first.
        assert sent[0]["status"] == 429
        assert json.loads(sent[1]["body"])["error"]["type"] == "queue_full"
        metrics = (await client.get("/metrics", headers={"Authorization": "Bearer " + "k" * 16})).text
        assert 'tweetembed_requests_total{endpoint="/embed",method="POST",status="429"} 1.0' in metrics
