"""Bounded HTTP load generators on httpx.AsyncClient: closed loop (N concurrent clients) and open
loop (constant arrival rate, the latency counted from each request's scheduled send time so that a
slow server cannot hide its queueing by slowing the generator down: no coordinated omission)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import httpx

# status codes the generator itself assigns when no HTTP status came back
TIMEOUT = -1
TRANSPORT_ERROR = 0


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes | None = None  # pre-encoded JSON: encoding is not what is being measured
    method: str = "POST"


@dataclass(frozen=True)
class Outcome:
    start_s: float  # scheduled (open loop) or actual (closed loop) send time, from the run's start
    latency_s: float
    status: int  # HTTP status, TIMEOUT or TRANSPORT_ERROR


@dataclass
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)
    duration_s: float = 0.0
    not_sent: int = 0  # open loop: arrivals skipped because max_in_flight was reached

    @property
    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)

    @property
    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if 200 <= o.status < 300]

    @property
    def server_errors(self) -> int:
        return sum(1 for o in self.outcomes if o.status >= 500)

    @property
    def timeouts(self) -> int:
        return sum(1 for o in self.outcomes if o.status == TIMEOUT)

    @property
    def transport_errors(self) -> int:
        return sum(1 for o in self.outcomes if o.status == TRANSPORT_ERROR)

    @property
    def errors(self) -> int:
        """Anything but a 2xx or a 429: what a healthy service under load never answers."""
        return sum(1 for o in self.outcomes if not (200 <= o.status < 300 or o.status == 429))

    @property
    def throughput(self) -> float:
        """Successful requests per second of run time."""
        return len(self.ok) / self.duration_s if self.duration_s > 0 else 0.0

    def latency_quantile(self, q: float, statuses: Callable[[int], bool] | None = None) -> float:
        """Nearest-rank quantile of the latencies of successful requests (or those ``statuses`` keeps)."""
        keep = statuses or (lambda s: 200 <= s < 300)
        values = sorted(o.latency_s for o in self.outcomes if keep(o.status))
        if not values:
            return math.nan
        rank = max(1, math.ceil(q * len(values)))
        return values[rank - 1]

    def window(self, start_s: float, end_s: float) -> RunResult:
        """The outcomes sent within [start_s, end_s)."""
        kept = [o for o in self.outcomes if start_s <= o.start_s < end_s]
        return RunResult(kept, end_s - start_s)


class Sender(Protocol):
    async def send(self, request: Request) -> int:
        """The HTTP status of ``request``'s answer, or TIMEOUT / TRANSPORT_ERROR."""
        ...

    async def __aenter__(self) -> Sender: ...

    async def __aexit__(self, *exc: object) -> None: ...


class HttpxSender:
    """httpx.AsyncClient as a Sender (any transport, e.g. an in-process ASGI app in tests)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, request: Request) -> int:
        try:
            response = await self.client.request(request.method, request.path, content=request.body)
            await response.aread()
            return response.status_code
        except httpx.TimeoutException:
            return TIMEOUT
        except httpx.TransportError:
            return TRANSPORT_ERROR

    async def __aenter__(self) -> HttpxSender:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()


class LeanSender:
    """A keep-alive HTTP/1.1 client over asyncio streams for loopback load generation.

    On 2 cores the load generator competes with the server it measures: httpx costs ~1-2 ms of CPU
    per request here, more than the service's own cost, which would cap what the service can show.
    This client only writes a request and reads status, headers and body (~0.1 ms), and reports the
    same statuses. It speaks just what the benchmarks need (Content-Length or chunked bodies)."""

    def __init__(self, host: str, port: int, connections: int, timeout_s: float) -> None:
        self.host, self.port = host, port
        self.connections = connections
        self.timeout_s = timeout_s
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._opened = 0
        self._all: set[asyncio.StreamWriter] = set()

    async def _acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._idle.empty() and self._opened < self.connections:
            self._opened += 1
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except BaseException:
                self._opened -= 1
                raise
            self._all.add(writer)
            return reader, writer
        return await self._idle.get()

    def _discard(self, writer: asyncio.StreamWriter) -> None:
        self._opened -= 1
        self._all.discard(writer)
        writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request
    ) -> tuple[int, bool]:
        body = request.body or b""
        head = (
            f"{request.method} {request.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers.get("connection", "").lower() != "close"

    async def send(self, request: Request) -> int:
        try:
            reader, writer = await asyncio.wait_for(self._acquire(), self.timeout_s)
        except TimeoutError:
            return TIMEOUT
        except OSError:
            return TRANSPORT_ERROR
        try:
            status, keep = await asyncio.wait_for(self._exchange(reader, writer, request), self.timeout_s)
        except TimeoutError:
            self._discard(writer)
            return TIMEOUT
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            self._discard(writer)
            return TRANSPORT_ERROR
        if keep:
            self._idle.put_nowait((reader, writer))
        else:
            self._discard(writer)
        return status

    async def __aenter__(self) -> LeanSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in list(self._all):
            writer.close()
        self._all.clear()


def make_client(base_url: str, connections: int, timeout_s: float) -> Sender:
    """The load generator's client for ``base_url`` (http://127.0.0.1:PORT)."""
    url = httpx.URL(base_url)
    return LeanSender(url.host, url.port or 80, connections, timeout_s)


