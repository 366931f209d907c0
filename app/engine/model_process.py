"""The forward pass in a process of its own, so that it never waits for the event loop's GIL.

Why: a torch forward pass is hundreds of operator calls, and the calling thread takes the GIL back
between every two of them. In the service's process that thread competes with the event loop, which
parses and answers requests in Python and gives the GIL up only when it blocks or every switch
interval (5 ms), so the same forward pass takes longer beside a busy event loop (docs/HISTORY.md has
the measurement; docs/BENCHMARKS.md today's figures). A child process has a GIL of its own; only
tweets go in and arrays come out (a pipe, pickled).

``RemoteEmbedder`` stands in for ``model.embedder.TweetEmbedder``: both satisfy the ``Embedder``
protocol (app/engine/backend.py). A call is a typed message (``EmbedCall``, ``EmbedTextsCall``), its
answer the EmbeddingBatch or array itself. Calls are serialised by a lock: the forward thread and the
heads thread (profile texts) share one pipe. The checkpoint arrives verified: the child does not hash it.

``ModelProcessPool`` is the same interface over several such processes, each call on whichever is idle.
Why: torch's intra-op threads meet at a barrier after every operator, so a second thread in one process
gains less than a second process; single-threaded processes never wait for each other (docs/BENCHMARKS.md, its
sensitivity table).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.engine.errors import BackendUnavailableError
from model.config import ModelConfig
from model.embedding_batch import EmbeddingBatch
from model.record import Tweet

if TYPE_CHECKING:
    from model.checkpoint import VerifiedCheckpoint
    from model.embedder import TweetEmbedder

log = logging.getLogger(__name__)


class ModelProcessError(BackendUnavailableError):
    """The model process failed to start, or died."""


@dataclass(frozen=True)
class EmbedCall:
    tweets: list[Tweet]
    images: list[np.ndarray | None]


@dataclass(frozen=True)
class EmbedTextsCall:
    texts: list[str]


@dataclass(frozen=True)
class ChildInfo:
    """What the child reports once its model is loaded."""

    config: dict[str, Any]
    device: str
    fp16: bool
    torch_threads: int


def verified(checkpoint: Path | VerifiedCheckpoint) -> VerifiedCheckpoint:
    """The checkpoint verified here, in the parent (once for all its model processes)."""
    from model.checkpoint import CheckpointError, verify_checkpoint

    try:
        return verify_checkpoint(checkpoint)
    except CheckpointError as exc:
        path = getattr(checkpoint, "path", checkpoint)
        raise ModelProcessError(f"the model process could not load {path}: CheckpointError: {exc}") from exc


def _answer(embedder: TweetEmbedder, call: EmbedCall | EmbedTextsCall) -> EmbeddingBatch | np.ndarray:
    if isinstance(call, EmbedCall):
        return embedder.embed(call.tweets, call.images)
    return embedder.embed_texts(call.texts)


def _serve(
    conn: Connection, checkpoint: VerifiedCheckpoint, device: str, fp16: bool, torch_threads: int | None
) -> None:
    """The child's loop: load once, then answer calls until the pipe closes."""
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
        # Verified by the parent: the child reads the files without hashing them again.
        embedder = TweetEmbedder.load(checkpoint, device=device, fp16=fp16)
        freeze_startup_objects()  # a full collection here would stall the forward pass the same way
        info = ChildInfo(
            embedder.config.to_json(), str(embedder.device), bool(embedder.fp16), int(torch.get_num_threads())
        )
        conn.send(("ready", info))
    except BaseException as exc:  # whatever failed is reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or died
            return
        try:
            conn.send(("ok", _answer(embedder, call)))
        except Exception as exc:  # one bad batch must not end the process
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class RemoteEmbedder:
    """A TweetEmbedder running in a child process (spawned, so no torch state is inherited)."""

    def __init__(
        self,
        checkpoint: Path | VerifiedCheckpoint,
        device: str = "auto",
        fp16: bool = False,
        torch_threads: int | None = None,
        wait: bool = True,
    ) -> None:
        """Starts the process; with ``wait`` (else call ``wait_ready``) blocks until the model is loaded."""
        checkpoint = verified(checkpoint)
        context = multiprocessing.get_context("spawn")
        self.checkpoint = checkpoint
        self.path = checkpoint.path
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, checkpoint, device, fp16, torch_threads),
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
        assert isinstance(info, ChildInfo)
        self.config = ModelConfig.from_json(info.config)
        self.device: str = info.device
        self.fp16: bool = info.fp16
        self.checkpoint_digest: str = self.checkpoint.digest
        self.torch_threads: int = info.torch_threads

    @property
    def device_name(self) -> str:
        return self.device

    @property
    def processes(self) -> int:
        return 1

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _receive(self) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise ModelProcessError(f"the model process exited (exit code {self._process.exitcode})") from exc
        return message

    def _call(self, call: EmbedCall | EmbedTextsCall) -> object:
        with self._lock:
            try:
                self._conn.send(call)
            except (BrokenPipeError, OSError) as exc:
                raise ModelProcessError(
                    f"the model process exited (exit code {self._process.exitcode})"
                ) from exc
            status, value = self._receive()
        if status != "ok":
            raise ModelProcessError(f"model process: {value}")
        return value

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        out = self._call(EmbedCall(list(tweets), list(images)))
        assert isinstance(out, EmbeddingBatch)
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = self._call(EmbedTextsCall(list(texts)))
        assert isinstance(out, np.ndarray)
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
        checkpoint: Path | VerifiedCheckpoint,
        processes: int,
        device: str = "auto",
        fp16: bool = False,
        torch_threads: int | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.members: list[RemoteEmbedder] = []
        checkpoint = verified(checkpoint)
        try:
            for _ in range(processes):
                self.members.append(RemoteEmbedder(checkpoint, device, fp16, torch_threads, wait=False))
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

    @contextlib.contextmanager
    def _member(self) -> Iterator[RemoteEmbedder]:
        member = self._idle.get()  # blocks only when every process is busy
        try:
            yield member
        finally:
            self._idle.put(member)

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        with self._member() as member:
            return member.embed(tweets, images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        with self._member() as member:
            return member.embed_texts(texts)

    @property
    def device_name(self) -> str:
        return self.device

    @property
    def alive(self) -> bool:
        """False as soon as any process has died: the service is then degraded, and /ready says so."""
        return all(member.alive for member in self.members)

    def close(self, timeout_s: float = 10.0) -> None:
        for member in self.members:  # closing one already closed (a failed start) is harmless
            member.close(timeout_s)
