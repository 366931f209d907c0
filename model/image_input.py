"""An image reduced to what its encoder takes: uint8 (S, S, 3), S the checkpoint's ``image_size``.

Where the full-size image is never needed (the service), decoding goes straight to this size: JPEG
decodes at a DCT scale (``Image.draft``), other formats are box-reduced before the final resample
(``reducing_gap``), and only the region the encoder sees is resampled. Normalisation stays with the
model (``model.featurize.normalise_pixels``), so what crosses to a model process is S x S x 3 bytes.

The geometry is keyed by the image encoder: the small CNN was trained on the whole image squashed to
a square (``model.featurize.image_pixels``), the pretrained encoders on the short side resized to S
and the centre cropped (``model.resnet.image_transform``); both are repeated here up to resampling.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from model.config import ModelConfig

# Reduce by whole factors (a box average) down to no less than this multiple of the target, then
# resample: Pillow's measure of "indistinguishable from resampling the full image in most cases".
REDUCING_GAP = 3.0
# Encoders that see the whole image squashed to a square; every other encoder sees the centre crop.
SQUASHED_ENCODERS: frozenset[str] = frozenset({"convnet"})


def encoder_input_size(config: ModelConfig) -> int:
    """S: the side of the square the image encoder takes."""
    return int(config.image_size)


def draft_for_encoder(image: Image.Image, config: ModelConfig) -> None:
    """Before ``load``: let a JPEG decode at the smallest DCT scale that still leaves both sides at
    least REDUCING_GAP x S (other formats ignore it). ``image.size`` is the decoded size afterwards."""
    side = math.ceil(REDUCING_GAP * encoder_input_size(config))
    image.draft("RGB", (side, side))


def source_box(width: int, height: int, config: ModelConfig) -> tuple[float, float, float, float]:
    """The region of a width x height image that the encoder sees, in its pixel coordinates."""
    if config.image_encoder in SQUASHED_ENCODERS:
        return (0.0, 0.0, float(width), float(height))
    # torchvision's Resize(S) then CenterCrop(S), mapped back onto the source image.
    size = encoder_input_size(config)
    short, long_ = min(width, height), max(width, height)
    resized_long = max(size, int(size * long_ / short))
    offset = round((resized_long - size) / 2.0)
    start, stop = offset * long_ / resized_long, (offset + size) * long_ / resized_long
    if width >= height:
        return (start, 0.0, stop, float(height))
    return (0.0, start, float(width), stop)


def encoder_pixels(image: Image.Image, config: ModelConfig) -> np.ndarray:
    """uint8 (S, S, 3): what the image encoder sees of ``image``, before normalisation. Never makes an
    RGB copy of a large image: that is four bytes a pixel, where a palette or 1-bit PNG holds one."""
    size = encoder_input_size(config)
    box = source_box(image.width, image.height, config)
    if image.mode == "1":
        image = image.convert("L")  # the same 0/255 values, and Pillow resamples L (not 1) smoothly
    elif image.mode not in ("L", "RGB"):
        # Palettes cannot be averaged; sample down to the reduced size first, then convert.
        step = min((box[2] - box[0]) / size, (box[3] - box[1]) / size) / REDUCING_GAP
        if step >= 2:
            reduced = (
                max(size, math.ceil((box[2] - box[0]) / step)),
                max(size, math.ceil((box[3] - box[1]) / step)),
            )
            image = image.resize(reduced, Image.Resampling.NEAREST, box=box)
            box = (0.0, 0.0, float(image.width), float(image.height))
        image = image.convert("RGB")
    out = image.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=REDUCING_GAP)
    if out.mode != "RGB":
        out = out.convert("RGB")
    return np.asarray(out, dtype=np.uint8)  # (S, S, 3)


def check_encoder_pixels(pixels: np.ndarray, config: ModelConfig) -> np.ndarray:
    """``pixels`` as (3, S, S) uint8 for the featurizer; refuses an array of another size or type."""
    size = encoder_input_size(config)
    if pixels.dtype != np.uint8 or pixels.shape != (size, size, 3):
        raise ValueError(
            f"image array of {pixels.dtype} {pixels.shape}; this checkpoint takes uint8 {(size, size, 3)}"
        )
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # (3, S, S)
