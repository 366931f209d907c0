"""Model and training configuration; the checkpoint's config.json is ``ModelConfig`` as JSON.

A checkpoint rebuilds its model from this alone (nanoGPT's idea), so every field that shapes a
tensor lives here, with the preprocessing choices that inference must repeat.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from model.record import COMPONENTS

FORMAT_VERSION = 1

ImageEncoder = Literal["resnet18", "resnet50", "resnet152", "efficientnet_lite0", "convnet"]
# gru: the paper's fastText-initialised GRU, trained; minilm: frozen all-MiniLM-L6-v2 features
# (precomputed by prepare) and a small network on top, trained.
TextEncoderKind = Literal["gru", "minilm"]
# What the hashtag branch reads: the mean fastText vector of the tags, or MiniLM of the tags' words.
HashtagEncoderKind = Literal["fasttext", "minilm"]
LossKind = Literal["max_violation", "sum_violation"]  # VSE++ (paper) / VSE0 (all in-batch negatives)
# Each component's positive: the full tweet average (paper) or the mean of the other components.
LossTarget = Literal["average", "others"]

RESNET_FEATURE_DIMS: dict[str, int] = {"resnet18": 512, "resnet50": 2048, "resnet152": 2048}
# Every frozen, pretrained image encoder (features precomputed by prepare) and its pooled width.
FROZEN_IMAGE_FEATURE_DIMS: dict[str, int] = {**RESNET_FEATURE_DIMS, "efficientnet_lite0": 1280}


@dataclass(frozen=True)
class ModelConfig:
    # The fields with a "help" are also `tweetembed train` options (training/train_cli.py).
    components: tuple[str, ...] = field(
        default=COMPONENTS,
        metadata={"help": "Comma-separated subset of text,image,hashtags,location,user (ablations)."},
    )
    dim: int = field(default=1024, metadata={"help": "Joint embedding dimension."})
    word_dim: int = 300  # fastText vectors; also the hashtag branch input
    user_dim: int = 300  # node2vec vectors
    vocab_size: int = 2  # filled in by training from the vocabulary
    gru_layers: int = field(default=1, metadata={"help": "GRU layers of the text branch."})
    max_tokens: int = field(default=40, metadata={"help": "Tokens kept per text."})
    image_encoder: ImageEncoder = "resnet152"
    image_size: int = 224  # pixels fed to the image encoder (square)
    # ResNet pooled features, or the small CNN's output
    image_feature_dim: int = field(default=2048, metadata={"help": "Small-CNN feature width."})
    place_neighbours: int = 32  # M: neighbour texts per place for the location branch
    text_encoder: TextEncoderKind = "gru"
    text_feature_dim: int = 384  # MiniLM's width (minilm only)
    text_hidden: int = field(
        default=0,
        metadata={"help": "MiniLM text branch: hidden width of the MLP on top (0: one linear layer)."},
    )
    hashtag_encoder: HashtagEncoderKind = field(
        default="fasttext",
        metadata={
            "help": "Hashtag branch input: fasttext (mean vector of the tags) or minilm (MiniLM of the tags' "
            "words; needs a WORK prepared with the MiniLM text encoder)."
        },
    )
    # The pretrained weights a checkpoint needs, "package==version sha256:..." (model/pretrained.py);
    # the embedder refuses to serve it on other weights.
    text_weights: str = ""
    image_weights: str = ""
    format_version: int = FORMAT_VERSION
    data_fingerprint: str = ""  # sha256 of the training split it was trained on

    def __post_init__(self) -> None:
        unknown = set(self.components) - set(COMPONENTS)
        if unknown or not self.components:
            raise ValueError(f"components must be a non-empty subset of {COMPONENTS}, got {self.components}")
        if "location" in self.components and "text" not in self.components:
            raise ValueError("the location branch reuses the text branch: 'location' needs 'text'")
        if self.dim <= 0 or self.word_dim <= 0 or self.user_dim <= 0:
            raise ValueError("dims must be positive")
        if self.text_encoder not in ("gru", "minilm") or self.hashtag_encoder not in ("fasttext", "minilm"):
            raise ValueError(f"unknown text/hashtag encoder {self.text_encoder!r}/{self.hashtag_encoder!r}")
        if self.hashtag_encoder == "minilm" and self.text_encoder != "minilm":
            raise ValueError("hashtag_encoder 'minilm' needs text_encoder 'minilm' (prepare computes both)")

    @property
    def hashtag_input_dim(self) -> int:
        return self.text_feature_dim if self.hashtag_encoder == "minilm" else self.word_dim

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["components"] = list(self.components)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ModelConfig:
        version = obj.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"checkpoint format_version {version!r} is not {FORMAT_VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in obj.items() if k in known}
        kwargs["components"] = tuple(kwargs.get("components", COMPONENTS))
        return cls(**kwargs)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class TrainConfig:
    """The paper's training recipe (section 'Training details') and its CPU-sized sibling."""

    # Every field with a "help" is a `tweetembed train` option of the same name (training/train_cli.py).
    epochs: int = field(default=30, metadata={"help": "Training epochs."})
    lr: float = field(default=2e-4, metadata={"help": "Adam learning rate."})
    lr_decay_epoch: int = field(default=15, metadata={"help": "Epoch from which lr is x0.1."})
    grad_clip: float = field(default=2.0, metadata={"help": "Gradient L2-norm clip."})
    margin: float = field(default=0.2, metadata={"help": "Hinge margin."})
    batch_size: int = field(default=128, metadata={"help": "Tweets per batch (in-batch negatives)."})
    val_every: int = field(default=500, metadata={"help": "Validate every N iterations and each epoch."})
    loss: LossKind = field(
        default="max_violation", metadata={"help": "max_violation (VSE++) or sum_violation (VSE0)."}
    )
    loss_target: LossTarget = field(
        default="average",
        metadata={
            "help": "Positive of each component: average (paper, the tweet average) or others "
            "(mean of the tweet's other components)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Random seed (CPU runs are reproducible)."})
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model"] = self.model.to_json()
        return out


