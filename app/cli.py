"""`tweetembed serve`: run the HTTP service under uvicorn.

Command-line options override the TWEETEMBED_* environment; everything else (limits, batching,
API keys) is read from the environment, see docs/SERVICE.md.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from app.settings import Settings


def serve(
    checkpoint: Annotated[
        Path | None,
        typer.Argument(
            help="Checkpoint directory written by `tweetembed train` (default: $TWEETEMBED_CHECKPOINT)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 0.0.0.0 for all (set API keys then).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda (default: $TWEETEMBED_DEVICE or auto).")
    ] = None,
    fp16: Annotated[bool | None, typer.Option("--fp16/--no-fp16", help="Half precision on CUDA.")] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(help="redis://host:port/db for the cache and recent-tweet store (default: in process)."),
    ] = None,
    fake: Annotated[
        bool, typer.Option("--fake", help="Serve the model-free fake backend (development).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Serve embeddings, hashtags, locations, bot scores and retrieval over HTTP (OpenAPI at /docs)."""
    import uvicorn

    from app.api.factory import create_app
    from app.settings import SettingsError, load_settings

    overrides: dict[str, Any] = {}
    if checkpoint is not None:
        overrides["checkpoint"] = checkpoint
    if device is not None:
        overrides["device"] = device
    if fp16 is not None:
        overrides["fp16"] = fp16
    if redis_url is not None:
        overrides["redis_url"] = redis_url
    if fake:
        overrides["fake_backend"] = True
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if host not in ("127.0.0.1", "localhost", "::1") and not settings.api_keys:
        typer.echo(f"warning: listening on {host} without API keys (set TWEETEMBED_API_KEYS)", err=True)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # On SIGTERM uvicorn stops accepting, lets open requests finish (up to the timeout), then runs the
    # lifespan shutdown, which drains the micro-batch queue.
    # uvicorn re-raises a captured SIGTERM once its graceful shutdown is done, so a clean stop would end
    # with -15; exiting 0 from that re-raise reports the clean stop as success (`make loadtest` checks it).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s) or None,
        **uvicorn_limits(settings),
    )


def uvicorn_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's own bounds and event loop, from Settings: a connection flood gets uvicorn's 503 past
    ``max_connections``, idle keep-alive connections close, and headers are bounded."""
    return {
        "loop": settings.event_loop,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
