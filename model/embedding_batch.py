"""What ``TweetEmbedder.embed`` returns: numpy embeddings per component plus presence masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EmbeddingBatch:
    components: dict[str, np.ndarray]  # component -> (N, dim) float32, L2-normalised; zero rows where absent
    present: dict[str, np.ndarray]  # component -> (N,) bool
    average: np.ndarray  # (N, dim) L2-normalised mean of the present components (zero row if none)

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
