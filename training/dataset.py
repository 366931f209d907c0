"""Reading a prepared WORK directory (see docs/DESIGN.md) into what the trainer needs.

Per-tweet features are computed once per split and kept in memory: token ids, hashtag mean vectors,
user vectors and, for the small CNN, the images' pixels at training size (uint8), or, for ResNet
encoders, the rows of the precomputed feature memmap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from model.checkpoint import sha256_file
from model.config import ModelConfig
from model.featurize import Featurizer, TweetFeatures, image_pixels, open_image
from model.places import PlaceTable
from model.record import Tweet
from model.tokenizer import Vocabulary
from model.user_vectors import UserVectors
from model.word_vectors import WordVectors
from training.artifacts import SPLITS, PrepareManifest, WorkDirError, WorkLayout, read_split

__all__ = ["WorkData", "WorkDirError", "load_work", "remember_work_sentences", "split_features"]


@dataclass
class WorkData:
    work_dir: Path
    prepare: PrepareManifest
    vocab: Vocabulary
    word_vectors_path: Path
    word_vectors: WordVectors
    user_vectors: UserVectors | None
    places: PlaceTable | None
    _splits: dict[str, list[Tweet]] = field(default_factory=dict)

    @property
    def layout(self) -> WorkLayout:
        return WorkLayout(self.work_dir)

    def split(self, name: str) -> list[Tweet]:
        if name not in self._splits:
            self._splits[name] = list(read_split(self.layout.splits_dir, name))
        return self._splits[name]

    def fingerprint(self) -> str:
        """sha256 of the training split file: which data a checkpoint was trained on."""
        return sha256_file(self.layout.split("train"))

    def image_features(self, split: str) -> dict[str, np.ndarray] | None:
        """tweet id -> (F,) precomputed ResNet features (rows of a float16 memmap), if prepared."""
        return _feature_rows(*self.layout.image_features(split))

    def has_text_features(self) -> bool:
        return self.layout.has_text_features()

    def text_features(self, split: str) -> dict[str, np.ndarray] | None:
        """tweet id -> (384,) MiniLM features of its text, if prepared (minilm text branch)."""
        return _feature_rows(*self.layout.text_features(split))

    def hashtag_features(self, split: str) -> dict[str, np.ndarray] | None:
        """tweet id -> (384,) MiniLM features of its hashtags, if prepared."""
        return _feature_rows(*self.layout.text_features(f"hashtags_{split}"))

    def place_text_features(self) -> dict[str, np.ndarray] | None:
        """place id -> (k, 384) MiniLM features of its non-empty neighbour texts, in places.json order."""
        matrix_path, index_path = self.layout.place_text_features
        if not matrix_path.is_file():
            return None
        matrix = np.load(matrix_path)
        index = json.loads(index_path.read_text(encoding="utf-8"))
        return {str(pid): matrix[start : start + n] for pid, (start, n) in index.items()}


def _feature_rows(matrix_path: Path, ids_path: Path) -> dict[str, np.ndarray] | None:
    """tweet id -> row of a float16 (N, F) matrix (memory-mapped), or None if not prepared."""
    if not matrix_path.is_file() or not ids_path.is_file():
        return None
    matrix = np.load(matrix_path, mmap_mode="r")
    ids = json.loads(ids_path.read_text(encoding="utf-8"))
    if len(ids) != matrix.shape[0]:
        raise WorkDirError(f"{matrix_path}: {matrix.shape[0]} rows but {len(ids)} ids")
    return {str(tid): matrix[row] for row, tid in enumerate(ids)}


def remember_work_sentences(embedder: Any, work_dir: Path) -> int:
    """Hand prepare's MiniLM features (WORK/text_features) to a MiniLM embedder so that fitting heads
    and evaluating do not run MiniLM over every tweet again; returns how many sentences. The stored
    features are float16, so embeddings differ from freshly computed ones by that rounding only."""
    from model.text_encoders import has_sentence, hashtag_sentence, sentence_text

    layout = WorkLayout(Path(work_dir))
    if not hasattr(embedder, "remember_sentences") or not layout.text_features_dir.is_dir():
        return 0
    total = 0
    for split in SPLITS:
        if not layout.split(split).is_file():
            continue
        tweets = {t.id: t for t in read_split(layout.splits_dir, split)}
        pairs: list[tuple[dict[str, np.ndarray] | None, Callable[[Tweet], str]]] = [
            (_feature_rows(*layout.text_features(split)), lambda t: sentence_text(t.text)),
            (
                _feature_rows(*layout.text_features(f"hashtags_{split}")),
                lambda t: hashtag_sentence(t.hashtags),
            ),
        ]
        for features, sentence_of in pairs:
            if not features:
                continue
            ids = [
                i for i in features if i in tweets and (tweets[i].hashtags or has_sentence(tweets[i].text))
            ]
            matrix = np.stack([np.asarray(features[i], np.float32) for i in ids]) if ids else None
            if matrix is not None:
                total += int(embedder.remember_sentences([sentence_of(tweets[i]) for i in ids], matrix))
    profiles_matrix, profiles_names = layout.profile_features
    if profiles_names.is_file():
        names = json.loads(profiles_names.read_text(encoding="utf-8"))
        matrix = np.load(profiles_matrix).astype(np.float32)
        if names:
            total += int(embedder.remember_sentences(names, matrix))
    return total


def load_work(work_dir: Path) -> WorkData:
    layout = WorkLayout(Path(work_dir))
    if not layout.root.is_dir():
        raise WorkDirError(f"WORK directory not found: {layout.root}")
    for required in (layout.split("train"), layout.vocab, layout.word_vectors):
        if not required.is_file():
            raise WorkDirError(f"{required} not found: run `tweetembed prepare` first")
    users = None
    if layout.user_vectors.is_file() and layout.user_ids.is_file():
        users = UserVectors.load(layout.user_vectors, layout.user_ids)
    return WorkData(
        work_dir=layout.root,
        prepare=PrepareManifest.load(layout.root),
        vocab=Vocabulary.load(layout.vocab),
        word_vectors_path=layout.word_vectors,
        word_vectors=WordVectors.load(layout.word_vectors),
        user_vectors=users,
        places=PlaceTable.load(layout.places) if layout.places.is_file() else None,
    )


def split_features(
    featurizer: Featurizer,
    tweets: Sequence[Tweet],
    config: ModelConfig,
    image_features: dict[str, np.ndarray] | None,
    desc: str,
    progress: bool = True,
    text_features: dict[str, np.ndarray] | None = None,
    hashtag_features: dict[str, np.ndarray] | None = None,
) -> list[TweetFeatures]:
    """Per-tweet features of a split (images decoded once, at training size)."""
    wants_image = "image" in config.components
    convnet = config.image_encoder == "convnet"
    out = []
    for tweet in tqdm(tweets, desc=desc, unit="tweet", disable=not progress, leave=False):
        image: np.ndarray | None = None
        if wants_image and tweet.image:
            if convnet:
                decoded = open_image(tweet.image)
                image = image_pixels(decoded, config.image_size) if decoded is not None else None
            elif image_features is not None:
                image = image_features.get(tweet.id)  # (F,) float16 memmap row, read when batched
        text = text_features.get(tweet.id) if text_features is not None else None
        tags = hashtag_features.get(tweet.id) if hashtag_features is not None else None
        out.append(featurizer.features(tweet, image, text, tags))
    return out
