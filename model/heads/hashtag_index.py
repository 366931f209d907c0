"""Hashtag recommendation: every training hashtag's embedding in a FAISS index (paper, Fig. 4).

A tweet's score for hashtag h is the maximum cosine between h's embedding and any of the tweet's
present component embeddings; the recommendation is the top k by that score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.heads.query_rows import present_rows
from model.heads.vector_index import load_index, search_max_over_rows

if TYPE_CHECKING:
    from model.embedding_batch import EmbeddingBatch

INDEX_FILE = "hashtags.faiss"
TAGS_FILE = "hashtags.json"


class HashtagRecommender:
    def __init__(self, index: Any, tags: list[str]) -> None:
        if index.ntotal != len(tags):
            raise ValueError(f"hashtag index holds {index.ntotal} vectors for {len(tags)} tags")
        self.index = index
        self.tags = tags

    def recommend(
        self,
        batch: EmbeddingBatch,
        k: int,
        exclude_own: list[set[str]] | None = None,
        authors: Sequence[str | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-k (tag, cosine) per tweet; ``exclude_own[i]`` (compared case-insensitively) is left out.
        ``authors`` is not read: the paper's head scores the embeddings alone (the neighbour head's
        signature, so that the service calls either the same way)."""
        queries = present_rows(batch)
        extra = max((len(s) for s in exclude_own), default=0) if exclude_own else 0
        # Asking for k + |excluded| keeps the result exact after the excluded tags are dropped.
        hits = search_max_over_rows(self.index, queries, k + extra)
        out: list[list[tuple[str, float]]] = []
        for i, row in enumerate(hits):
            skip = {t.lower() for t in exclude_own[i]} if exclude_own else set()
            tags = [(self.tags[j], s) for j, s in row if self.tags[j].lower() not in skip]
            out.append(tags[:k])
        return out

    @classmethod
    def load(cls, heads_dir: Path) -> HashtagRecommender:
        meta = json.loads((heads_dir / TAGS_FILE).read_text(encoding="utf-8"))
        return cls(load_index(heads_dir / INDEX_FILE), list(meta["tags"]))
