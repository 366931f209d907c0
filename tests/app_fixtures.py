"""Helpers for the service tests: a running app on an in-memory ASGI transport, and test images.

``running_app`` enters the app's lifespan (httpx's ASGITransport does not), waits for the backend to
load, and yields an httpx.AsyncClient; starlette's TestClient is avoided because it warns about httpx.
"""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image

from app.api.factory import create_app
from app.engine.backend import Backend
from app.engine.fake_backend import FakeBackend
from app.settings import Settings


def fake_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"fake_backend": True, "batch_max_wait_ms": 2.0}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(
    backend: Backend | None = None, wait: bool = True, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(fake_settings(**overrides), backend if backend is not None else FakeBackend())
    async with app.router.lifespan_context(app):
        if wait:
            await app.state.service.wait_loaded()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def png_bytes(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming width x height pixels with a few bytes of data: decoding it
    would allocate ~30 GB, so the service must refuse it from the header alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    data = zlib.compress(b"\x00" * (1 + 3 * 64), 9)  # one short row: enough for a parser, never decoded
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def error_of(response: httpx.Response) -> dict[str, str]:
    """The error object, asserting the one error shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"type", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, str] = body["error"]
    return error


def train_tiny_checkpoint(root: Path) -> tuple[Path, Path]:
    """A tiny trained checkpoint with every head (arbitrary bot labels), and the WORK dir it came from."""
    import dataclasses
    import json

    from model.config import SMALL
    from tests.model_fixtures import build_work
    from training.heads.build import BuildHeadsOptions, run_build_heads
    from training.trainer import train

    work = build_work(root / "work", n_train=64, n_val=16, n_test=16)
    model = dataclasses.replace(SMALL.model, dim=16, image_feature_dim=16)
    config = dataclasses.replace(SMALL, epochs=2, batch_size=16, val_every=1000, model=model)
    train(work, root / "ckpt", config, device="cpu", progress=False, echo=lambda _: None)
    users = sorted(
        {
            json.loads(line).get("user_id")
            for line in (work / "splits" / "train.jsonl").read_text(encoding="utf-8").splitlines()
        }
        - {None}
    )
    labels = root / "bot_labels.csv"  # arbitrary labels: enough for the bot head to exist
    labels.write_text(
        "user_id,label\n" + "".join(f"{u},{'bot' if i % 2 else 'human'}\n" for i, u in enumerate(users)),
        encoding="utf-8",
    )
    # The paper's kNN: arbitrary labels leave nothing for the CV selection to find, and selecting costs
    # minutes; the selected detector is served end to end in tests/integration/test_heads_bot_features.py.
    run_build_heads(root / "ckpt", work, BuildHeadsOptions(bot_labels=labels, bot_method="knn", device="cpu"))
    return root / "ckpt", work


def wait_until_ready(proc: subprocess.Popen[str], base: str, timeout_s: float = 60.0) -> None:
    """Poll ``base``/ready until it answers 200; fail with the process's output if it exits first or
    ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.2)


SERVE_CODE = "import typer; from app.cli import serve; typer.run(serve)"


def start_serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``tweetembed serve ARGS`` as a child process of the test run, from this checkout, output piped
    (``wait_until_ready`` shows it when the process dies)."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [sys.executable, "-c", SERVE_CODE, *args],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
