"""Hashtag recommendation by neighbours in the joint space: the hashtags of the training tweets
whose average embedding (hashtags left out) is nearest the query's, each neighbour's vote weighted by
its cosine or by 1/rank (build-heads chooses the weighting and the number of neighbours on the
validation split; heads fitted before that vote by cosine). Where the query's author tagged
training tweets, the author's own earlier hashtags are added to the votes, with a weight chosen on
the validation split too (0 where they do not help; model/heads/author_history.py).

Why a second recommender: the paper's one (hashtag_index.py) scores single-hashtag embeddings
against the query's other components, which works only as far as training aligned the hashtag
branch with each of the other branches. Tweet-to-tweet similarity of the averages needs only what
every component's training objective optimises, and measured better on the synthetic world (see
docs/evaluation/report.md, where both are reported).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from model.heads.author_history import AUTHOR_HASHTAGS_FILE, AuthorHistory
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
        authors: AuthorHistory | None = None,
        author_weight: float = 0.0,
    ) -> None:
        """``authors``: the hashtags of each author's training tweets; ``author_weight`` (0: the table
        is not read) scales the author's share of tweets with a tag, added to the tag's vote share."""
        if index.ntotal != len(row_tags):
            raise ValueError(f"neighbour index holds {index.ntotal} tweets for {len(row_tags)} tag lists")
        if weighting not in VOTE_WEIGHTINGS:
            raise ValueError(f"vote weighting must be one of {VOTE_WEIGHTINGS}, not {weighting!r}")
        if author_weight < 0:
            raise ValueError("author_weight must not be negative")
        self.index = index
        self.row_tags = row_tags
        self.neighbours = neighbours
        self.weighting = weighting
        self.authors = authors
        self.author_weight = author_weight if authors is not None else 0.0

    def search(self, batch: EmbeddingBatch, most: int) -> list[list[tuple[float, int]]]:
        """Per tweet, up to ``most`` (cosine, index row) of the nearest training tweets, nearest first;
        none for a tweet without components."""
        queries = average_without(batch)  # (N, dim)
        n_search = min(most, int(self.index.ntotal))
        if n_search == 0:
            return [[] for _ in range(len(queries))]
        sims, rows = self.index.search(queries, n_search)  # (N, K) each
        return [
            [(s, r) for s, r in zip(sims[i].tolist(), rows[i].tolist(), strict=True) if r >= 0]
            if np.linalg.norm(queries[i]) > 0
            else []
            for i in range(len(queries))
        ]

    def vote(
        self, found: list[tuple[float, int]], k: int, skip: set[str], author: str | None = None
    ) -> list[tuple[str, float]]:
        """Top-k (tag, score) from one tweet's neighbours (the first ``self.neighbours`` of ``found``)
        and its author; ``skip``: lower-cased tags left out."""
        weights: dict[str, float] = defaultdict(float)
        total = 0.0
        for rank, (sim, row) in enumerate(found[: self.neighbours], start=1):
            w = 1.0 / rank if self.weighting == "rank" else max(float(sim), 0.0)
            total += w
            for tag in self.row_tags[row]:
                weights[tag] += w
        scores = {t: w / total if total > 0 else 0.0 for t, w in weights.items()}
        if self.authors is not None and self.author_weight > 0:
            for tag, share in self.authors.shares(author).items():
                scores[tag] = scores.get(tag, 0.0) + self.author_weight * share
        ranked = sorted(
            ((t, s) for t, s in scores.items() if t.lower() not in skip), key=lambda ts: (-ts[1], ts[0])
        )
        return ranked[:k]

    def recommend(
        self,
        batch: EmbeddingBatch,
        k: int,
        exclude_own: list[set[str]] | None = None,
        authors: Sequence[str | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-k (tag, score) per tweet: the tag's share of the neighbours' vote weight, plus
        ``author_weight`` x the share of the author's training tweets with it (``authors[i]``: the
        tweet's author id, where known)."""
        found = self.search(batch, self.neighbours)
        return [
            self.vote(
                row,
                k,
                {t.lower() for t in exclude_own[i]} if exclude_own else set(),
                authors[i] if authors is not None else None,
            )
            for i, row in enumerate(found)
        ]

    def save_meta(self, heads_dir: Path) -> None:
        """The recommender's settings and row tags (META_FILE) and its author table, where it reads
        one (AUTHOR_HASHTAGS_FILE; removed otherwise, so a rebuilt head never reads a stale one)."""
        table = heads_dir / AUTHOR_HASHTAGS_FILE
        table.unlink(missing_ok=True)
        if self.authors is not None and self.author_weight > 0:
            self.authors.save(table)
        meta = {
            "row_tags": self.row_tags,
            "neighbours": self.neighbours,
            "weighting": self.weighting,
            "author_weight": self.author_weight if table.exists() else 0.0,
        }
        (heads_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, heads_dir: Path) -> NeighbourHashtagRecommender:
        meta = json.loads((heads_dir / META_FILE).read_text(encoding="utf-8"))
        weight = float(meta.get("author_weight", 0.0))
        return cls(
            load_index(heads_dir / INDEX_FILE),
            [list(t) for t in meta["row_tags"]],
            int(meta["neighbours"]),
            str(meta.get("weighting", "cosine")),
            AuthorHistory.load(heads_dir / AUTHOR_HASHTAGS_FILE) if weight > 0 else None,
            weight,
        )
