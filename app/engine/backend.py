"""What the engine needs from a model: the ``Backend`` protocol, and the ``Embedder`` protocol the
model-backed one runs its forward passes on. Both speak model.embedding_batch.EmbeddingBatch.

Two backends: ``ModelBackend`` (app/engine/model_backend.py, the trained checkpoint and its heads) and
``FakeBackend`` (app/engine/fake_backend.py, deterministic hash vectors for tests and development). Two
embedders: model.embedder.TweetEmbedder in this process, or ``ModelProcessPool``
(app/engine/model_process.py) over child processes. Every method is synchronous and may be slow: the
service calls them from worker threads, never on the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from model.config import ModelConfig
from model.embedding_batch import EmbeddingBatch
from model.heads.bot_features import BotUser
from model.heads.location_head import LocationContext, PlaceGuess
from model.record import Tweet

HEAD_NAMES: tuple[str, ...] = ("hashtags", "location", "bots", "image_index", "text_index")


@dataclass(frozen=True)
class BotExplanation:
    """A bot score as /bot-score returns it."""

    probability: float  # in [0, 1]; calibrated when ``calibrated``
    subscores: dict[str, float]  # feature group (content, behaviour, embedding) -> P(bot) from it alone
    tweets_used: int
    fitted_tweets: int  # tweets per user the detector was fitted on
    detector: str
    calibrated: bool


class Embedder(Protocol):
    """The forward pass: model.embedder.TweetEmbedder, or the model-process pool standing in for it."""

    config: ModelConfig
    checkpoint_digest: str  # sha256 of manifest.json
    fp16: bool

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        """images[i]: tweets[i]'s uint8 (S, S, 3) pixels at the encoder's input size, or None."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) text-branch embeddings."""
        ...

    @property
    def device_name(self) -> str: ...

    @property
    def processes(self) -> int:
        """Model processes behind it; 0 when the forward pass runs in this process."""
        ...

    @property
    def alive(self) -> bool: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """The model behind the routes. ``None`` from a head method means that head is not in the checkpoint."""

    kind: str  # "model" or "fake"
    components: tuple[str, ...]  # the components the checkpoint embeds, in COMPONENTS order
    dim: int
    checkpoint_digest: str  # sha256 of manifest.json: the checkpoint's identity in cache keys

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingBatch:
        """Every component of every tweet in one forward pass; images[i] stands for tweets[i]'s image:
        uint8 (S, S, 3) pixels at the image encoder's input size (app/api/images.py decodes to it)."""
        ...

    def heads_available(self) -> dict[str, bool]:
        """HEAD_NAMES -> whether that head was loaded."""
        ...

    def recommend_hashtags(
        self,
        batch: EmbeddingBatch,
        k: int,
        exclude: list[set[str]] | None,
        authors: list[str | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-k (tag, score) per tweet; exclude: each tweet's own tags to leave out; authors: each
        tweet's user_id as sent (the checkpoint's head may add that author's earlier hashtags)."""
        ...

    def predict_location(
        self, batch: EmbeddingBatch, texts: LocationContext, k: int
    ) -> list[list[PlaceGuess]]:
        """Top-k places per tweet; texts: each tweet's profile location, own text and author, as sent."""
        ...

    def bot_scores(self, user_tweet_averages: list[np.ndarray]) -> np.ndarray:
        """(U,) scores in [0, 1], one per user, from (n_u, dim) tweet averages each (the fixed heads
        only: the selected detector also needs the tweets' fields, see bot_explain)."""
        ...

    def bot_explain(self, user: BotUser, posters: dict[int, int]) -> BotExplanation:
        """One user's score from their stored tweets (newest first) and their texts' poster counts."""
        ...

    @property
    def bot_threshold(self) -> float: ...

    @property
    def bot_recent_tweets(self) -> int:
        """How many recent tweets the bot head was fitted on (the default n of /bot-score)."""
        ...

    def search(self, index: str, queries: list[np.ndarray], k: int) -> list[list[tuple[str, float]]]:
        """index is "image" or "text"; queries[i] is (m_i, dim), scored by its best row."""
        ...

    def info(self) -> dict[str, Any]:
        """Checkpoint config, device and anything else /info should show."""
        ...

    @property
    def alive(self) -> bool:
        """False once the backend can no longer answer (its model process died): /ready says 503."""
        ...

    def close(self) -> None:
        """Release what the backend started (the model process); called once, at shutdown."""
        ...
