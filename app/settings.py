"""Service settings, read from the environment (prefix ``TWEETEMBED_``) and validated at start.

Every limit the service enforces lives here; docs/SERVICE.md's settings table is generated from these
fields (`make docs`), so write each description for a reader of that table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Device = Literal["auto", "cpu", "cuda"]
# Pillow refuses an image over twice its MAX_IMAGE_PIXELS (89,478,485 unless changed) in Image.open.
PIL_PIXEL_LIMIT = 2 * 89_478_485


def default_torch_threads() -> int:
    """One core is left to the event loop (HTTP, JSON, validation): on 2 cores a forward pass on two
    threads fights it for the CPU (docs/BENCHMARKS.md, its sensitivity table)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else cores - 1


class SettingsError(ValueError):
    """Settings that cannot start a service; the message names the variable and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWEETEMBED_", extra="ignore", frozen=True)

    # What to serve.
    checkpoint: Path | None = Field(
        None, description="Checkpoint directory (config.json, manifest.json, heads/)."
    )
    fake_backend: bool = Field(
        False, description="Serve deterministic hash-based vectors instead of a model."
    )
    fake_delay_ms: float = Field(
        0.0,
        ge=0,
        le=60_000,
        description="Simulated forward-pass time of the fake backend (demos, shutdown tests).",
    )
    device: Device = Field("auto", description="auto picks cuda when available, else cpu.")
    fp16: bool = Field(False, description="Half-precision forward passes; only on CUDA.")
    torch_threads: int = Field(
        default_factory=default_torch_threads,
        ge=1,
        description="torch intra-op threads, set once when the model loads "
        "(default: 1 on up to 2 cores, else cores - 1).",
    )

    gil_switch_interval_ms: float = Field(
        0.5,
        gt=0,
        le=100,
        description="How long the event loop may hold the GIL while another thread of the service waits "
        "for it (Python's default is 5 ms; applied while the service runs).",
    )
    model_process: bool = Field(
        True,
        description="Run forward passes in a child process, so that they never wait for the event "
        "loop's GIL (docs/BENCHMARKS.md). 0 runs them on a thread of the service's process.",
    )
    model_processes: int = Field(
        1,
        ge=1,
        le=64,
        description="How many model processes compute forward passes side by side (with "
        "TWEETEMBED_MODEL_PROCESS), each with TWEETEMBED_TORCH_THREADS threads and its own copy of the "
        "model. For cores the forward pass's own threads use poorly; on 2 cores the event loop needs "
        "one of them, so 1 is the default (docs/BENCHMARKS.md, its sensitivity table).",
    )

    # Redis; without a URL the cache and the recent-tweet store live in process.
    redis_url: str | None = Field(None, description="redis://host:port/db for the cache and the store.")
    redis_timeout_s: float = Field(0.5, gt=0, description="Socket timeout of every Redis call.")
    redis_retry_s: float = Field(
        2.0, ge=0, description="After a Redis failure the cache is bypassed this long."
    )
    cache_enabled: bool = Field(True, description="Cache component embeddings.")
    cache_max_entries: int = Field(100_000, ge=1, description="In-process cache size (LRU).")
    cache_ttl_s: int = Field(7 * 24 * 3600, ge=1, description="Redis cache entry lifetime.")
    store_max_tweets: int = Field(100, ge=1, le=10_000, description="Recent tweets kept per user (n).")
    store_max_users: int = Field(
        100_000, ge=1, description="Users kept by the store (in process or Redis); the longest idle go first."
    )
    store_ttl_s: int = Field(
        30 * 86_400, ge=60, description="A user's stored tweets expire this long after their last append."
    )

    # Micro-batching.
    batch_max_size: int = Field(32, ge=1, le=4096, description="Most tweets in one forward pass.")
    batch_max_wait_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="Extra wait for a batch to fill, only when its first tweet arrived during a forward "
        "pass; a request to an idle worker never waits.",
    )
    queue_max: int = Field(512, ge=1, description="Tweets waiting for a forward pass; past it, 429.")
    max_inflight_requests: int | None = Field(
        None,
        ge=1,
        description="Requests in progress on the model endpoints, counted once their body is read; past "
        "it, 429 (default: four full batches, 4 x TWEETEMBED_BATCH_MAX_SIZE, at most TWEETEMBED_QUEUE_MAX).",
    )

    # Request limits.
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_batch_tweets: int = Field(64, ge=1, description="Most tweets in one request.")
    max_text_chars: int = Field(2_000, ge=1, description="Longest tweet text.")
    max_hashtags: int = Field(30, ge=0, description="Most hashtags on one tweet.")
    max_image_bytes: int = Field(5 * 1024 * 1024, ge=1, description="Largest encoded image.")
    max_image_pixels: int = Field(
        25_000_000,
        ge=1,
        le=PIL_PIXEL_LIMIT,
        description="Largest image (width x height), checked from the header before decoding "
        "(at most Pillow's own limit, which refuses larger images whatever this says).",
    )
    max_request_image_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Most pixels decoded for one request, all its images together, checked from the "
        "headers before any is decoded (a JPEG counts at the reduced scale it decodes at).",
    )
    max_k: int = Field(100, ge=1, description="Largest k for top-k endpoints.")
    body_read_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Most seconds a request body may take to arrive, from its first read; past it, 408.",
    )
    max_reading_requests: int = Field(
        256,
        ge=1,
        description="Requests whose body is still arriving (each holds up to TWEETEMBED_MAX_BODY_BYTES); "
        "past it, 429. Apart from TWEETEMBED_MAX_INFLIGHT_REQUESTS, which counts only requests read whole.",
    )

    # Security.
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer tokens (16+ characters each); when set, every endpoint but "
        "/health, /ready and the docs needs `Authorization: Bearer <key>`.",
    )

    # Server (used by `tweetembed serve`).
    graceful_shutdown_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight work may finish."
    )
    max_connections: int = Field(
        2048,
        ge=1,
        description="uvicorn's limit_concurrency: open connections (or requests in progress) past which "
        "uvicorn answers 503 itself.",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, le=3600, description="uvicorn closes a keep-alive connection idle this long."
    )
    event_loop: Literal["asyncio", "uvloop"] = Field(
        "asyncio",
        description="uvicorn's event loop. asyncio serves every connection in turn when the loop is "
        "saturated; uvloop does less work per request but, past saturation, left some connections "
        "unanswered for seconds (`make loadtest`'s overload scenario shows both).",
    )
    max_header_bytes: int = Field(
        16384,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line plus headers (h11's max_incomplete_event_size); past it, 400.",
    )

    @property
    def forward_workers(self) -> int:
        """Forward passes that can run at once: one per model process, one without them."""
        return self.model_processes if self.model_process else 1

    @property
    def inflight_limit(self) -> int:
        """max_inflight_requests, or four full batches (at most queue_max).

        An accepted request waits about inflight_limit / capacity, and a Python server does less work
        per second with more requests in progress, so the bound is a few batches: enough to ride out a
        short stall at a steady load without 429s, few enough to keep latency bounded under overload;
        one-tweet requests cannot overfill the queue (docs/HISTORY.md has
        the measurements behind the default; `make loadtest` today's).
        """
        if self.max_inflight_requests is not None:
            return self.max_inflight_requests
        return min(self.queue_max, 4 * self.batch_max_size)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_long_enough(cls, keys: list[str]) -> list[str]:
        # Short keys are guessable; refusing them at start beats discovering it in production.
        short = [k for k in keys if len(k) < 16]
        if short:
            raise ValueError(f"{len(short)} API key(s) shorter than 16 characters")
        # A header arrives as bytes read as latin-1: a key outside printable ASCII could never match.
        unusable = [k for k in keys if not all(" " <= c <= "~" for c in k)]
        if unusable:
            raise ValueError(
                f"{len(unusable)} API key(s) with characters outside printable ASCII "
                "(an HTTP header cannot carry them)"
            )
        return keys

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if not self.fake_backend:
            if self.checkpoint is None:
                raise ValueError(
                    "set TWEETEMBED_CHECKPOINT to a checkpoint directory "
                    "(or TWEETEMBED_FAKE_BACKEND=1 for a model-free development server)"
                )
            if not self.checkpoint.is_dir():
                raise ValueError(f"TWEETEMBED_CHECKPOINT: {self.checkpoint} is not a directory")
            if not (self.checkpoint / "config.json").is_file():
                raise ValueError(
                    f"TWEETEMBED_CHECKPOINT: {self.checkpoint} has no config.json "
                    "(not a `tweetembed train` output)"
                )
        if self.fp16 and self.device == "cpu":
            raise ValueError("TWEETEMBED_FP16=1 needs a CUDA device (device is cpu)")
        if self.max_image_bytes > self.max_body_bytes:
            raise ValueError("TWEETEMBED_MAX_IMAGE_BYTES cannot exceed TWEETEMBED_MAX_BODY_BYTES")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"TWEETEMBED_REDIS_URL must start with redis://, rediss:// or unix://, got {self.redis_url!r}"
            )
        return self


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus ``overrides``; a clear SettingsError instead of a traceback."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            # Field errors are named after their variable; cross-field messages name theirs already.
            lines.append(f"TWEETEMBED_{where.upper()}: {message}" if where else message)
        raise SettingsError("invalid service settings:\n  " + "\n  ".join(lines)) from None
