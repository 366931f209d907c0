"""Reading a prepared WORK directory (see docs/DESIGN.md) into what the trainer needs.

Per-tweet features are computed once per split and kept in memory: token ids, hashtag mean vectors,
user vectors and, for the small CNN, the images' pixels at training size (uint8), or, for ResNet
encoders, the rows of the precomputed feature memmap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from model.config import ModelConfig
from model.featurize import Featurizer, TweetFeatures, image_pixels, open_image
from model.places import PlaceTable
from model.record import Tweet
from model.tokenizer import Vocabulary
from model.user_vectors import UserVectors
from model.word_vectors import WordVectors

SPLITS = ("train", "val", "test")


class WorkDirError(RuntimeError):
    """WORK is missing a file that ``tweetembed prepare`` should have written."""


@dataclass
class WorkData:
    work_dir: Path
    prepare: dict[str, Any]
    vocab: Vocabulary
    word_vectors_path: Path
    word_vectors: WordVectors
    user_vectors: UserVectors | None
    places: PlaceTable | None
    _splits: dict[str, list[Tweet]] = field(default_factory=dict)

    def split(self, name: str) -> list[Tweet]:
        if name not in self._splits:
            self._splits[name] = read_split(self.work_dir / "splits" / f"{name}.jsonl")
        return self._splits[name]

    def fingerprint(self) -> str:
        """sha256 of the training split file: which data a checkpoint was trained on."""
        path = self.work_dir / "splits" / "train.jsonl"
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def prepared(self, key: str) -> Any:
        """A field of prepare.json, at the top level or under ``dims``."""
        if key in self.prepare:
            return self.prepare[key]
        dims = self.prepare.get("dims")
        return dims.get(key) if isinstance(dims, dict) else None

    def image_features(self, split: str) -> dict[str, np.ndarray] | None:
        """tweet id -> (F,) precomputed ResNet features (rows of a float16 memmap), if prepared."""
        base = self.work_dir / "image_features"
        matrix_path, ids_path = base / f"{split}.npy", base / f"{split}_ids.json"
        if not matrix_path.is_file() or not ids_path.is_file():
            return None
        matrix = np.load(matrix_path, mmap_mode="r")  # (N, F) float16
        ids = json.loads(ids_path.read_text(encoding="utf-8"))
        if len(ids) != matrix.shape[0]:
            raise WorkDirError(f"{matrix_path}: {matrix.shape[0]} rows but {len(ids)} ids")
        return {str(tid): matrix[row] for row, tid in enumerate(ids)}

    def has_text_features(self) -> bool:
        return (self.work_dir / "text_features" / "train.npy").is_file()

    def text_features(self, split: str) -> dict[str, np.ndarray] | None:
        """tweet id -> (384,) MiniLM features of its text, if prepared (minilm text branch)."""
        return feature_rows(self.work_dir, split)

    def hashtag_features(self, split: str) -> dict[str, np.ndarray] | None:
        """tweet id -> (384,) MiniLM features of its hashtags, if prepared."""
        return feature_rows(self.work_dir, f"hashtags_{split}")

    def place_text_features(self) -> dict[str, np.ndarray] | None:
        """place id -> (k, 384) MiniLM features of its non-empty neighbour texts, in places.json order."""
        base = self.work_dir / "text_features"
        if not (base / "places.npy").is_file():
            return None
        matrix = np.load(base / "places.npy")
        index = json.loads((base / "places_index.json").read_text(encoding="utf-8"))
        return {str(pid): matrix[start : start + n] for pid, (start, n) in index.items()}


def feature_rows(work_dir: Path, stem: str) -> dict[str, np.ndarray] | None:
    """tweet id -> row of WORK/text_features/{stem}.npy (float16 memmap), or None if not prepared."""
    base = work_dir / "text_features"
    matrix_path, ids_path = base / f"{stem}.npy", base / f"{stem}_ids.json"
    if not matrix_path.is_file() or not ids_path.is_file():
        return None
    matrix = np.load(matrix_path, mmap_mode="r")  # (N, 384) float16
    ids = json.loads(ids_path.read_text(encoding="utf-8"))
    if len(ids) != matrix.shape[0]:
        raise WorkDirError(f"{matrix_path}: {matrix.shape[0]} rows but {len(ids)} ids")
    return {str(tid): matrix[row] for row, tid in enumerate(ids)}


def remember_work_sentences(embedder: Any, work_dir: Path) -> int:
    """Hand prepare's MiniLM features (WORK/text_features) to a MiniLM embedder so that fitting heads
    and evaluating do not run MiniLM over every tweet again; returns how many sentences. The stored
    features are float16, so embeddings differ from freshly computed ones by that rounding only."""
    from model.text_encoders import has_sentence, hashtag_sentence, sentence_text

    work_dir = Path(work_dir)
    if not hasattr(embedder, "remember_sentences") or not (work_dir / "text_features").is_dir():
        return 0
    total = 0
    for split in SPLITS:
        if not (work_dir / "splits" / f"{split}.jsonl").is_file():
            continue
        tweets = {t.id: t for t in read_split(work_dir / "splits" / f"{split}.jsonl")}
        pairs: list[tuple[dict[str, np.ndarray] | None, Callable[[Tweet], str]]] = [
            (feature_rows(work_dir, split), lambda t: sentence_text(t.text)),
            (feature_rows(work_dir, f"hashtags_{split}"), lambda t: hashtag_sentence(t.hashtags)),
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
    profiles = work_dir / "text_features" / "profiles.json"
    if profiles.is_file():
        names = json.loads(profiles.read_text(encoding="utf-8"))
        matrix = np.load(work_dir / "text_features" / "profiles.npy").astype(np.float32)
        if names:
            total += int(embedder.remember_sentences(names, matrix))
    return total


def read_split(path: Path) -> list[Tweet]:
    if not path.is_file():
        raise WorkDirError(f"{path} not found: run `tweetembed prepare` first")
    tweets = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                tweets.append(Tweet.from_flat(json.loads(line), path.parent))
    return tweets


def load_work(work_dir: Path) -> WorkData:
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise WorkDirError(f"WORK directory not found: {work_dir}")
    for required in ("splits/train.jsonl", "vocab.json", "word_vectors.bin"):
        if not (work_dir / required).is_file():
            raise WorkDirError(f"{work_dir / required} not found: run `tweetembed prepare` first")
    prepare_path = work_dir / "prepare.json"
    prepare = json.loads(prepare_path.read_text(encoding="utf-8")) if prepare_path.is_file() else {}
    users = None
    if (work_dir / "user_vectors.safetensors").is_file() and (work_dir / "user_ids.json").is_file():
        users = UserVectors.load(work_dir / "user_vectors.safetensors", work_dir / "user_ids.json")
    places = PlaceTable.load(work_dir / "places.json") if (work_dir / "places.json").is_file() else None
    return WorkData(
        work_dir=work_dir,
        prepare=prepare if isinstance(prepare, dict) else {},
        vocab=Vocabulary.load(work_dir / "vocab.json"),
        word_vectors_path=work_dir / "word_vectors.bin",
        word_vectors=WordVectors.load(work_dir / "word_vectors.bin"),
        user_vectors=users,
        places=places,
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
