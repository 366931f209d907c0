"""A numpy stand-in for TweetEmbedder and a tiny seeded world, so head and evaluation tests run
without a trained model: topic words, hashtags, images, users and places share a topic vector."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model.embedding_batch import EmbeddingBatch
from model.record import COMPONENTS, Tweet

if TYPE_CHECKING:
    from training.heads.select_bots import BotTrainingSet

DIM = 16
TOPICS = 4


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def _hashed(token: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:4], "little")
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


def token_vector(token: str) -> np.ndarray:
    """Tokens named like 'w2', 'tag2', 'img2', 'city2' lean towards topic 2's direction."""
    noise = _hashed(token)
    topic = None
    for prefix in ("w", "tag", "img", "city", "user"):
        if token.startswith(prefix) and token[len(prefix) :].split("_")[0].isdigit():
            topic = int(token[len(prefix) :].split("_")[0]) % TOPICS
    if topic is None:
        return _unit(noise)
    return _unit(3.0 * _hashed(f"topic{topic}") + noise)


@dataclass
class _Config:
    dim: int = DIM
    components: tuple[str, ...] = COMPONENTS


class FakeEmbedder:
    # What app/engine/backend.py's Embedder protocol asks beyond embed/embed_texts (ModelBackend in tests).
    fp16 = False
    processes = 0
    alive = True
    device_name = "cpu"

    def __init__(self, components: Sequence[str] = COMPONENTS) -> None:
        self.config = _Config(components=tuple(components))

    def close(self) -> None:
        """Nothing to release."""

    def _text(self, text: str) -> np.ndarray:
        words = [w for w in text.split() if not w.startswith("#")]
        return _unit(np.sum([token_vector(w) for w in words], axis=0)) if words else np.zeros(DIM, np.float32)

    def embed(self, tweets: Sequence[Tweet], images: Any = None) -> EmbeddingBatch:
        n = len(tweets)
        comps = {c: np.zeros((n, DIM), np.float32) for c in self.config.components}
        present = {c: np.zeros(n, bool) for c in self.config.components}
        for i, t in enumerate(tweets):
            values = {
                "text": self._text(t.text) if t.text and self._text(t.text).any() else None,
                "image": token_vector(Path(t.image).stem) if t.image else None,
                "hashtags": _unit(np.sum([token_vector(h.lower()) for h in t.hashtags], axis=0))
                if t.hashtags
                else None,
                "location": token_vector(t.place_id) if t.place_id else None,
                "user": token_vector(t.user_id) if t.user_id else None,
            }
            for c in self.config.components:
                if values[c] is not None:
                    comps[c][i] = values[c]
                    present[c][i] = True
        total = sum(comps[c] * present[c][:, None] for c in self.config.components)
        average = total / np.maximum(np.linalg.norm(total, axis=1, keepdims=True), 1e-12)
        return EmbeddingBatch(comps, present, average.astype(np.float32))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._text(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def embed_hashtags(self, tags: Sequence[str]) -> np.ndarray:
        return np.stack([token_vector(t.lower()) for t in tags]) if tags else np.zeros((0, DIM), np.float32)


def tiny_tweets(n: int = 240, seed: int = 0) -> list[Tweet]:
    """Tweets whose every component follows one of TOPICS topics; users 'bot' on odd topics."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        topic = int(rng.integers(TOPICS))
        user = f"user{topic}_{int(rng.integers(6))}"
        words = " ".join(f"w{topic}_{int(rng.integers(5))}" for _ in range(4))
        tag = f"tag{topic}_{int(rng.integers(3))}"
        day = f"2020-03-{1 + i % 10:02d}"
        out.append(
            Tweet(
                id=str(i),
                text=f"{words} #{tag}",
                created_at=f"{day}T12:{i % 60:02d}:00Z",
                hashtags=(tag,),
                user_id=user,
                user_location=f"city{topic} area",
                place_id=f"city{topic}",
                place_type="city",
                place_name=f"City {topic}",
                lat=10.0 * topic,
                lon=5.0 * topic,
                image=f"/nonexistent/img{topic}_{i}.png" if i % 3 else None,
            )
        )
    return out


def write_work_dir(root: Path, tweets: list[Tweet]) -> Path:
    """A prepared-WORK lookalike: splits by day (days 1-8 train, 9 val, 10 test) and bot labels."""
    work = root / "work"
    (work / "splits").mkdir(parents=True)
    parts: dict[str, list[Tweet]] = {"train": [], "val": [], "test": []}
    for t in tweets:
        day = int((t.day or "2020-03-01")[-2:])
        parts["train" if day <= 8 else "val" if day == 9 else "test"].append(t)
    for name, items in parts.items():
        with (work / "splits" / f"{name}.jsonl").open("w") as handle:
            for t in items:
                handle.write(json.dumps(t.to_flat()) + "\n")
    users = sorted({t.user_id for t in tweets if t.user_id})
    with (work / "bot_labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "label"])
        for u in users:
            writer.writerow([u, "bot" if int(u[4]) % 2 else "human"])
    (work / "prepare.json").write_text(json.dumps({"data": str(work)}))
    return work


def tiny_bot_training_set() -> BotTrainingSet:
    """A bot training set over ``tiny_tweets(480, seed=1)``: bots are the users on odd topics (the
    fixture's users are user{topic}_{k})."""
    from training.evaluation.bots_only import _training_set

    tweets = tiny_tweets(480, seed=1)
    users = sorted({t.user_id for t in tweets if t.user_id})
    labels = {u: int(u[4]) % 2 for u in users}
    return _training_set(tweets, users, labels, FakeEmbedder(), 100)
