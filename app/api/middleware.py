"""Request-level guards and measurements that must run before FastAPI parses a body:
the body reader (size limit, read timeout, bound on readers, content type), admission control
(the engine's permit counter, app/engine/admission.py), and per-endpoint metrics.

Which route a request is for is found once, by ``RouteTable`` (a dict lookup for fixed paths, a
regex for the two templated ones), and kept in the ASGI scope for every middleware after it.

In the service, first: EarlyRefusal (429 from the headers alone when every permit is taken; the app
calls it before any middleware), then, outermost first: MetricsMiddleware, BearerAuthMiddleware,
BodyLimitMiddleware, AdmissionMiddleware (the permit, once the body is in), then FastAPI's router.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response
from app.engine.admission import Admission
from app.engine.metrics import ServiceMetrics

BODY_METHODS: frozenset[str] = frozenset({"POST", "PUT", "PATCH"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodyLimitMiddleware:
    """Reads the whole body up to ``max_bytes`` (413 past it) within ``read_timeout_s`` (408 past it)
    and replays it to the app; at most ``max_reading`` requests may be reading at once (429 past it).

    Reading it here, rather than trusting Content-Length alone, also covers chunked uploads;
    the buffer is bounded by the limit. It sits outside admission control, so a client that sends
    its body slowly holds a reading place, never an in-flight permit of the model endpoints, and
    gives the reading place back after at most ``read_timeout_s``. JSON bodies need a JSON content
    type, and multipart is accepted only on ``multipart_paths``: anything else is a 415 before any
    parsing.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        multipart_paths: frozenset[str],
        read_timeout_s: float = 10.0,
        max_reading: int = 256,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_paths = multipart_paths
        self.read_timeout_s = read_timeout_s
        self.max_reading = max_reading
        self.reading = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        if self.reading >= self.max_reading:
            retry = max(1, math.ceil(self.read_timeout_s))
            response = error_response(
                "queue_full",
                f"{self.reading} requests are sending their body, the most this service takes; "
                f"retry in {retry} s",
                headers={"Retry-After": str(retry), "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        # One event loop, no await between the check and the increment: no lock needed.
        self.reading += 1
        try:
            async with asyncio.timeout(self.read_timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            response = error_response(
                "request_timeout",
                f"the request body did not arrive within {self.read_timeout_s:g} s",
                # The rest of the body may still come: the connection cannot carry another request.
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        except _BodyTooLarge:
            await self._too_large(scope, receive, send)
            return
        finally:
            self.reading -= 1
        if body is None:  # the client went away; MetricsMiddleware counts it apart
            return
        if body:
            ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            is_json = ctype == "application/json" or (
                ctype.startswith("application/") and ctype.endswith("+json")
            )
            is_multipart = ctype == "multipart/form-data" and scope["path"] in self.multipart_paths
            if not (is_json or is_multipart):
                allowed = "application/json" + (
                    " or multipart/form-data" if scope["path"] in self.multipart_paths else ""
                )
                response = error_response(
                    "unsupported_media_type",
                    f"Content-Type {ctype or '(none)'!r} not accepted here; send {allowed}",
                )
                await response(scope, receive, send)
                return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None when the client disconnected first."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            "body_too_large",
            f"request body exceeds {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


CLIENT_CLOSED = "499"  # nginx's status for a client that went away before the answer
ROUTE_KEY = "tweetembed.route"  # the scope key RouteTable keeps its answer under


class RouteTable:
    """The app's routes, matched once per request; ``model`` names the routes admission counts."""

    def __init__(self, routes: Sequence[BaseRoute], model: Sequence[BaseRoute] = ()) -> None:
        self._fixed: dict[str, list[BaseRoute]] = {}
        self._templated: list[BaseRoute] = []
        for route in routes:
            path = getattr(route, "path", None)
            if path is None or "{" in path:
                self._templated.append(route)  # /bot-score/{user}, /users/{user}/tweets
            else:
                self._fixed.setdefault(path, []).append(route)
        self._model = {id(route) for route in model}

    def route(self, scope: Scope) -> BaseRoute | None:
        """The route that fully matches the request (path and method), matched on first use only."""
        if ROUTE_KEY not in scope:
            scope[ROUTE_KEY] = self._match(scope)
        found: BaseRoute | None = scope[ROUTE_KEY]
        return found

    def is_model(self, scope: Scope) -> bool:
        route = self.route(scope)
        return route is not None and id(route) in self._model

    def _match(self, scope: Scope) -> BaseRoute | None:
        for candidates in (self._fixed.get(scope["path"], ()), self._templated):
            for route in candidates:
                match, _ = route.matches(scope)
                if match == Match.FULL:
                    return route
        return None


def endpoint_label(routes: RouteTable, scope: Scope) -> str:
    """The metrics label of a request: its route's template (``/bot-score/{user}``), so that user ids
    never become label values; ``unmatched`` for a path no route serves."""
    route = scope.get("route") or routes.route(scope)
    return str(getattr(route, "path", None) or "unmatched")


def _queue_full(admission: Admission, close: bool) -> JSONResponse:
    retry = admission.retry_after()
    headers = {"Retry-After": str(retry)}
    if close:
        # The body is still on the wire: closing spares the server parsing it as the next request.
        headers["Connection"] = "close"
    return error_response(
        "queue_full",
        f"{admission.in_progress} requests in progress, the most this service takes; retry in {retry} s",
        headers=headers,
    )


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return _header(scope, b"transfer-encoding") is not None


class MetricsMiddleware:
    """Counts and times every request under its route template (``/bot-score/{user}``), so that
    user ids never become label values.

    A request answered before routing (a 408 or 413 while reading the body) is counted under the
    route it was for, found in ``routes``; one whose client went away before any answer is counted
    as 499, not 500, so that aborted uploads cannot set off alerts on server errors.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: RouteTable) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None
        disconnected = False
        started = time.perf_counter()

        async def receive_wrapper() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            endpoint = endpoint_label(self.routes, scope)
            label = CLIENT_CLOSED if status is None and disconnected else str(status or 500)
            self.metrics.requests.labels(endpoint, scope["method"], label).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)


class EarlyRefusal:
    """When every permit is already taken as a model request's headers arrive, 429 at once: no
    parsing, no validation, no permit taken, so a request it lets through still takes one only once its
    body is in (AdmissionMiddleware).

    It is not a middleware: the app calls it before any middleware, FastAPI's own included
    (``ServiceApp``), because under overload most requests end here and every layer a refusal passes
    through is CPU that the accepted requests on the same event loop no longer get. For the same reason
    the answer is sent as prebuilt ASGI messages, and the refusal is counted in the request metrics
    here. Auth comes after it: an overloaded service answers 429 before checking a key.

    A small body that has already arrived (the usual case: it came in the headers' packet) is drained
    first, within ``drain_s``, so that the connection stays open for the client's next request; closing
    it instead makes every refused client reconnect, and under overload the handshakes cost more than
    the refusals. A body that is large or still on the wire gets ``Connection: close``.
    """

    def __init__(
        self,
        admission: Admission,
        routes: RouteTable,
        metrics: ServiceMetrics,
        drain_bytes: int = 65_536,
        drain_s: float = 0.05,
    ) -> None:
        self.admission = admission
        self.routes = routes
        self.metrics = metrics
        self.drain_bytes = drain_bytes
        self.drain_s = drain_s
        self._answers: dict[tuple[int, int, bool], tuple[Message, Message]] = {}
        self._counters: dict[tuple[str, str], tuple[Any, Any]] = {}  # prometheus' children, per route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """True when it has answered the request (429), which then goes no further."""
        if not self.admission.full or scope["type"] != "http" or not self.routes.is_model(scope):
            return False
        started = time.perf_counter()
        self.admission.refused()
        close = _has_body(scope) and not await self._drained(scope, receive)
        head, body = self._answer(close)
        await send(head)
        await send(body)
        count, latency = self._counted(scope)
        count.inc()
        latency.observe(time.perf_counter() - started)
        return True

    def _counted(self, scope: Scope) -> tuple[Any, Any]:
        """The request counter (status 429) and latency histogram of the request's route."""
        endpoint = endpoint_label(self.routes, scope)
        key = (endpoint, str(scope["method"]))
        found = self._counters.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(endpoint, key[1], "429"),
                self.metrics.latency.labels(endpoint),
            )
            self._counters[key] = found
        return found

    def _answer(self, close: bool) -> tuple[Message, Message]:
        """The 429's two ASGI messages, built once per (in progress, Retry-After, close)."""
        in_progress, retry = self.admission.in_progress, self.admission.retry_after()
        key = (in_progress, retry, close)
        answer = self._answers.get(key)
        if answer is None:
            if len(self._answers) > 256:  # bounded: the key takes few values, but never trust that
                self._answers.clear()
            response = _queue_full(self.admission, close=close)
            head: Message = {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
            answer = (head, {"type": "http.response.body", "body": bytes(response.body)})
            self._answers[key] = answer
        return answer

    async def _drained(self, scope: Scope, receive: Receive) -> bool:
        """Whether the whole body (announced small) was read within ``drain_s``."""
        length = _header(scope, b"content-length")
        if length is None or not length.isdigit() or int(length) > self.drain_bytes:
            return False
        size = 0
        try:
            async with asyncio.timeout(self.drain_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return False
                    size += len(message.get("body", b""))
                    if size > self.drain_bytes:
                        return False
                    if not message.get("more_body", False):
                        return True
        except TimeoutError:
            return False


class AdmissionMiddleware:
    """Holds one of the engine's permits (app/engine/admission.py) for each request to a model
    endpoint while the app answers it; 429 (``queue_full``, with Retry-After) when none is free.

    In the service it sits inside BodyLimitMiddleware: a permit is taken once the body is in, so a
    client that sends its body slowly (or never) cannot hold one; reading has its own bound there.
    Requests to other endpoints (/health, /metrics, ...) are not counted.
    """

    def __init__(self, app: ASGIApp, admission: Admission, routes: RouteTable) -> None:
        self.app = app
        self.admission = admission
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.routes.is_model(scope):
            await self.app(scope, receive, send)
            return
        if not self.admission.try_acquire():
            await _queue_full(self.admission, close=False)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release()