async def _send(client: Sender, request: Request) -> int:
    return await client.send(request)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The generator's own garbage collector is off while it loads a server: a run keeps an Outcome
    per request (100,000 and more), and each full collection walks them all, pausing the generator; an
    open loop then sends the arrivals it owes in one burst, which the server pays for in 429s and tail
    latency."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def closed_loop(
    client: Sender,
    make_request: Callable[[int], Request],
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    stop: Callable[[], bool] | None = None,
) -> RunResult:
    """``concurrency`` clients each send their next request when the last one answers, until
    ``max_requests`` were sent or ``max_seconds`` passed (both bounds always hold), or ``stop()``."""
    result = RunResult()
    counter = iter(range(max_requests))
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() >= deadline or (stop is not None and stop()):
                return
            t0 = time.perf_counter()
            status = await _send(client, make_request(i))
            result.outcomes.append(Outcome(t0 - started, time.perf_counter() - t0, status))
            if status == TRANSPORT_ERROR:
                await asyncio.sleep(0.01)  # a refused connection answers at once: do not spin on it

    with _gc_paused():
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.duration_s = time.perf_counter() - started
    return result


async def open_loop(
    client: Sender,
    make_request: Callable[[int], Request],
    rate_per_s: float | Callable[[float], float],
    duration_s: float,
    max_in_flight: int,
) -> RunResult:
    """Requests arrive at ``rate_per_s`` (a constant, or a function of the time since the start for
    phased scenarios) for ``duration_s``, whatever the answers; each outcome's latency runs from its
    scheduled arrival. At most ``max_in_flight`` are outstanding; arrivals past that are counted in
    ``not_sent`` (the generator's own limit, reported, never silently dropped)."""
    result = RunResult()
    rate = rate_per_s if callable(rate_per_s) else (lambda _t, r=float(rate_per_s): r)
    started = time.perf_counter()
    in_flight: set[asyncio.Task[None]] = set()

    async def one(i: int, scheduled: float) -> None:
        status = await _send(client, make_request(i))
        result.outcomes.append(Outcome(scheduled - started, time.perf_counter() - scheduled, status))

    with _gc_paused():
        i = 0
        offset = 0.0  # scheduled arrival, seconds since the start
        while offset < duration_s:
            # Rounded so that summing 1/rate steps does not drift across a phase boundary (40 steps of
            # 1/400 s must end exactly at 0.1 s, not one arrival later).
            current = rate(round(offset, 9))
            if current <= 0:  # a silent phase: look again in 10 ms
                offset += 0.01
                continue
            next_at = started + offset
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                result.not_sent += 1
            else:
                task = asyncio.get_running_loop().create_task(one(i, next_at))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            i += 1
            offset = round(offset + 1.0 / current, 9)
        if in_flight:
            await asyncio.gather(*in_flight)
    result.duration_s = time.perf_counter() - started
    return result
