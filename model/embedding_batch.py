"""What ``TweetEmbedder.embed`` returns: numpy embeddings per component plus presence masks.

The one batch type from the forward pass to the heads and the HTTP answer; ``tweet_average`` is the
numpy form of the tweet average that model/joint.py's ``assemble`` computes in torch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def tweet_average(components: dict[str, np.ndarray], present: dict[str, np.ndarray]) -> np.ndarray:
    """(N, dim) float32: each tweet's L2-normalised mean of its present components (zero if none)."""
    total: np.ndarray | None = None
    for name, vectors in components.items():
        masked = np.asarray(vectors, np.float32) * np.asarray(present[name], bool)[:, None]  # (N, dim)
        total = masked if total is None else total + masked
    if total is None:
        raise ValueError("no components to average")
    norms = np.linalg.norm(total, axis=1, keepdims=True)  # (N, 1); the mean's direction is the sum's
    out: np.ndarray = (total / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


@dataclass
class EmbeddingBatch:
    components: dict[str, np.ndarray]  # component -> (N, dim) float32, L2-normalised; zero rows where absent
    present: dict[str, np.ndarray]  # component -> (N,) bool
    average: np.ndarray  # (N, dim) L2-normalised mean of the present components (zero row if none)

    @classmethod
    def from_components(
        cls, components: dict[str, np.ndarray], present: dict[str, np.ndarray]
    ) -> EmbeddingBatch:
        """A batch whose average is computed here (tweet_average), not by the model."""
        return cls(components, present, tweet_average(components, present))

    @classmethod
    def zeros(cls, names: Sequence[str], n: int, dim: int) -> EmbeddingBatch:
        """n tweets with no component present: the buffer a batch is filled into row by row."""
        return cls(
            {c: np.zeros((n, dim), np.float32) for c in names},
            {c: np.zeros(n, bool) for c in names},
            np.zeros((n, dim), np.float32),
        )

    def __len__(self) -> int:
        return int(self.average.shape[0])

    @property
    def has_any(self) -> np.ndarray:
        """(N,) bool: the tweet has at least one embeddable component (its average is meaningful)."""
        if not self.present:
            return np.zeros(len(self), dtype=bool)
        out: np.ndarray = np.logical_or.reduce(list(self.present.values()))
        return out

    def rows(self, index: np.ndarray | list[int] | slice) -> EmbeddingBatch:
        """A sub-batch (numpy indexing) with the same components."""
        return EmbeddingBatch(
            components={k: v[index] for k, v in self.components.items()},
            present={k: v[index] for k, v in self.present.items()},
            average=self.average[index],
        )

    @staticmethod
    def concat(batches: list[EmbeddingBatch]) -> EmbeddingBatch:
        if not batches:
            raise ValueError("nothing to concatenate")
        names = list(batches[0].components)
        return EmbeddingBatch(
            components={k: np.concatenate([b.components[k] for b in batches]) for k in names},
            present={k: np.concatenate([b.present[k] for b in batches]) for k in names},
            average=np.concatenate([b.average for b in batches]),
        )
