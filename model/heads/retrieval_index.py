"""Cross-modal retrieval over training embeddings: images for text -> image, texts for image -> text.

The query is any set of a tweet's component embeddings; an item's score is its best cosine over
them (paper, Fig. 3). Results are the items' tweet ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.vector_index import load_index, search_max_over_rows

IMAGE_INDEX = "image_index"
TEXT_INDEX = "text_index"


class RetrievalIndex:
    def __init__(self, index: Any, ids: list[str]) -> None:
        if index.ntotal != len(ids):
            raise ValueError(f"retrieval index holds {index.ntotal} vectors for {len(ids)} ids")
        self.index = index
        self.ids = ids

    def search(self, queries: Sequence[NDArray[np.floating]], k: int) -> list[list[tuple[str, float]]]:
        """Per query (m_i, dim) rows, the top-k (tweet id, best cosine)."""
        hits = search_max_over_rows(self.index, queries, k)
        return [[(self.ids[j], s) for j, s in row] for row in hits]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def load(cls, heads_dir: Path, name: str) -> RetrievalIndex:
        meta = json.loads((heads_dir / f"{name}.json").read_text(encoding="utf-8"))
        return cls(load_index(heads_dir / f"{name}.faiss"), list(meta["ids"]))
