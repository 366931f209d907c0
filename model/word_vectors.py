"""fastText word vectors: the text branch's initial embeddings and the hashtag branch's input.

The ``.bin`` format keeps the subword buckets, so words and hashtags never seen in training still get
a vector (the sum of their character n-grams), which is why we do not export a plain ``.vec`` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class WordVectorsError(RuntimeError):
    """The fastText model file is missing or is not a fastText ``.bin`` model."""


class WordVectors:
    """Read-only access to a fastText model; every vector is a fresh float32 copy."""

    def __init__(self, model: Any, path: Path | None = None) -> None:
        self._model = model
        self.path = path
        self.dim: int = int(model.get_dimension())

    @classmethod
    def load(cls, path: Path) -> WordVectors:
        path = Path(path)
        if not path.is_file():
            raise WordVectorsError(f"fastText word vectors not found: {path}")
        import fasttext  # heavy C++ extension: only imported when vectors are needed

        try:
            model = fasttext.load_model(str(path))
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise WordVectorsError(f"{path} is not a readable fastText .bin model: {exc}") from exc
        return cls(model, path)

    def get(self, word: str) -> np.ndarray:
        """(dim,) vector of ``word``; unseen words are built from their subwords."""
        return np.array(self._model.get_word_vector(word), dtype=np.float32, copy=True)

    def matrix(self, words: Sequence[str]) -> np.ndarray:
        """(len(words), dim) float32: one row per word."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        for row, word in enumerate(words):
            out[row] = self.get(word)
        return out

    def hashtag_mean(self, hashtags: Sequence[str]) -> np.ndarray | None:
        """(dim,) mean vector of the hashtags (lower-cased, '#' removed), or None when there are none."""
        tags = [h.lstrip("#＃").lower() for h in hashtags]
        tags = [t for t in tags if t]
        if not tags:
            return None
        mean: np.ndarray = self.matrix(tags).mean(axis=0)
        return mean
