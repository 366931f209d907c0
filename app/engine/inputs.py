"""What the engine takes: one tweet record and its image, already decoded and checked by app/api."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.record import Tweet


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8 (S, S, 3): what the image encoder takes, never the full-size image
    digest: str  # sha256 of the encoded bytes: the image's identity in the cache


@dataclass(frozen=True)
class TweetInput:
    """One tweet as the embedding service takes it; the image is already decoded and checked."""

    tweet: Tweet
    image: DecodedImage | None = None
