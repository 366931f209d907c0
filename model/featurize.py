"""Tweets -> per-tweet features -> batched ``TweetTensors``.

Per-tweet features (token ids, hashtag mean vector, user vector, image pixels or features, place id)
are computed once: the trainer caches them for the whole training split, the embedder computes them
per request. ``collate`` turns a list of them into tensors and decides presence, so training and
inference agree on what counts as a component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from model.config import ModelConfig
from model.places import PlaceEncodings, PlaceTable
from model.record import Tweet
from model.tokenizer import Vocabulary, tokenize
from model.tweet_tensors import TweetTensors
from model.user_vectors import UserVectors
from model.word_vectors import WordVectors

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class TweetFeatures:
    tweet_id: str
    text: str | None
    tokens: list[int] | None  # None: no text body (empty, or only hashtags/mentions/nothing)
    image: np.ndarray | torch.Tensor | None  # uint8 (3, H, W) pixels, or float features (F,)
    hashtags: np.ndarray | None  # (word_dim,) mean fastText vector
    user: np.ndarray | None  # (user_dim,)
    place_id: str | None  # only when the place can be embedded (neighbours or a cached encoding)
    text_features: np.ndarray | None = None  # (384,) MiniLM features of the text (minilm branch)


def open_image(source: str | Path | Image.Image | None) -> Image.Image | None:
    """An RGB image, or None when there is none or it does not decode (the component is then absent)."""
    if source is None:
        return None
    try:
        if isinstance(source, Image.Image):
            image = source
        else:
            with Image.open(source) as opened:
                opened.load()
                image = opened
        return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def image_pixels(image: Image.Image, size: int) -> np.ndarray:
    """(3, size, size) uint8: the whole image squashed to a square, as the small CNN sees it."""
    resized = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1).copy()


def normalise_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> ImageNet-normalised float (N, 3, H, W)."""
    mean = torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels.float() / 255.0 - mean) / std


