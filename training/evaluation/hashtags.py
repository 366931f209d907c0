"""Hashtag recommendation (paper, Fig. 5): P/R/F1 at k = 1..5 on test tweets given without hashtags."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from model.heads.author_history import AuthorHistory
from model.heads.hashtag_index import HashtagRecommender
from model.heads.vector_index import build_index
from model.record import Tweet
from model.tokenizer import tokenize
from training.heads.embedding import Embedder, drop_components
from training.heads.fit_indexes import embed_hashtags, hashtag_counts
from training.metrics import precision_recall_f1_at_k

KS = (1, 2, 3, 4, 5)
PAPER_METHOD = "max cosine to hashtag embeddings (paper)"
NEIGHBOUR_METHOD = "hashtags of joint-space neighbours"


def text_without_hashtags(tweet: Tweet) -> str:
    """What a text baseline may see of a tweet whose hashtags are the answer."""
    return " ".join(tokenize(tweet.text or ""))


def prf_curve(predicted: Sequence[Sequence[str]], truth: Sequence[set[str]]) -> dict[str, list[float]]:
    curve: dict[str, list[float]] = {"k": list(KS), "precision": [], "recall": [], "f1": []}
    for k in KS:
        p, r, f = precision_recall_f1_at_k(predicted, truth, k)
        curve["precision"].append(round(p, 4))
        curve["recall"].append(round(r, 4))
        curve["f1"].append(round(f, 4))
    return curve


def test_queries(test: Sequence[Tweet]) -> tuple[list[int], list[set[str]]]:
    rows = [i for i, t in enumerate(test) if t.hashtags]
    return rows, [{h.lower() for h in test[i].hashtags} for i in rows]


def joint_recommendations(
    embedder: Embedder, train: Sequence[Tweet], test_batch: Any, rows: Sequence[int]
) -> list[list[str]]:
    """The paper's method: max cosine between each training hashtag and the tweet's components."""
    tags = sorted(hashtag_counts(train))
    recommender = HashtagRecommender(build_index(embed_hashtags(embedder, tags)), tags)
    queries = drop_components(test_batch.rows(list(rows)), {"hashtags"})  # the tweet minus its hashtags
    return [[t for t, _ in r] for r in recommender.recommend(queries, k=max(KS))]


TFIDF_VOTES = "TF-IDF neighbours, rank-weighted votes (k on val)"
AUTHOR_ELSE_VOTES = "author's most used earlier hashtags (training and validation splits), then TF-IDF votes"


def baseline_recommendations(
    train: Sequence[Tweet], val: Sequence[Tweet], test: Sequence[Tweet], rows: Sequence[int]
) -> dict[str, Callable[[], tuple[list[list[str]], dict[str, Any] | None]]]:
    """Most popular hashtags, rank-weighted TF-IDF neighbour votes with the number of neighbours
    chosen on ``val`` (training/baselines), and, where some query's author has tagged earlier tweets
    (training and validation splits, as the served head's table counts), those authors' own most used
    tags before the votes; lazily, each gives its test answers and its selection."""
    from training.baselines.hashtags import PopularHashtags, tune_voting_hashtags

    train_lists = [[h.lower() for h in t.hashtags] for t in train]
    query_texts = [text_without_hashtags(test[i]) for i in rows]

    def popular() -> tuple[list[list[str]], dict[str, Any] | None]:
        return [list(r) for r in PopularHashtags().fit(train_lists).recommend(len(rows), max(KS))], None

    @functools.cache  # the author rule falls back on the same answers: fitted once
    def votes() -> tuple[list[list[str]], dict[str, Any] | None]:
        tagged = [t for t in train if t.hashtags]
        val_tagged = [t for t in val if t.hashtags]
        model, selection = tune_voting_hashtags(
            ([text_without_hashtags(t) for t in tagged], [list(t.hashtags) for t in tagged]),
            ([text_without_hashtags(t) for t in val_tagged], [list(t.hashtags) for t in val_tagged]),
        )
        chosen = (
            selection.to_json()
            if val_tagged
            else {"parameter": "neighbours", "chosen": model.neighbours, "metric": "no validation tweets"}
        )
        return [list(r) for r in model.recommend(query_texts, max(KS))], chosen

    makers: dict[str, Callable[[], tuple[list[list[str]], dict[str, Any] | None]]] = {
        "Most popular hashtags": popular,
        TFIDF_VOTES: votes,
    }
    history = AuthorHistory.of([*train, *val], lambda t: [h.lower() for h in t.hashtags])
    if any(history.counts.get(test[i].user_id or "") for i in rows):

        def author_else_votes() -> tuple[list[list[str]], dict[str, Any] | None]:
            # A practitioner's first try where authors repeat: their own tags first, by how often they
            # used them, the text's neighbours' votes after (the rule of location's AUTHOR_ELSE_TFIDF).
            voted, chosen = votes()
            out = []
            for i, fallback in zip(rows, voted, strict=True):
                own = history.ranked(test[i].user_id)
                out.append((own + [t for t in fallback if t not in own])[: max(KS)])
            return out, chosen

        makers[AUTHOR_ELSE_VOTES] = author_else_votes
    return makers


def neighbour_recommendations(
    tagged_train: Sequence[Tweet], train_batch: Any, test_batch: Any, rows: Sequence[int], neighbours: int
) -> list[list[str]]:
    """The served head's default: hashtags of the training tweets nearest in the joint space."""
    from model.heads.hashtag_neighbours import NeighbourHashtagRecommender, average_without

    row_tags = [list(dict.fromkeys(h.lower() for h in t.hashtags)) for t in tagged_train]
    recommender = NeighbourHashtagRecommender(build_index(average_without(train_batch)), row_tags, neighbours)
    queries = drop_components(test_batch.rows(list(rows)), {"hashtags"})
    return [[t for t, _ in r] for r in recommender.recommend(queries, k=max(KS))]


def served_neighbour_recommendations(
    ckpt: Path, test_batch: Any, rows: Sequence[int], authors: Sequence[str | None] | None = None
) -> tuple[list[list[str]], dict[str, Any]] | None:
    """The checkpoint's own neighbour head (model.heads.loader, as the service loads it, with the
    neighbour count, vote weighting and author table build-heads chose) on the test queries
    (``authors[j]``: query j's author, as the service reads it from user_id), and what it is; None
    where the checkpoint has none. ``served`` says whether the service answers with it: heads.json's
    hashtag_method "tags" serves the paper's max-cosine head, and this one is then a comparison."""
    from model.heads.loader import heads_summary, load_neighbour_hashtags

    head = load_neighbour_hashtags(ckpt)
    if head is None:
        return None
    queries = drop_components(test_batch.rows(list(rows)), {"hashtags"})
    summary = heads_summary(ckpt)
    built = summary.get("heads", {})
    recorded = dict(built.get("hashtag_neighbours", {})) if isinstance(built, dict) else {}
    info = {
        "source": "checkpoint",
        "served": summary.get("hashtag_method", "neighbours") == "neighbours",
        "neighbours": head.neighbours,
        "weighting": head.weighting,
        "author_weight": head.author_weight,
        # how many test queries the author table answers for (0 without one)
        "known_authors": sum(1 for a in authors or () if head.authors is not None and head.authors.shares(a)),
        "selection": recorded.get("selection", {"metric": "not recorded"}),
    }
    ranked = head.recommend(queries, k=max(KS), authors=list(authors) if authors is not None else None)
    return [[t for t, _ in r] for r in ranked], info
