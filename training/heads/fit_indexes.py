"""Hashtag index and the image / text retrieval indexes, written into CKPT/heads/."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from model.heads.hashtag_index import INDEX_FILE, TAGS_FILE
from model.heads.vector_index import DEFAULT_HNSW_THRESHOLD, build_index, save_index
from model.record import Tweet
from training.baselines.hashtags import NEIGHBOUR_GRID
from training.heads.embedding import Embedder

if TYPE_CHECKING:
    from model.heads.author_history import AuthorHistory
    from model.heads.hashtag_neighbours import NeighbourHashtagRecommender


def hashtag_counts(tweets: Sequence[Tweet]) -> Counter[str]:
    """Lower-cased hashtag -> number of tweets using it (a tag counted once per tweet)."""
    counts: Counter[str] = Counter()
    for tweet in tweets:
        counts.update({h.lower() for h in tweet.hashtags})
    return counts


def embed_hashtags(embedder: Embedder, tags: Sequence[str], batch_size: int = 1024) -> NDArray[np.float32]:
    dim = int(embedder.config.dim)
    parts = [
        embedder.embed_hashtags(list(tags[i : i + batch_size]))
        for i in tqdm(range(0, len(tags), batch_size), desc="embed hashtags", unit="batch", leave=False)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dim), dtype=np.float32)


def write_hashtag_index(
    heads_dir: Path,
    tags: Sequence[str],
    vectors: NDArray[np.floating],
    counts: Counter[str] | None = None,
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
) -> dict[str, Any]:
    index = build_index(vectors, hnsw_threshold)
    save_index(index, heads_dir / INDEX_FILE)
    tag_counts: Counter[str] = counts or Counter()
    meta = {"tags": list(tags), "counts": [int(tag_counts.get(t, 0)) for t in tags]}
    (heads_dir / TAGS_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return {"hashtags": len(tags), "index": type(index).__name__}


def write_retrieval_index(
    heads_dir: Path,
    name: str,
    ids: Sequence[str],
    vectors: NDArray[np.floating],
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
) -> dict[str, Any]:
    index = build_index(vectors, hnsw_threshold)
    save_index(index, heads_dir / f"{name}.faiss")
    (heads_dir / f"{name}.json").write_text(json.dumps({"ids": list(ids)}), encoding="utf-8")
    return {"items": len(ids), "index": type(index).__name__}


# Weights of the author's own earlier hashtags against the neighbours' vote shares tried on the
# validation split (0: the head without them; 4 lets a known author's habit outvote any neighbours).
AUTHOR_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class HashtagValidation:
    """The validation tweets with hashtags: embedded, their lower-cased hashtags, their authors."""

    batch: Any
    truth: list[set[str]]
    authors: list[str | None]


def write_neighbour_hashtags(
    heads_dir: Path,
    tweets: Sequence[Tweet],
    batch: Any,
    neighbours: int,
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
    validation: HashtagValidation | None = None,
    later: Sequence[Tweet] = (),
) -> dict[str, Any]:
    """The joint-space neighbour recommender: training tweets with hashtags, by their average
    embedding without the hashtag component, each with its (lower-cased, distinct) hashtags.

    ``neighbours`` > 0 fixes the number of voting neighbours, with cosine votes and no author table
    (the head before issue 12); 0 chooses the number, the vote weighting and the weight of the
    author's earlier hashtags (the training tweets' table) by F1@1 on ``validation``
    (choose_neighbour_votes), and falls back to the fixed head's settings without validation tweets.
    Where an author weight is chosen, the table served also counts the hashtags of ``later`` (the
    validation split: the most recent tweets the checkpoint knows)."""
    from model.heads.author_history import AuthorHistory
    from model.heads.hashtag_neighbours import (
        DEFAULT_NEIGHBOURS,
        NeighbourHashtagRecommender,
        average_without,
    )
    from model.heads.hashtag_neighbours import INDEX_FILE as NEIGHBOUR_INDEX

    rows = [i for i, t in enumerate(tweets) if t.hashtags]
    vectors = average_without(batch.rows(rows))  # (R, dim)
    keep = [j for j in range(len(rows)) if np.linalg.norm(vectors[j]) > 0]
    row_tags = [list(dict.fromkeys(h.lower() for h in tweets[rows[j]].hashtags)) for j in keep]
    index = build_index(vectors[keep], hnsw_threshold)
    save_index(index, heads_dir / NEIGHBOUR_INDEX)
    recommender = NeighbourHashtagRecommender(index, row_tags, DEFAULT_NEIGHBOURS)
    selection: dict[str, Any] = {"metric": f"fixed: --hashtag-neighbours {neighbours}"}
    if neighbours > 0:
        recommender.neighbours = neighbours
    elif validation is not None and validation.truth and keep:
        tags_of = lambda t: [h.lower() for h in t.hashtags]  # noqa: E731
        recommender, scores = choose_neighbour_votes(
            recommender, validation, AuthorHistory.of(tweets, tags_of)
        )
        if recommender.authors is not None and later:
            # chosen with the training split's table; served with the later tweets' hashtags counted too
            recommender.authors = AuthorHistory.of([*tweets, *later], tags_of)
        selection = {"metric": "validation F1@1", "validation": scores, "queries": len(validation.truth)}
    else:
        selection = {"metric": "no validation tweets with hashtags: the fixed head's settings"}
    recommender.save_meta(heads_dir)
    return {
        "tweets": len(keep),
        "neighbours": recommender.neighbours,
        "weighting": recommender.weighting,
        "author_weight": recommender.author_weight,
        "authors": len(recommender.authors) if recommender.author_weight > 0 and recommender.authors else 0,
        "selection": selection,
        "index": type(index).__name__,
    }


def choose_neighbour_votes(
    recommender: NeighbourHashtagRecommender,
    validation: HashtagValidation,
    authors: AuthorHistory | None = None,
    grid: Sequence[int] = NEIGHBOUR_GRID,
    author_weights: Sequence[float] = AUTHOR_WEIGHTS,
) -> tuple[NeighbourHashtagRecommender, dict[str, float]]:
    """The number of neighbours (``grid``, the TF-IDF voting baseline's), the vote weighting
    (hashtag_neighbours.VOTE_WEIGHTINGS) and the weight of the author's earlier hashtags (``authors``,
    an AuthorHistory; ``author_weights``, only 0 without one) with the best F1@1 on the validation
    tweets; on a tie the earlier weighting (cosine, the fixed head's), then the fewer neighbours, then
    the smaller author weight. Returns the chosen recommender and every candidate's score. The test
    split is never an argument; the index is searched once."""
    from model.heads.hashtag_neighbours import VOTE_WEIGHTINGS, NeighbourHashtagRecommender
    from training.metrics import precision_recall_f1_at_k

    weights = sorted(author_weights) if authors is not None else [0.0]
    found = recommender.search(validation.batch, max(grid))
    scores: dict[str, float] = {}
    best: tuple[float, NeighbourHashtagRecommender] | None = None
    for weighting in VOTE_WEIGHTINGS:
        for k in sorted(grid):
            for weight in weights:
                candidate = NeighbourHashtagRecommender(
                    recommender.index, recommender.row_tags, k, weighting, authors, weight
                )
                top = [
                    [tag for tag, _ in candidate.vote(row, 1, set(), author)]
                    for row, author in zip(found, validation.authors, strict=True)
                ]
                f1 = precision_recall_f1_at_k(top, validation.truth, 1)[2]
                label = f"{weighting} votes, {k} neighbours"
                scores[f"{label}, author weight {weight:g}" if weight > 0 else label] = round(f1, 4)
                if best is None or f1 > best[0]:
                    best = (f1, candidate)
    if best is None:
        raise ValueError("empty neighbour grid")
    return best[1], scores
