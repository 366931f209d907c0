"""The forward pass in a process of its own, so that it never waits for the event loop's GIL.

Why: a torch forward pass is hundreds of operator calls, and the calling thread takes the GIL back
between every two of them. In the service's process that thread competes with the event loop, which
parses and answers requests in Python and gives the GIL up only when it blocks or every switch
interval (5 ms), so the same forward pass takes longer beside a busy event loop (docs/HISTORY.md has
the measurement; docs/BENCHMARKS.md today's figures). A child process has a GIL of its own; only
tweets go in and arrays come out (a pipe, pickled).

``RemoteEmbedder`` stands in for ``model.embedder.TweetEmbedder`` where the backend uses it (``embed``,
``embed_texts``, ``config``, ``device``, ``checkpoint_digest``). Calls are serialised by a lock: the
forward thread and the heads thread (profile texts) share one pipe.

``ModelProcessPool`` is the same interface over several such processes, each call on whichever is idle.
Why: torch's intra-op threads meet at a barrier after every operator, so a second thread in one process
gains less than a second process; single-threaded processes never wait for each other (docs/BENCHMARKS.md, its
sensitivity table).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.backend import BackendUnavailableError
from model.config import ModelConfig
from model.embedding_batch import EmbeddingBatch
from model.record import Tweet

log = logging.getLogger(__name__)


class ModelProcessError(BackendUnavailableError):
    """The model process failed to start, or died."""


def _serve(conn: Connection, path: str, device: str, fp16: bool, torch_threads: int | None) -> None:
    """The child's loop: load once, then answer (method, args) messages until the pipe closes."""
    # The parent decides when to stop (after draining its queue): a Ctrl-C or SIGTERM sent to the
    # whole process group must not kill the forward pass under requests still in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        import torch

        from app.engine.gc_freeze import freeze_startup_objects
        from app.engine.model_backend import apply_torch_threads
        from model.embedder import TweetEmbedder

        if torch_threads is not None:
            apply_torch_threads(torch_threads)
        embedder = TweetEmbedder.load(Path(path), device=device, fp16=fp16)
        freeze_startup_objects()  # a full collection here would stall the forward pass the same way
        conn.send(
            (
                "ready",
                {
                    "config": embedder.config.to_json(),
                    "device": str(embedder.device),
                    "fp16": bool(embedder.fp16),
                    "checkpoint_digest": embedder.checkpoint_digest,
                    "torch_threads": int(torch.get_num_threads()),
                },
            )
        )
    except BaseException as exc:  # whatever failed is reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or died
            return
        try:
            if method == "embed":
                out = embedder.embed(*args)
                conn.send(("ok", (out.components, out.present, out.average)))
            elif method == "embed_texts":
                conn.send(("ok", embedder.embed_texts(*args)))
            else:
                conn.send(("error", f"unknown method {method!r}"))
        except Exception as exc:  # one bad batch must not end the process
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RemoteEmbedder:
    """A TweetEmbedder running in a child process (spawned, so no torch state is inherited)."""

    def __init__(
        self,
        path: Path,
        device: str = "auto",
        fp16: bool = False,
        torch_threads: int | None = None,
        wait: bool = True,
    ) -> None:
        """Starts the process; with ``wait`` (else call ``wait_ready``) blocks until the model is loaded."""
        context = multiprocessing.get_context("spawn")
        self.path = path
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, str(path), device, fp16, torch_threads),
            name="tweetembed-model",
            daemon=True,  # never outlives the service, whatever kills it
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        status, info = self._receive()
        if status != "ready":
            self.close()
            raise ModelProcessError(f"the model process could not load {self.path}: {info}")
        self.config = ModelConfig.from_json(info["config"])
        self.device: str = info["device"]
        self.fp16: bool = info["fp16"]
        self.checkpoint_digest: str = info["checkpoint_digest"]
        self.torch_threads: int = info["torch_threads"]

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _receive(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise ModelProcessError(f"the model process exited (exit code {self._process.exitcode})") from exc
        return message

    def _call(self, method: str, *args: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((method, args))
            except (BrokenPipeError, OSError) as exc:
                raise ModelProcessError(
                    f"the model process exited (exit code {self._process.exitcode})"
                ) from exc
            status, value = self._receive()
        if status != "ok":
            raise ModelProcessError(f"model process: {value}")
        return value

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        components, present, average = self._call("embed", list(tweets), list(images))
        return EmbeddingBatch(components=components, present=present, average=average)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out: np.ndarray = self._call("embed_texts", list(texts))
        return out

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the pipe (the child's loop ends at once when idle) and wait for the process."""
        with self._lock:
            self._conn.close()
        self._process.join(timeout_s)
        if self._process.is_alive():
            log.warning("model process still running after %.0f s; terminating it", timeout_s)
            self._process.terminate()
            self._process.join(timeout_s)


class ModelProcessPool:
    """``processes`` model processes behind the RemoteEmbedder interface; a call takes an idle one.

    The service runs one micro-batch worker per process, so every process has a batch to compute while
    the others compute theirs. Started side by side: cold start is one load, not ``processes`` loads."""

    def __init__(
        self,
        path: Path,
        processes: int,
        device: str = "auto",
        fp16: bool = False,
        torch_threads: int | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.members: list[RemoteEmbedder] = []
        try:
            for _ in range(processes):
                self.members.append(RemoteEmbedder(path, device, fp16, torch_threads, wait=False))
            for member in self.members:
                member.wait_ready()
        except BaseException:
            self.close()
            raise
        first = self.members[0]
        self.config = first.config
        self.device = first.device
        self.fp16 = first.fp16
        self.checkpoint_digest = first.checkpoint_digest
        self.torch_threads = first.torch_threads
        self._idle: queue.SimpleQueue[RemoteEmbedder] = queue.SimpleQueue()
        for member in self.members:
            self._idle.put(member)

    @property
    def processes(self) -> int:
        return len(self.members)

    def _run(self, method: str, *args: Any) -> Any:
        member = self._idle.get()  # blocks only when every process is busy
        try:
            return getattr(member, method)(*args)
        finally:
            self._idle.put(member)

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        result: EmbeddingBatch = self._run("embed", tweets, images)
        return result

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        result: np.ndarray = self._run("embed_texts", texts)
        return result

    @property
    def alive(self) -> bool:
        """False as soon as any process has died: the service is then degraded, and /ready says so."""
        return all(member.alive for member in self.members)

    def close(self, timeout_s: float = 10.0) -> None:
        for member in self.members:  # closing one already closed (a failed start) is harmless
            member.close(timeout_s)
