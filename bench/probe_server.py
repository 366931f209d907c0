"""The real service (``app.api.factory.create_app``) with measuring probes, for the benchmarks only.

``--mode timed`` wraps the checkpoint's ModelBackend so that every call (forward pass, each head) is
timed, times each request through the whole ASGI app, and the wait between a request entering the
micro-batcher and its forward pass starting; GET /_bench/timings returns the sums and resets them.
``--mode null`` serves a backend whose forward pass returns ready-made vectors, so the process's CPU
time per request is the service's own cost: HTTP, JSON, validation, batching, serialisation.

    python -m bench.probe_server CKPT --port 8002 --mode timed
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI
from PIL import Image
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.factory import create_app
from app.engine.backend import HEAD_NAMES, Backend
from app.engine.batching import MicroBatcher
from app.settings import load_settings
from model.embedding_batch import EmbeddingBatch
from model.record import Tweet

TIMED_METHODS = ("embed", "recommend_hashtags", "predict_location", "bot_explain", "search")


class Probes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])  # name -> [seconds, count]
        self.server: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])  # path -> [seconds, count]
        self.queue = [0.0, 0]
        self.last_submit: float | None = None

    def add(self, table: dict[str, list[float]], key: str, seconds: float) -> None:
        with self.lock:
            table[key][0] += seconds
            table[key][1] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out = {"calls": dict(self.calls), "server": dict(self.server), "queue": list(self.queue)}
            self.reset()
        return out


PROBES = Probes()


def _timed(name: str, fn: Any) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PROBES.add(PROBES.calls, name, time.perf_counter() - started)

    return timed


class TimedBackend:
    """Delegates to the real backend; the methods in TIMED_METHODS are timed."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in TIMED_METHODS:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            if name == "embed" and PROBES.last_submit is not None:
                # Meaningful with one request at a time: its wait for the batch to fill.
                with PROBES.lock:
                    PROBES.queue[0] += started - PROBES.last_submit
                    PROBES.queue[1] += 1
                    PROBES.last_submit = None
            try:
                return value(*args, **kwargs)
            finally:
                PROBES.add(PROBES.calls, name, time.perf_counter() - started)

        return timed


def _patch_batcher() -> None:
    original = MicroBatcher.submit

    async def submit(self: MicroBatcher[Any, Any], items: Sequence[Any]) -> list[Any]:
        PROBES.last_submit = time.perf_counter()
        return await original(self, items)

    MicroBatcher.submit = submit  # type: ignore[method-assign]


class NullBackend:
    """Ready-made unit vectors: a forward pass that costs nothing."""

    kind = "null"

    def __init__(self, components: tuple[str, ...], dim: int) -> None:
        self.components = components
        self.dim = dim
        self.checkpoint_digest = "0" * 64
        self._row = np.full(dim, 1 / np.sqrt(dim), np.float32)  # (dim,)

    def embed(self, tweets: Sequence[Tweet], images: Sequence[Image.Image | None]) -> EmbeddingBatch:
        n = len(tweets)
        has = {
            "text": [bool(t.text) for t in tweets],
            "image": [im is not None for im in images],
            "hashtags": [bool(t.hashtags) for t in tweets],
            "location": [bool(t.place_id) for t in tweets],
            "user": [bool(t.user_id) for t in tweets],
        }
        block = np.broadcast_to(self._row, (n, self.dim)).copy()  # (N, dim)
        present = {c: np.asarray(has[c], bool) for c in self.components}  # (N,) each
        return EmbeddingBatch({c: block for c in self.components}, present, block)

    def heads_available(self) -> dict[str, bool]:
        return dict.fromkeys(HEAD_NAMES, False)

    def info(self) -> dict[str, Any]:
        return {"config": {"components": list(self.components), "dim": self.dim}, "device": "none"}

    @property
    def alive(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release."""


class ServerTiming:
    """Times each request through the whole app (the ASGI call, response sent included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_bench"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            path = scope["path"]
            key = "/bot-score" if path.startswith("/bot-score/") else path
            key = "/users/tweets" if path.startswith("/users/") else key
            PROBES.add(PROBES.server, key, time.perf_counter() - started)


def build(checkpoint: Path, mode: str) -> ASGIApp:
    settings = load_settings(checkpoint=checkpoint)
    if mode == "null":
        import json

        config = json.loads((checkpoint / "config.json").read_text())
        null = NullBackend(tuple(config["components"]), int(config["dim"]))
        app: FastAPI = create_app(settings, backend=lambda: null)
    else:
        from app.engine.model_backend import ModelBackend

        _patch_batcher()

        def load() -> Backend:
            backend = ModelBackend.load(checkpoint, device="cpu")
            # The parts the issue bounds: the hashtag FAISS search and the location forest itself.
            if backend.heads.location is not None:
                # The head predicts through its FlatForest, not the forest's own predict_proba: time
                # what the head really calls.
                flat = backend.heads.location.flat
                flat.predict_proba = _timed("forest", flat.predict_proba)  # type: ignore[method-assign]
            if backend.heads.hashtags is not None:
                hashtags = backend.heads.hashtags
                hashtags.recommend = _timed("hashtag_search", hashtags.recommend)
            return TimedBackend(backend)  # type: ignore[return-value]

        app = create_app(settings, backend=load)

    @app.get("/_bench/timings", include_in_schema=False)
    async def timings() -> dict[str, Any]:
        return PROBES.snapshot()

    return ServerTiming(app)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--mode", choices=("timed", "null"), default="timed")
    args = parser.parse_args()
    uvicorn.run(build(args.checkpoint, args.mode), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
