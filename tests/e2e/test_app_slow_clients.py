"""Slow and aborted uploads against a real `tweetembed serve` process (fake backend): a client that
never finishes its body holds neither an in-flight permit nor its connection for long, is answered
408 in the error shape, and one that goes away is counted as 499, not 500."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from bench.service_proc import free_port
from tests.app_fixtures import start_serve, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT_S = 3.0
STALLED_HEAD = (
    b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TWEETEMBED_BODY_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
        "TWEETEMBED_CACHE_ENABLED": "0",
    }
    proc = start_serve(["--fake", "--port", str(port), "--log-level", "warning"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, base, 60)
        yield base, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _stall(port: int, n: int) -> list[socket.socket]:
    sockets = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S + 10)
        sock.sendall(STALLED_HEAD)
        sockets.append(sock)
    return sockets


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _wait_metric(base: str, endpoint: str, status: str, want: float) -> float:
    # The count is taken once the answer is sent: it may trail the client by a moment.
    deadline = time.monotonic() + 5
    while (got := _metric(base, endpoint, status)) < want and time.monotonic() < deadline:
        time.sleep(0.1)
    return got


def _metric(base: str, endpoint: str, status: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    prefix = f'tweetembed_requests_total{{endpoint="{endpoint}",method="POST",status="{status}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


@pytest.mark.slow
def test_stalled_uploads_do_not_starve_the_model_endpoints(served: tuple[str, int]) -> None:
    base, port = served
    stalled = _stall(port, 200)
    try:
        time.sleep(0.5)  # every stalled request is now waiting for its body
        tweet = {"tweet": {"id": "1", "text": "still served"}}
        for path in ("/embed", "/recommend-hashtags", "/v1/embeddings"):
            body = {"input": "still served"} if path == "/v1/embeddings" else tweet
            started = time.perf_counter()
            response = httpx.post(f"{base}{path}", json=body, timeout=5)
            took = time.perf_counter() - started
            assert response.status_code == 200, (path, response.status_code, response.text)
            assert took < 1.0, (path, took)
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.slow
def test_a_body_that_never_arrives_gets_408_and_the_connection_closes(served: tuple[str, int]) -> None:
    base, port = served
    before = _metric(base, "/embed", "408")
    (sock,) = _stall(port, 1)
    started = time.perf_counter()
    with sock:
        raw = _read_response(sock)
    took = time.perf_counter() - started
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), raw[:200]
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["type"] == "request_timeout" and f"{READ_TIMEOUT_S:g} s" in error["message"]
    assert READ_TIMEOUT_S - 0.5 < took < READ_TIMEOUT_S + 3, took  # closed by the server, not our timeout
    assert _wait_metric(base, "/embed", "408", before + 1) == before + 1


@pytest.mark.slow
def test_an_aborted_upload_is_counted_as_499_not_500(served: tuple[str, int]) -> None:
    base, port = served
    before = _metric(base, "/embed", "499")
    for sock in _stall(port, 3):
        sock.close()
    assert _wait_metric(base, "/embed", "499", before + 3) == before + 3
    text = httpx.get(f"{base}/metrics", timeout=5).text
    assert 'status="500"' not in text


def test_uvicorn_limits_come_from_settings() -> None:
    from app.cli import uvicorn_limits

    settings = Settings(fake_backend=True, max_connections=300, keep_alive_timeout_s=2, max_header_bytes=8192)
    assert uvicorn_limits(settings) == {
        "loop": "asyncio",  # uvloop left some connections unanswered for seconds under overload
        "limit_concurrency": 300,
        "timeout_keep_alive": 2,
        "h11_max_incomplete_event_size": 8192,
    }


@pytest.mark.asyncio
async def test_past_the_reading_bound_a_new_upload_gets_429_and_a_timeout_frees_its_place() -> None:
    import asyncio

    from starlette.types import Message, Receive, Scope, Send

    from app.api.middleware import BodyLimitMiddleware

    reached: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        reached.append(message["body"])

    reader = BodyLimitMiddleware(
        app, max_bytes=1024, multipart_paths=frozenset(), read_timeout_s=0.3, max_reading=1
    )
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/embed",
        "headers": [(b"content-type", b"application/json")],
    }

    async def never() -> Message:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def whole() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    def collector() -> tuple[list[Message], Send]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        return sent, send

    stalled_sent, stalled_send = collector()
    stalled = asyncio.create_task(reader(dict(scope), never, stalled_send))
    await asyncio.sleep(0.05)
    assert reader.reading == 1
    refused_sent, refused_send = collector()
    await reader(dict(scope), whole, refused_send)
    assert refused_sent[0]["status"] == 429 and b'"queue_full"' in refused_sent[1]["body"]
    await stalled  # the read timeout answers it
    assert stalled_sent[0]["status"] == 408 and reader.reading == 0
    _, ok_send = collector()
    await reader(dict(scope), whole, ok_send)
    assert reached == [b"{}"]
