"""Hashtag recommendation by neighbours in the joint space: the hashtags of the training tweets
whose average embedding (hashtags left out) is nearest the query's, each neighbour's vote weighted by
its cosine or by 1/rank (build-heads chooses the weighting and the number of neighbours on the
validation split; heads fitted before that vote by cosine).

Why a second recommender: the paper's one (hashtag_index.py) scores single-hashtag embeddings
against the query's other components, which works only as far as training aligned the hashtag
branch with each of the other branches. Tweet-to-tweet similarity of the averages needs only what
every component's training objective optimises, and measured better on the synthetic world (see
docs/evaluation/report.md, where both are reported).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from model.heads.vector_index import load_index, normalise_rows

if TYPE_CHECKING:
    from model.embedding_batch import EmbeddingBatch

INDEX_FILE = "hashtag_neighbours.faiss"
META_FILE = "hashtag_neighbours.json"
DEFAULT_NEIGHBOURS = 50
VOTE_WEIGHTINGS: tuple[str, ...] = ("cosine", "rank")
"""cosine: a neighbour's vote is its cosine to the query (many near-equal cosines make the votes
nearly uniform, so common tags win); rank: the r-th neighbour's vote is 1/r (the nearest few decide)."""


def average_without(batch: EmbeddingBatch, leave_out: str = "hashtags") -> NDArray[np.float32]:
    """(N, dim) unit mean of the present components other than ``leave_out`` (zero rows if none)."""
    n, dim = batch.average.shape
    total = np.zeros((n, dim), dtype=np.float32)
    for name, vectors in batch.components.items():
        if name != leave_out:
            total += (
                np.asarray(vectors, dtype=np.float32) * np.asarray(batch.present[name], dtype=bool)[:, None]
            )
    return normalise_rows(total)


class NeighbourHashtagRecommender:
    def __init__(
        self,
        index: Any,
        row_tags: list[list[str]],
        neighbours: int = DEFAULT_NEIGHBOURS,
        weighting: str = "cosine",
    ) -> None:
        if index.ntotal != len(row_tags):
            raise ValueError(f"neighbour index holds {index.ntotal} tweets for {len(row_tags)} tag lists")
        if weighting not in VOTE_WEIGHTINGS:
            raise ValueError(f"vote weighting must be one of {VOTE_WEIGHTINGS}, not {weighting!r}")
        self.index = index
        self.row_tags = row_tags
        self.neighbours = neighbours
        self.weighting = weighting

    def recommend(
        self, batch: EmbeddingBatch, k: int, exclude_own: list[set[str]] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-k (tag, share of the neighbours' vote weight) per tweet."""
        queries = average_without(batch)  # (N, dim)
        n_search = min(self.neighbours, int(self.index.ntotal))
        if n_search == 0:
            return [[] for _ in range(len(queries))]
        sims, rows = self.index.search(queries, n_search)  # (N, K) each
        out: list[list[tuple[str, float]]] = []
        for i in range(len(queries)):
            skip = {t.lower() for t in exclude_own[i]} if exclude_own else set()
            weights: dict[str, float] = defaultdict(float)
            total = 0.0
            if np.linalg.norm(queries[i]) > 0:
                found = [(s, r) for s, r in zip(sims[i].tolist(), rows[i].tolist(), strict=True) if r >= 0]
                for rank, (sim, row) in enumerate(found, start=1):
                    w = 1.0 / rank if self.weighting == "rank" else max(float(sim), 0.0)
                    total += w
                    for tag in self.row_tags[row]:
                        weights[tag] += w
            ranked = sorted(
                ((t, w / total if total > 0 else 0.0) for t, w in weights.items() if t.lower() not in skip),
                key=lambda tw: (-tw[1], tw[0]),
            )
            out.append(ranked[:k])
        return out

    @classmethod
    def load(cls, heads_dir: Path) -> NeighbourHashtagRecommender:
        meta = json.loads((heads_dir / META_FILE).read_text(encoding="utf-8"))
        return cls(
            load_index(heads_dir / INDEX_FILE),
            [list(t) for t in meta["row_tags"]],
            int(meta["neighbours"]),
            str(meta.get("weighting", "cosine")),
        )
