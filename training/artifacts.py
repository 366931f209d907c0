"""The prepared WORK directory as one contract: every file's name, the typed prepare.json, the split files.

``tweetembed prepare`` writes these files and the trainer, build-heads and evaluate read them, so the
names live here once instead of being typed again by every step. The checkpoint's own file names are
in model/checkpoint.py (the service reads checkpoints and must not import training/); a checkpoint
copies vocab.json, word_vectors.bin, the user vectors and places.json from WORK under the same names.

Layout (see docs/PREPARE.md):
  prepare.json                      per-step skip keys and the run's summary (``PrepareManifest``)
  splits/{train,val,test}.jsonl     the flat tweets of each split (absolute image paths)
  vocab.json, word_vectors.bin      the vocabulary and the fastText vectors
  user_vectors.safetensors + user_ids.json   node2vec vectors of the mention graph
  places.json                       each place's metadata and sampled training texts
  image_features/{split}.npy + {split}_ids.json   frozen image-encoder features (float16 rows)
  text_features/                    MiniLM features (see training/prepare/text_features.py)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model import checkpoint as ck
from model.record import Tweet

SPLITS: tuple[str, ...] = ("train", "val", "test")

PREPARE_JSON = "prepare.json"
SPLITS_DIR = "splits"
VOCAB = ck.VOCAB
WORD_VECTORS = ck.WORD_VECTORS
USER_VECTORS = ck.USER_VECTORS
USER_IDS = ck.USER_IDS
PLACES = ck.PLACES
IMAGE_FEATURES_DIR = "image_features"
TEXT_FEATURES_DIR = "text_features"
BOT_LABELS = "bot_labels.csv"
# Under text_features/, beside the per-split (matrix, ids) pairs:
PLACE_TEXT_FEATURES = ("places.npy", "places_index.json")  # index: {place id: [first row, rows]}
PROFILE_FEATURES = ("profiles.npy", "profiles.json")  # the distinct profile locations, in row order


class WorkDirError(RuntimeError):
    """WORK is missing a file that ``tweetembed prepare`` should have written."""


@dataclass(frozen=True)
class WorkLayout:
    """Where each file of a WORK directory is."""

    root: Path

    @property
    def prepare_json(self) -> Path:
        return self.root / PREPARE_JSON

    @property
    def splits_dir(self) -> Path:
        return self.root / SPLITS_DIR

    def split(self, name: str) -> Path:
        return split_path(self.splits_dir, name)

    def is_prepared(self) -> bool:
        """Whether this is a prepared WORK directory (its training split exists), not raw data."""
        return self.split("train").is_file()

    @property
    def vocab(self) -> Path:
        return self.root / VOCAB

    @property
    def word_vectors(self) -> Path:
        return self.root / WORD_VECTORS

    @property
    def user_vectors(self) -> Path:
        return self.root / USER_VECTORS

    @property
    def user_ids(self) -> Path:
        return self.root / USER_IDS

    @property
    def places(self) -> Path:
        return self.root / PLACES

    @property
    def image_features_dir(self) -> Path:
        return self.root / IMAGE_FEATURES_DIR

    def image_features(self, split: str) -> tuple[Path, Path]:
        """(matrix, ids) of one split's precomputed image features."""
        return feature_pair(self.image_features_dir, split)

    def image_feature_files(self, splits: Iterable[str] = SPLITS) -> list[Path]:
        return [path for split in splits for path in self.image_features(split)]

    @property
    def text_features_dir(self) -> Path:
        return self.root / TEXT_FEATURES_DIR

    def text_features(self, stem: str) -> tuple[Path, Path]:
        """(matrix, ids) of the MiniLM rows named ``stem`` (a split, or ``hashtags_{split}``)."""
        return feature_pair(self.text_features_dir, stem)

    @property
    def place_text_features(self) -> tuple[Path, Path]:
        """(matrix, index) of the places' neighbour-text features; index: {place id: [first row, rows]}."""
        matrix, index = PLACE_TEXT_FEATURES
        return self.text_features_dir / matrix, self.text_features_dir / index

    @property
    def profile_features(self) -> tuple[Path, Path]:
        """(matrix, names) of the distinct profile locations' features."""
        matrix, names = PROFILE_FEATURES
        return self.text_features_dir / matrix, self.text_features_dir / names

    def text_feature_files(self, splits: Iterable[str] = SPLITS) -> list[Path]:
        out = [*self.place_text_features, *self.profile_features]
        for split in splits:
            for stem in (split, f"hashtags_{split}"):
                out += self.text_features(stem)
        return out

    def has_text_features(self) -> bool:
        return self.text_features("train")[0].is_file()


def feature_pair(directory: Path, stem: str) -> tuple[Path, Path]:
    """A float16 ``.npy`` matrix and the JSON list of the tweet id of each of its rows."""
    return directory / f"{stem}.npy", directory / f"{stem}_ids.json"


def split_path(splits_dir: Path, name: str) -> Path:
    return splits_dir / f"{name}.jsonl"


def read_split(splits_dir: Path, name: str, desc: str | None = None) -> Iterator[Tweet]:
    """Stream the tweets of one split file (written by prepare's write_splits); relative image paths
    are taken relative to the splits directory."""
    path = split_path(splits_dir, name)
    if not path.is_file():
        raise WorkDirError(f"{path} not found: run `tweetembed prepare` first")
    with path.open(encoding="utf-8") as handle:
        lines: Iterable[str] = handle
        if desc is not None:
            lines = tqdm(handle, desc=desc, unit=" tweets", leave=False)
        for line in lines:
            if line.strip():
                yield Tweet.from_flat(json.loads(line), path.parent)


@dataclass
class PrepareManifest:
    """The summary fields of WORK/prepare.json that later steps read, typed.

    prepare.json also holds the per-step skip state (``version``, ``steps``, kept by
    training/prepare/steps.py). Every field is optional because hand-built or partial WORK directories
    (tests, older runs) may lack some; readers fall back to the preset's value.
    """

    data: str | None = None  # the raw DATA prepare read (where bot labels may live)
    work: str | None = None
    split: str | None = None
    split_rule: dict[str, Any] | None = None
    seed: int | None = None
    config: str | None = None
    word_dim: int | None = None
    user_dim: int | None = None
    image_encoder: str | None = None
    image_size: int | None = None
    place_neighbours: int | None = None
    text_encoder: str | None = None
    min_count: int | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: Any) -> PrepareManifest:
        if not isinstance(obj, dict):
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in known and v is not None})

    @classmethod
    def load(cls, work: Path) -> PrepareManifest:
        """WORK/prepare.json's summary, empty when the file is absent."""
        path = WorkLayout(Path(work)).prepare_json
        if not path.is_file():
            return cls()
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
