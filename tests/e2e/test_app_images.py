"""Images decoded straight to the image encoder's input (issue 11, defect 2): a small file of many
pixels never becomes a full-size RGB array, a request's images share a pixel budget, and only the
encoder-sized array reaches the model process."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from app.api.images import FAKE_BACKEND_INPUT, decode_image, open_image
from bench.service_proc import free_port
from model.config import SMALL, ModelConfig
from model.featurize import image_pixels
from model.image_input import encoder_pixels
from tests.app_fixtures import b64, error_of, png_bomb, png_bytes, running_app, start_serve, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
CONVNET = SMALL.model  # the small CNN at 64 pixels: the whole image squashed
RESNET = ModelConfig(image_encoder="resnet18", image_size=96, image_feature_dim=512)  # centre crop
LIMIT = 25_000_000


def one_bit_png(width: int, height: int) -> bytes:
    """A few KB that hold width x height pixels: the issue's cheap file of expensive pixels."""
    image = Image.new("1", (width, height))
    image.paste(1, (0, 0, width // 2, height))  # half white, so that reduction has something to average
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return one_bit_png(4999, 4999)


@pytest.mark.parametrize("config", [CONVNET, RESNET], ids=["convnet", "resnet"])
def test_decoded_array_is_at_the_encoder_size(big_png: bytes, config: ModelConfig) -> None:
    decoded = decode_image(big_png, "image", 5_000_000, LIMIT, config)
    size = config.image_size
    assert decoded.pixels.shape == (size, size, 3) and decoded.pixels.dtype == np.uint8
    left, right = decoded.pixels[:, : size // 4].mean(), decoded.pixels[:, -size // 4 :].mean()
    assert left > 250 and right < 5  # white half and black half survive the reduction


def test_a_24_million_by_1_png_is_reduced_not_decoded_to_rgb() -> None:
    raw = one_bit_png(24_000_000, 1)
    assert len(raw) < 10_000
    for config in (CONVNET, RESNET):
        decoded = decode_image(raw, "image", 5_000_000, LIMIT, config)
        assert decoded.pixels.shape == (config.image_size, config.image_size, 3)


def test_a_jpeg_decodes_at_a_reduced_scale() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (20, 120, 220)).save(out, format="JPEG")
    opened = open_image(out.getvalue(), "image", 5_000_000, LIMIT, CONVNET)
    # The DCT scale leaves both sides at least 3 x 64, and no larger than it needs.
    assert opened.size == (500, 375)
    decoded = decode_image(out.getvalue(), "image", 5_000_000, LIMIT, CONVNET)
    assert np.abs(decoded.pixels.astype(int) - (20, 120, 220)).max() <= 3


@pytest.mark.parametrize("size", [(300, 200), (37, 120), (2000, 900)])
def test_geometry_matches_what_each_encoder_was_trained_on(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    smooth = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # upsampled noise: detail at every scale
    image = Image.fromarray(smooth).resize(size, Image.Resampling.BICUBIC)
    squashed = image_pixels(image, CONVNET.image_size).transpose(1, 2, 0)  # the trainer's path
    assert np.abs(encoder_pixels(image, CONVNET).astype(int) - squashed).mean() < 2.0
    from torchvision import transforms

    crop = transforms.Compose(
        [transforms.Resize(RESNET.image_size), transforms.CenterCrop(RESNET.image_size)]
    )
    want = np.asarray(crop(image), np.uint8)  # model.resnet.image_transform before ToTensor
    assert np.abs(encoder_pixels(image, RESNET).astype(int) - want).mean() < 2.0


def test_palette_and_alpha_images_decode_to_rgb() -> None:
    for mode in ("P", "RGBA", "LA", "L"):
        image = Image.new("RGB", (900, 700), (250, 10, 10)).convert(mode)
        out = io.BytesIO()
        image.save(out, format="PNG")
        pixels = decode_image(out.getvalue(), "image", 5_000_000, LIMIT, CONVNET).pixels
        assert pixels.shape == (64, 64, 3)
        want = np.asarray(image.convert("RGB")).reshape(-1, 3).mean(axis=0)  # P is dithered: compare means
        assert np.abs(pixels.reshape(-1, 3).mean(axis=0) - want).max() < 8


@pytest.mark.asyncio
async def test_request_pixel_budget_is_refused_before_decoding(big_png: bytes) -> None:
    async with running_app(max_request_image_pixels=60_000_000) as (_, client):
        two = [{"id": i, "image_base64": b64(big_png)} for i in range(2)]
        ok = await client.post("/embed", json={"tweets": two})
        assert ok.status_code == 200 and all(r["present"]["image"] for r in ok.json()["results"])
        three = [{"id": i, "image_base64": b64(big_png)} for i in range(3)]
        refused = await client.post("/embed", json={"tweets": three})
        assert refused.status_code == 413
        error = error_of(refused)
        assert error["type"] == "image_too_large"
        assert "74970003" in error["message"] and "60000000" in error["message"]  # 3 x 4999^2, limit
        assert "25000000" in error["message"]  # the per-image limit beside it


@pytest.mark.asyncio
async def test_bomb_message_quotes_the_configured_limit() -> None:
    async with running_app(max_image_pixels=2_345_678) as (_, client):
        response = await client.post("/embed", json={"tweet": {"id": 1, "image_base64": b64(png_bomb())}})
        assert response.status_code == 413
        message = error_of(response)["message"]
        assert "2345678" in message and "178956970" not in message  # ours, not Pillow's


@pytest.mark.asyncio
async def test_fake_backend_sees_encoder_sized_arrays() -> None:
    async with running_app() as (app, client):
        seen: list[object] = []
        backend = app.state.service.backend
        real = backend.embed

        def spy(tweets: object, images: list[object]) -> object:
            seen.extend(images)
            return real(tweets, images)

        backend.embed = spy
        response = await client.post(
            "/embed", json={"tweet": {"id": 1, "image_base64": b64(png_bytes(300, 10))}}
        )
        assert response.status_code == 200
        size = FAKE_BACKEND_INPUT.image_size
        assert len(seen) == 1 and isinstance(seen[0], np.ndarray) and seen[0].shape == (size, size, 3)


# ---- a served process and its model process: peak RSS of both ------------------------------------


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _model_process(pid: int) -> int:
    """The spawned model process among the server's children (not multiprocessing's tracker)."""
    for _ in range(100):
        # A thread started it (the one that loads the backend): every thread's children are listed.
        children = [
            c for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()
        ]
        for child in children:
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                return int(child)
        time.sleep(0.1)
    raise AssertionError("no model process found")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.app_fixtures import train_tiny_checkpoint

    ckpt, _ = train_tiny_checkpoint(tmp_path_factory.mktemp("images_rss"))
    return ckpt


@pytest.mark.slow
def test_embedder_takes_encoder_sized_arrays_as_it_takes_images(checkpoint: Path) -> None:
    from model.embedder import TweetEmbedder
    from model.record import Tweet

    embedder = TweetEmbedder.load(checkpoint, device="cpu")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    tweets = [Tweet(id="1", text="a picture"), Tweet(id="2", text=None, hashtags=("x",))]
    pixels = encoder_pixels(image, embedder.config)  # small enough that nothing is reduced first
    from_array = embedder.embed(tweets, [pixels, None])
    from_image = embedder.embed(tweets, [image, None])
    assert from_array.present["image"].tolist() == [True, False]
    assert np.allclose(from_array.components["image"], from_image.components["image"], atol=1e-5)
    with pytest.raises(ValueError, match="this checkpoint takes uint8"):
        embedder.embed(tweets[:1], [np.zeros((8, 8, 3), np.uint8)])


@pytest.fixture(scope="module")
def served(checkpoint: Path) -> Iterator[tuple[str, int, int]]:
    ckpt = checkpoint
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TWEETEMBED_MODEL_PROCESS": "1",
        "TWEETEMBED_TORCH_THREADS": "1",
        "TWEETEMBED_CACHE_ENABLED": "0",
    }
    proc = start_serve([str(ckpt), "--port", str(port), "--device", "cpu", "--log-level", "warning"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(proc, base, 120)
        yield base, proc.pid, _model_process(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _peak_growth_mib(pids: tuple[int, int], send: object) -> tuple[httpx.Response, list[float]]:
    before = [_status_kib(pid, "VmRSS") for pid in pids]
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the current RSS
    response = send()  # type: ignore[operator]
    growth = [(_status_kib(pid, "VmHWM") - b) / 1024 for pid, b in zip(pids, before, strict=True)]
    print(
        f"status {response.status_code}: peak RSS growth (MiB) service {growth[0]:.1f}, model {growth[1]:.1f}"
    )
    return response, growth


@pytest.mark.slow
def test_peak_rss_of_both_processes_stays_small(served: tuple[str, int, int], big_png: bytes) -> None:
    base, server, model = served
    warm = {
        "tweets": [{"id": i, "text": "warm up", "image_base64": b64(png_bytes(64, 64))} for i in range(4)]
    }
    assert httpx.post(f"{base}/embed", json=warm, timeout=60).status_code == 200
    many = [{"id": i, "image_base64": base64.b64encode(big_png).decode()} for i in range(64)]
    response, growth = _peak_growth_mib(
        (server, model), lambda: httpx.post(f"{base}/embed", json={"tweets": many}, timeout=120)
    )
    assert response.status_code in (200, 413), response.text
    assert max(growth) < 100, f"peak RSS growth (MiB) service, model process: {growth}"
    if response.status_code == 413:  # refused by the budget: a request within it must still be cheap
        error = error_of(response)
        assert error["type"] == "image_too_large"
        fits = max(1, 100_000_000 // (4999 * 4999))
        response, growth = _peak_growth_mib(
            (server, model),
            lambda: httpx.post(f"{base}/embed", json={"tweets": many[:fits]}, timeout=120),
        )
        assert response.status_code == 200, response.text
        assert all(r["present"]["image"] for r in response.json()["results"])
        assert max(growth) < 100, f"peak RSS growth (MiB) service, model process: {growth}"


def test_checkpoint_size_is_what_the_service_decodes_to(tmp_path: Path) -> None:
    from app.api.images import encoder_config

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    dataclasses.replace(CONVNET, image_size=40).save(ckpt / "config.json")
    config = encoder_config(ckpt)
    assert config.image_size == 40
    assert decode_image(png_bytes(100, 100), "image", 5_000_000, LIMIT, config).pixels.shape == (40, 40, 3)
