"""A model-free Backend: deterministic hash-seeded vectors and tiny heads built on them.

It lets the API, its limits and its batching be tested in milliseconds, and gives a development
server without a checkpoint. Texts are sums of per-token vectors, so texts sharing words are close;
everything else is one seeded vector per content, so equal inputs always give equal vectors.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.engine.backend import HEAD_NAMES, BotExplanation
from model.embedding_batch import EmbeddingBatch
from model.heads.bot_features import BotUser
from model.heads.location_head import LocationContext, PlaceGuess
from model.record import COMPONENTS, Tweet
from model.tokenizer import tokenize

FAKE_USERS: frozenset[str] = frozenset({"alice", "bob", "carol", "dave"})
FAKE_PLACES: dict[str, tuple[str, float, float]] = {
    "p-paris": ("Paris", 48.86, 2.35),
    "p-london": ("London", 51.51, -0.13),
    "p-nyc": ("New York", 40.71, -74.01),
    "p-tokyo": ("Tokyo", 35.68, 139.69),
}
FAKE_HASHTAGS: tuple[str, ...] = (
    "music",
    "love",
    "food",
    "travel",
    "art",
    "photo",
    "news",
    "sports",
    "football",
    "fashion",
    "nature",
    "summer",
    "coffee",
    "tech",
    "ai",
    "paris",
    "london",
    "nyc",
    "tokyo",
    "beach",
)
FAKE_TRAIN_SIZE = 40


def _unit(seed_text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)  # (dim,)
    return v / np.linalg.norm(v)


def _normalised(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm > 0 else v.astype(np.float32)


class FakeBackend:
    kind = "fake"

    def __init__(self, dim: int = 32, delay_s: float = 0.0, heads: Sequence[str] = HEAD_NAMES) -> None:
        self.components: tuple[str, ...] = COMPONENTS
        self.dim = dim
        self.delay_s = delay_s  # simulated forward time, to test queueing and shutdown
        self.checkpoint_digest = hashlib.sha256(f"fake-backend-{dim}".encode()).hexdigest()
        self.batch_sizes: list[int] = []  # one entry per embed() call, for batching tests
        self._lock = threading.Lock()
        self._heads = {h: h in heads for h in HEAD_NAMES}
        self._tags = np.stack([_unit(f"tag:{t}", dim) for t in FAKE_HASHTAGS])  # (H, dim)
        self._place_ids = list(FAKE_PLACES)
        self._places = np.stack([self._text_vector(FAKE_PLACES[p][0]) for p in self._place_ids])  # (P, dim)
        self._train_ids = [f"train-{i}" for i in range(FAKE_TRAIN_SIZE)]
        self._text_index = np.stack(
            [  # (T, dim)
                self._text_vector(f"{FAKE_HASHTAGS[i % len(FAKE_HASHTAGS)]} tweet {i}")
                for i in range(FAKE_TRAIN_SIZE)
            ]
        )
        self._image_index = np.stack([_unit(f"train-image:{i}", dim) for i in range(FAKE_TRAIN_SIZE)])

    # --- embedding ----------------------------------------------------------------------------
    def _text_vector(self, text: str) -> np.ndarray:
        tokens = tokenize(text) or ["<unk>"]
        return _normalised(np.sum([_unit(f"word:{t}", self.dim) for t in tokens], axis=0))

    def _component(self, tweet: Tweet, image: np.ndarray | None, component: str) -> np.ndarray | None:
        if component == "text" and tweet.text:
            return self._text_vector(tweet.text)
        if component == "image" and image is not None:
            digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
            return _unit(f"image:{digest}", self.dim)
        if component == "hashtags" and tweet.hashtags:
            return _normalised(np.sum([_unit(f"tag:{h.lower()}", self.dim) for h in tweet.hashtags], axis=0))
        if component == "location" and tweet.place_id in FAKE_PLACES:
            place: np.ndarray = self._places[self._place_ids.index(tweet.place_id)]
            return place
        if component == "user" and tweet.user_id in FAKE_USERS:
            return _unit(f"user:{tweet.user_id}", self.dim)
        return None

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        with self._lock:
            self.batch_sizes.append(len(tweets))
        if self.delay_s:
            time.sleep(self.delay_s)
        n = len(tweets)
        comps = {c: np.zeros((n, self.dim), np.float32) for c in self.components}  # (N, dim) each
        present = {c: np.zeros(n, bool) for c in self.components}  # (N,) each
        for i, (tweet, image) in enumerate(zip(tweets, images, strict=True)):
            for c in self.components:
                vec = self._component(tweet, image, c)
                if vec is not None:
                    comps[c][i] = vec
                    present[c][i] = True
        return EmbeddingBatch.from_components(comps, present)

    # --- heads --------------------------------------------------------------------------------
    def heads_available(self) -> dict[str, bool]:
        return dict(self._heads)

    def recommend_hashtags(
        self,
        batch: EmbeddingBatch,
        k: int,
        exclude: list[set[str]] | None,
        authors: list[str | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        scores = batch.average @ self._tags.T  # (N, H)
        out = []
        for i, row in enumerate(scores):
            own = {t.lower() for t in exclude[i]} if exclude else set()
            ranked = [
                (FAKE_HASHTAGS[j], float(row[j])) for j in np.argsort(-row) if FAKE_HASHTAGS[j] not in own
            ]
            out.append(ranked[:k])
        return out

    def predict_location(
        self, batch: EmbeddingBatch, texts: LocationContext, k: int
    ) -> list[list[PlaceGuess]]:
        logits = 5.0 * (batch.average @ self._places.T)  # (N, P)
        for i, profile in enumerate(texts.profile):
            if profile:
                logits[i] += 5.0 * (self._places @ self._text_vector(profile))
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)  # (N, P)
        out = []
        for row in probs:
            guesses = []
            for j in np.argsort(-row)[:k]:
                name, lat, lon = FAKE_PLACES[self._place_ids[j]]
                guesses.append(PlaceGuess(self._place_ids[j], name, float(row[j]), lat, lon))
            out.append(guesses)
        return out

    @property
    def bot_threshold(self) -> float:
        return 0.5

    @property
    def bot_recent_tweets(self) -> int:
        return 20

    def bot_scores(self, user_tweet_averages: list[np.ndarray]) -> np.ndarray:
        # Bots repeat themselves: the mean pairwise similarity of a user's tweets drives the score.
        scores = []
        for averages in user_tweet_averages:  # (n_u, dim)
            n = averages.shape[0]
            sims = averages @ averages.T  # (n_u, n_u)
            mean_sim = float((sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else 0.0
            scores.append(1.0 / (1.0 + np.exp(-10.0 * (mean_sim - 0.5))))
        return np.asarray(scores, np.float64)

    def bot_explain(self, user: BotUser, posters: dict[int, int]) -> BotExplanation:
        n = self.bot_recent_tweets
        score = float(self.bot_scores([user.averages[:n]])[0])
        return BotExplanation(score, {"embedding": score}, min(n, len(user.fields)), n, "fake", False)

    def search(self, index: str, queries: list[np.ndarray], k: int) -> list[list[tuple[str, float]]]:
        vectors = self._image_index if index == "image" else self._text_index  # (T, dim)
        out = []
        for query in queries:  # (m, dim)
            best = (query @ vectors.T).max(axis=0) if len(query) else np.zeros(len(vectors))  # (T,)
            out.append([(self._train_ids[j], float(best[j])) for j in np.argsort(-best)[:k]])
        return out

    @property
    def alive(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release."""

    def info(self) -> dict[str, Any]:
        return {
            "config": {"components": list(self.components), "dim": self.dim, "fake": True},
            "device": "cpu",
            "fp16": False,
            "known_users": sorted(FAKE_USERS),
            "known_places": sorted(FAKE_PLACES),
        }
