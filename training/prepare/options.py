"""The options of ``tweetembed prepare``, with dimension defaults taken from a model preset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.config import PRESETS

IMAGE_ENCODERS: tuple[str, ...] = ("resnet18", "resnet50", "resnet152", "efficientnet_lite0", "convnet")
TEXT_ENCODERS: tuple[str, ...] = ("gru", "minilm")
SPLIT_CHOICES: tuple[str, ...] = ("auto", "date", "random")


@dataclass(frozen=True)
class PrepareOptions:
    """Everything prepare needs; ``None`` dims mean "from the preset"."""

    config: str = "paper"
    word_dim: int | None = None
    user_dim: int | None = None
    image_encoder: str | None = None  # None: the preset's, but convnet for a synthetic world
    image_size: int | None = None
    place_neighbours: int | None = None
    text_encoder: str | None = None  # None: the preset's (gru, or minilm for `real`)
    split: str = "auto"
    seed: int = 0
    word_vectors: Path | None = None  # a pretrained fastText .bin used instead of training one
    min_count: int = 2  # vocabulary and fastText minimum word count
    word_epochs: int = 5
    walk_length: int = 40
    walk_window: int = 5
    walks_per_node: int = 10
    threads: int = 2
    device: str = "auto"  # ResNet feature extraction: auto (cuda when there is one), cpu, cuda
    batch_size: int = 32
    verbose: bool = True

    def __post_init__(self) -> None:
        if self.config not in PRESETS:
            raise ValueError(f"--config must be one of {', '.join(PRESETS)}, got {self.config!r}")
        if self.split not in SPLIT_CHOICES:
            raise ValueError(f"--split must be one of {', '.join(SPLIT_CHOICES)}, got {self.split!r}")
        if self.image_encoder is not None and self.image_encoder not in IMAGE_ENCODERS:
            raise ValueError(
                f"--image-encoder must be one of {', '.join(IMAGE_ENCODERS)}, got {self.image_encoder!r}"
            )
        if self.text_encoder is not None and self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(
                f"--text-encoder must be one of {', '.join(TEXT_ENCODERS)}, got {self.text_encoder!r}"
            )
        for name in ("word_dim", "user_dim", "image_size", "place_neighbours"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if self.min_count < 1 or self.word_epochs < 1 or self.walks_per_node < 1 or self.walk_length < 2:
            raise ValueError("--min-count, --word-epochs, --walks-per-node must be >= 1, --walk-length >= 2")

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["word_vectors"] = str(self.word_vectors.resolve()) if self.word_vectors else None
        out.pop("verbose")
        return out


@dataclass(frozen=True)
class ResolvedDims:
    word_dim: int
    user_dim: int
    image_encoder: str
    image_size: int
    place_neighbours: int
    text_encoder: str = "gru"


def resolve_dims(options: PrepareOptions, synthetic_world: bool, pretrained_dim: int | None) -> ResolvedDims:
    """Fill the unset dims from the preset.

    A synthetic world defaults to the small CNN because its images are drawn shapes and because
    ImageNet weights need a download; a pretrained fastText model sets word_dim unless one is given.
    """
    preset = PRESETS[options.config].model
    word_dim = options.word_dim or pretrained_dim or preset.word_dim
    encoder = options.image_encoder or ("convnet" if synthetic_world else preset.image_encoder)
    if options.image_size is None and encoder != preset.image_encoder:
        from model.image_encoders import DEFAULT_SIZES

        image_size = DEFAULT_SIZES.get(encoder, preset.image_size)
    else:
        image_size = options.image_size or preset.image_size
    return ResolvedDims(
        word_dim=word_dim,
        user_dim=options.user_dim or preset.user_dim,
        image_encoder=encoder,
        image_size=image_size,
        place_neighbours=options.place_neighbours or preset.place_neighbours,
        text_encoder=options.text_encoder or preset.text_encoder,
    )
