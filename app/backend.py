"""What the routes need from a model: the ``Backend`` protocol and the embedding result it returns.

Two implementations: ``ModelBackend`` (app/model_backend.py, the trained checkpoint and its heads) and
``FakeBackend`` (app/fake_backend.py, deterministic hash vectors for tests and development). Every
method is synchronous and may be slow: the service calls them from worker threads, never on the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from model.heads.bot_features import BotUser
from model.heads.location_head import PlaceGuess
from model.record import Tweet

HEAD_NAMES: tuple[str, ...] = ("hashtags", "location", "bots", "image_index", "text_index")


class BackendUnavailableError(RuntimeError):
    """The model behind a loaded backend cannot answer (its process died); a 503, not a 500."""


@dataclass
class EmbeddingResult:
    """Same fields as model.embedding_batch.EmbeddingBatch, so either can flow through the service."""

    components: dict[str, np.ndarray]  # component -> (N, dim) float32, L2-normalised; zero rows where absent
    present: dict[str, np.ndarray]  # component -> (N,) bool
    average: np.ndarray  # (N, dim) L2-normalised mean of the present components

    def __len__(self) -> int:
        return int(self.average.shape[0])

    def row(self, i: int) -> EmbeddingRow:
        # Copies, not views: a cached row must not keep its whole batch's arrays alive.
        return EmbeddingRow(
            components={c: v[i].copy() for c, v in self.components.items()},
            present={c: bool(p[i]) for c, p in self.present.items()},
            average=self.average[i].copy(),
        )

    @classmethod
    def from_rows(cls, rows: Sequence[EmbeddingRow], components: Sequence[str], dim: int) -> EmbeddingResult:
        n = len(rows)
        comps = {c: np.zeros((n, dim), np.float32) for c in components}  # (N, dim)
        present = {c: np.zeros(n, bool) for c in components}  # (N,)
        average = np.zeros((n, dim), np.float32)  # (N, dim)
        for i, row in enumerate(rows):
            for c in components:
                if row.present.get(c, False):
                    comps[c][i] = row.components[c]
                    present[c][i] = True
            average[i] = row.average
        return cls(comps, present, average)


@dataclass
class EmbeddingRow:
    """One tweet's share of an EmbeddingResult."""

    components: dict[str, np.ndarray]  # component -> (dim,)
    present: dict[str, bool]
    average: np.ndarray  # (dim,)


def average_of(components: dict[str, np.ndarray], present: dict[str, bool], dim: int) -> np.ndarray:
    """The tweet average as DESIGN.md defines it: L2-normalised mean of the present components."""
    rows = [v for c, v in components.items() if present.get(c, False)]
    if not rows:
        return np.zeros(dim, np.float32)
    mean: np.ndarray = np.mean(np.stack(rows), axis=0)  # (dim,)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else mean.astype(np.float32)


@dataclass(frozen=True)
class BotExplanation:
    """A bot score as /bot-score returns it."""

    probability: float  # in [0, 1]; calibrated when ``calibrated``
    subscores: dict[str, float]  # feature group (content, behaviour, embedding) -> P(bot) from it alone
    tweets_used: int
    fitted_tweets: int  # tweets per user the detector was fitted on
    detector: str
    calibrated: bool


class Backend(Protocol):
    """The model behind the routes. ``None`` from a head method means that head is not in the checkpoint."""

    kind: str  # "model" or "fake"
    components: tuple[str, ...]  # the components the checkpoint embeds, in COMPONENTS order
    dim: int
    checkpoint_digest: str  # sha256 of manifest.json: the checkpoint's identity in cache keys

    def embed(self, tweets: Sequence[Tweet], images: Sequence[np.ndarray | None]) -> EmbeddingResult:
        """Every component of every tweet in one forward pass; images[i] stands for tweets[i]'s image:
        uint8 (S, S, 3) pixels at the image encoder's input size (app/images.py decodes to it)."""
        ...

    def heads_available(self) -> dict[str, bool]:
        """HEAD_NAMES -> whether that head was loaded."""
        ...

    def recommend_hashtags(
        self, batch: EmbeddingResult, k: int, exclude: list[set[str]] | None
    ) -> list[list[tuple[str, float]]]: ...

    def predict_location(
        self, batch: EmbeddingResult, profile_locations: Sequence[str | None], k: int
    ) -> list[list[PlaceGuess]]:
        """Top-k places per tweet; profile_locations[i] is the author's free-text profile location."""
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