PAPER = TrainConfig()

# The CPU preset departs from the paper's loss on purpose (the measurement: docs/HISTORY.md and
# docs/evaluation/report.md, "paper's loss" row): with the hardest negative against the tweet average,
# validation cross-component rsum stalls, because a batch holds tweets that no component can tell
# apart (same topic, same city) and the hardest of them pushes same-topic tweets apart, while the
# average's own copy of c meets the margin without aligning c with anything. Summing over all
# negatives against the mean of the other components more than doubles it in the same 6 epochs.
SMALL = TrainConfig(
    epochs=6,
    lr_decay_epoch=4,
    val_every=100,
    loss="sum_violation",
    loss_target="others",
    model=ModelConfig(
        dim=256,
        word_dim=100,
        user_dim=64,
        image_encoder="convnet",
        image_size=64,
        image_feature_dim=256,
        max_tokens=32,
        place_neighbours=16,
    ),
)

# Real corpora on a CPU: pretrained encoders, frozen, with only small networks trained on top, because
# a GRU and word vectors learnt from a few tens of thousands of real tweets lose to bag-of-words
# (issue 12). Measured figures: docs/TRAINING.md.
REAL = dataclasses.replace(
    SMALL,
    epochs=8,
    lr=1e-3,
    lr_decay_epoch=6,
    val_every=200,
    model=dataclasses.replace(
        SMALL.model,
        image_encoder="efficientnet_lite0",
        image_size=224,
        image_feature_dim=1280,
        place_neighbours=32,
        text_encoder="minilm",
        text_hidden=512,
        hashtag_encoder="fasttext",
    ),
)

PRESETS: dict[str, TrainConfig] = {"paper": PAPER, "small": SMALL, "real": REAL}