class Featurizer:
    """Holds what featurisation needs: the vocabulary, the word and user vectors, and either the
    places' neighbour texts (training) or their cached encodings (inference)."""

    def __init__(
        self,
        config: ModelConfig,
        vocab: Vocabulary,
        word_vectors: WordVectors | None,
        user_vectors: UserVectors | None,
        places: PlaceTable | None = None,
        place_encodings: PlaceEncodings | None = None,
        place_text_features: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``place_text_features``: the minilm branch's MiniLM features of each place's non-empty
        neighbour texts, (k, 384) rows in the order of ``places``' texts (prepare writes them)."""
        self.config = config
        self.vocab = vocab
        self.word_vectors = word_vectors
        self.user_vectors = user_vectors
        self.places = places
        self.place_encodings = place_encodings
        self.components = set(config.components)
        # Neighbour texts tokenised once: (token ids, writer tweet id, raw text) per place.
        self._neighbours: dict[str, list[tuple[list[int], str | None, str]]] = {}
        self._neighbour_features: dict[str, np.ndarray] = {}  # place -> (k, 384), minilm only
        self.minilm = config.text_encoder == "minilm"
        if places is not None and "location" in self.components:
            for place_id, nb in places.neighbours.items():
                kept = [(text, tid) for text, tid in zip(nb.texts, nb.tweet_ids, strict=True) if text]
                kept = kept[: config.place_neighbours]
                if self.minilm:
                    found = (place_text_features or {}).get(place_id)
                    if found is None or len(found) < len(kept):
                        continue  # no features for this place: it cannot be embedded
                    self._neighbour_features[place_id] = np.asarray(found[: len(kept)], np.float32)
                self._neighbours[place_id] = [
                    (vocab.encode(text, config.max_tokens), tid, text) for text, tid in kept
                ]

    def neighbour_features(self, place_id: str) -> np.ndarray:
        """(k, 384) MiniLM features of a place's neighbour texts (minilm branch, training)."""
        return self._neighbour_features[place_id]

    # ---- per tweet -------------------------------------------------------------------------------
    def text_tokens(self, text: str | None) -> list[int] | None:
        if self.minilm or not text or not tokenize(text):
            return None
        return self.vocab.encode(text, self.config.max_tokens)

    def knows_place(self, place_id: str | None) -> bool:
        if place_id is None or "location" not in self.components:
            return False
        if self.place_encodings is not None:
            return self.place_encodings.row(place_id) is not None
        return bool(self._neighbours.get(place_id))

    def features(
        self,
        tweet: Tweet,
        image: np.ndarray | torch.Tensor | None = None,
        text_features: np.ndarray | None = None,
        hashtag_features: np.ndarray | None = None,
    ) -> TweetFeatures:
        """``image``: pixels or features already prepared by the caller (the image is not read here,
        because training caches pixels or frozen-encoder features and inference may get a PIL image).
        ``text_features`` / ``hashtag_features``: the MiniLM features of the text / the hashtags, for
        the minilm branches (precomputed in training, computed per request by the embedder); None
        means the component is absent."""
        comps = self.components
        hashtags = None
        if "hashtags" in comps and tweet.hashtags:
            if self.config.hashtag_encoder == "minilm":
                hashtags = hashtag_features
            elif self.word_vectors is not None:
                hashtags = self.word_vectors.hashtag_mean(tweet.hashtags)
        user = None
        if "user" in comps and self.user_vectors is not None:
            user = self.user_vectors.get(tweet.user_id)
        return TweetFeatures(
            tweet_id=tweet.id,
            text=tweet.text,
            tokens=self.text_tokens(tweet.text) if "text" in comps else None,
            image=image if "image" in comps else None,
            hashtags=hashtags,
            user=user,
            place_id=tweet.place_id if self.knows_place(tweet.place_id) else None,
            text_features=text_features if "text" in comps and self.minilm else None,
        )

    # ---- batching --------------------------------------------------------------------------------
    def collate(self, items: Sequence[TweetFeatures]) -> TweetTensors:
        batch = TweetTensors(size=len(items))
        text = [(i, f.tokens) for i, f in enumerate(items) if f.tokens is not None]
        if text:
            batch.text_tokens, batch.text_lengths = pad_tokens([t for _, t in text])
            batch.text_rows = _rows([i for i, _ in text])
        sentences = _present_vectors([f.text_features for f in items])
        if sentences is not None:
            batch.text_features, batch.text_rows = sentences
        images = [(i, f.image) for i, f in enumerate(items) if f.image is not None]
        if images:
            arrays = [im for _, im in images]
            stacked = (
                torch.from_numpy(np.stack(arrays))
                if all(isinstance(im, np.ndarray) for im in arrays)
                else torch.stack([torch.as_tensor(im) for im in arrays])
            )
            is_pixels = stacked.dtype == torch.uint8
            batch.image_inputs = normalise_pixels(stacked) if is_pixels else stacked.float()
            batch.image_rows = _rows([i for i, _ in images])
        tags = _present_vectors([f.hashtags for f in items])
        if tags is not None:
            batch.hashtag_vectors, batch.hashtag_rows = tags
        users = _present_vectors([f.user for f in items])
        if users is not None:
            batch.user_vectors, batch.user_rows = users
        if self.place_encodings is not None:
            self._collate_cached_locations(items, batch)
        elif self._neighbours:
            self._collate_neighbour_locations(items, batch)
        return batch

    def _collate_cached_locations(self, items: Sequence[TweetFeatures], batch: TweetTensors) -> None:
        assert self.place_encodings is not None
        found = [(i, self.place_encodings.row(f.place_id)) for i, f in enumerate(items)]
        known = [(i, r) for i, r in found if r is not None]
        if known:
            rows = np.array([r for _, r in known])
            batch.location_encodings = torch.from_numpy(self.place_encodings.encodings[rows])
            batch.location_rows = _rows([i for i, _ in known])

    def _collate_neighbour_locations(self, items: Sequence[TweetFeatures], batch: TweetTensors) -> None:
        """Each distinct place of the batch contributes its neighbour texts once; every tweet averages
        its place's texts except its own (by tweet id, or by identical text when ids are unknown)."""
        offsets: dict[str, int] = {}
        texts: list[list[int]] = []
        feature_blocks: list[np.ndarray] = []
        weight_rows: list[tuple[int, list[int]]] = []
        for i, f in enumerate(items):
            if f.place_id is None or f.place_id not in self._neighbours:
                continue
            neighbours = self._neighbours[f.place_id]
            if f.place_id not in offsets:
                offsets[f.place_id] = len(texts)
                texts.extend(tokens for tokens, _, _ in neighbours)
                if self.minilm:
                    feature_blocks.append(self._neighbour_features[f.place_id])
            start = offsets[f.place_id]
            keep = [
                start + k
                for k, (_, tid, text) in enumerate(neighbours)
                if not (tid == f.tweet_id if tid is not None else text == f.text)
            ]
            if keep:
                weight_rows.append((i, keep))
        if not weight_rows:
            return
        weights = torch.zeros(len(weight_rows), len(texts))  # (n_loc, N)
        for row, (_, keep) in enumerate(weight_rows):
            weights[row, keep] = 1.0 / len(keep)
        if self.minilm:
            batch.neighbour_features = torch.from_numpy(np.concatenate(feature_blocks))  # (N, 384)
        else:
            batch.neighbour_tokens, batch.neighbour_lengths = pad_tokens(texts)
        batch.location_weights = weights
        batch.location_rows = _rows([i for i, _ in weight_rows])


def pad_tokens(sequences: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) long 0-padded ids and (N,) lengths; every sequence has at least one id."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return tokens, lengths


def _rows(indices: list[int]) -> torch.Tensor:
    return torch.tensor(indices, dtype=torch.long)


def _present_vectors(vectors: list[np.ndarray | None]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The batch's vectors of one component stacked as float32 (n, dim), with the rows of the tweets
    that have them; None when no tweet has one, so the batch leaves the component out."""
    present = [(i, v) for i, v in enumerate(vectors) if v is not None]
    if not present:
        return None
    stacked = np.stack([v for _, v in present]).astype(np.float32)
    return torch.from_numpy(stacked), _rows([i for i, _ in present])
