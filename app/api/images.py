"""Image decoding with limits: bytes checked before decoding, pixels read from the header before
the pixel data is touched, so a decompression bomb (a tiny PNG that inflates to gigabytes) is
refused without allocating it. Only common web formats are opened.

Images are decoded straight to the checkpoint's image-encoder input (model/image_input.py), one at a
time, after a request's images have been counted against a pixel budget: a 3 KB PNG of 25 megapixels
must not become a 75 MB RGB array, nor 64 of them 64 such arrays."""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from app.api.errors import ApiError
from app.engine.inputs import DecodedImage
from app.settings import Settings
from model.config import ModelConfig
from model.image_input import draft_for_encoder, encoder_pixels

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP")


# Without a checkpoint (the fake backend) images are still decoded and checked, at this size.
FAKE_BACKEND_INPUT = ModelConfig(image_encoder="convnet", image_size=64)


@functools.lru_cache(maxsize=8)
def _checkpoint_config(path: str) -> ModelConfig:
    # model.checkpoint.CONFIG, named here because importing model.checkpoint imports torch.
    return ModelConfig.load(Path(path) / "config.json")


def encoder_config(checkpoint: Path | None) -> ModelConfig:
    """The checkpoint's config, which says what size and geometry its image encoder takes."""
    if checkpoint is None:
        return FAKE_BACKEND_INPUT
    # Not resolve(): that walks the path with a system call per part, on every request.
    return _checkpoint_config(str(checkpoint))


def decode_base64(data: str, field: str, max_bytes: int) -> bytes:
    text = data.strip()
    if text.startswith("data:"):  # data URLs are what browsers produce
        _, _, text = text.partition(",")
    # 4 base64 characters carry 3 bytes: refuse before allocating the decoded buffer.
    if len(text) * 3 // 4 > max_bytes + 3:
        raise ApiError("image_too_large", f"{field}: image larger than {max_bytes} bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError("invalid_image", f"{field}: not valid base64 ({exc})") from None
    return raw


def open_image(raw: bytes, field: str, max_bytes: int, max_pixels: int, config: ModelConfig) -> Image.Image:
    """The image with its header read and nothing decoded yet, checked against the per-image limits;
    a JPEG is set to decode at a reduced scale (``image.size`` is then the size it will decode to)."""
    if len(raw) > max_bytes:
        raise ApiError("image_too_large", f"{field}: image of {len(raw)} bytes exceeds {max_bytes}")
    if not raw:
        raise ApiError("invalid_image", f"{field}: empty image")
    with _pil_errors(field, max_pixels):
        image = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)  # reads the header only
        width, height = image.size
        if width * height > max_pixels:
            raise ApiError(
                "image_too_large", f"{field}: {width}x{height} pixels exceeds the limit of {max_pixels}"
            )
        draft_for_encoder(image, config)
    return image


def decode_opened(
    image: Image.Image, raw: bytes, field: str, max_pixels: int, config: ModelConfig
) -> DecodedImage:
    """Decode (at the drafted scale) and reduce to the encoder's input; the decoded image is dropped
    as soon as the encoder-sized array exists."""
    with _pil_errors(field, max_pixels):
        image.load()
        pixels = encoder_pixels(image, config)  # (S, S, 3) uint8
    image.close()
    return DecodedImage(pixels, hashlib.sha256(raw).hexdigest())


def decode_image(
    raw: bytes, field: str, max_bytes: int, max_pixels: int, config: ModelConfig
) -> DecodedImage:
    return decode_opened(
        open_image(raw, field, max_bytes, max_pixels, config), raw, field, max_pixels, config
    )


def decode_images(
    raws: list[tuple[str, bytes]], settings: Settings, config: ModelConfig
) -> list[DecodedImage]:
    """Every image of one request, ``(field, bytes)`` each: all headers are checked, and the pixels
    they decode to counted against the per-request budget, before any is decoded; then one at a time,
    so that at most one decoded image is in memory."""
    opened = [
        open_image(raw, field, settings.max_image_bytes, settings.max_image_pixels, config)
        for field, raw in raws
    ]
    total = sum(image.width * image.height for image in opened)
    if total > settings.max_request_image_pixels:
        raise ApiError(
            "image_too_large",
            f"the request's {len(opened)} images decode to {total} pixels in all, over the limit of "
            f"{settings.max_request_image_pixels} per request ({settings.max_image_pixels} per image)",
        )
    return [
        decode_opened(image, raw, field, settings.max_image_pixels, config)
        for image, (field, raw) in zip(opened, raws, strict=True)
    ]


@contextlib.contextmanager
def _pil_errors(field: str, max_pixels: int) -> Iterator[None]:
    """Pillow's failures as the client's errors; its own bomb limit is reported as ours."""
    try:
        with warnings.catch_warnings():
            # Our limit is checked from the header; Pillow's warning (over 89 M pixels) would refuse
            # images a larger TWEETEMBED_MAX_IMAGE_PIXELS allows. Its error (over twice that) stays,
            # and settings cap the limit there, so the message below is true.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ApiError:
        raise
    except Image.DecompressionBombError:
        raise ApiError(
            "image_too_large",
            f"{field}: the image header claims more than the limit of {max_pixels} pixels "
            "(refused before decoding)",
        ) from None
    except UnidentifiedImageError:
        raise ApiError(
            "invalid_image", f"{field}: not an image in one of {', '.join(ALLOWED_FORMATS)}"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError("invalid_image", f"{field}: image does not decode ({exc})") from None
