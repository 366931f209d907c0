"""Image decoding with limits: bytes checked before decoding, pixels read from the header before
the pixel data is touched, so a decompression bomb (a tiny PNG that inflates to gigabytes) is
refused without allocating it. Only common web formats are opened."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from app.errors import ApiError

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP")


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, fully loaded
    digest: str  # sha256 of the encoded bytes: the image's identity in the cache


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


def decode_image(raw: bytes, field: str, max_bytes: int, max_pixels: int) -> DecodedImage:
    if len(raw) > max_bytes:
        raise ApiError("image_too_large", f"{field}: image of {len(raw)} bytes exceeds {max_bytes}")
    if not raw:
        raise ApiError("invalid_image", f"{field}: empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)  # reads the header only
            width, height = image.size
            if width * height > max_pixels:
                raise ApiError(
                    "image_too_large", f"{field}: {width}x{height} pixels exceeds the limit of {max_pixels}"
                )
            image.load()
            rgb = image.convert("RGB")
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(
            "image_too_large",
            f"{field}: the image header claims more than {max_pixels} pixels "
            "(decompression bomb refused before decoding)",
        ) from None
    except UnidentifiedImageError:
        raise ApiError(
            "invalid_image", f"{field}: not an image in one of {', '.join(ALLOWED_FORMATS)}"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError("invalid_image", f"{field}: image does not decode ({exc})") from None
    return DecodedImage(rgb, hashlib.sha256(raw).hexdigest())
