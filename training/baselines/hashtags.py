"""Hashtag recommendation baselines: the most popular tags, the tags of the nearest training tweets by
TF-IDF cosine, and rank-weighted votes of those neighbours with their number chosen on the validation
split. Hashtags are compared lower-cased (#Coffee is #coffee)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from training.baselines.selection import Selection


def _lower_unique(tags: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(t.lower().lstrip("#") for t in tags if t.strip("#")))


class PopularHashtags:
    """Recommends the k most used training hashtags to every query."""

    def __init__(self) -> None:
        self.ranked: list[str] = []

    def fit(self, hashtag_lists: Sequence[Sequence[str]]) -> PopularHashtags:
        counts: Counter[str] = Counter()
        for tags in hashtag_lists:
            counts.update(_lower_unique(tags))
        self.ranked = sorted(counts, key=lambda t: (-counts[t], t))
        return self

    def recommend(self, n_queries: int, k: int) -> list[list[str]]:
        return [self.ranked[:k] for _ in range(n_queries)]


class TfidfNeighbourHashtags:
    """The hashtags of the training tweets most similar to the query text, nearest first.

    Walks down the neighbours until k distinct tags are found; queries with no similar tweet (no
    shared word) are filled up with the most popular tags, so every answer has k tags when it can.
    """

    def __init__(self, neighbours: int = 50, batch: int = 512) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True, lowercase=True)
        self.neighbours = neighbours
        self.batch = batch
        self.tags: list[list[str]] = []
        self.popular = PopularHashtags()

    def fit(self, texts: Sequence[str], hashtag_lists: Sequence[Sequence[str]]) -> TfidfNeighbourHashtags:
        if len(texts) != len(hashtag_lists):
            raise ValueError("texts and hashtag_lists differ in length")
        keep = [i for i, tags in enumerate(hashtag_lists) if _lower_unique(tags)]
        self.tags = [_lower_unique(hashtag_lists[i]) for i in keep]
        self.matrix = self.vectorizer.fit_transform([texts[i] for i in keep])  # (N, V), rows L2-normalised
        self.popular.fit(hashtag_lists)
        return self

    def recommend(self, texts: Sequence[str], k: int) -> list[list[str]]:
        out: list[list[str]] = []
        n = self.matrix.shape[0]
        m = min(self.neighbours, n)
        for start in range(0, len(texts), self.batch):
            q = self.vectorizer.transform(texts[start : start + self.batch])  # (B, V)
            sims = (q @ self.matrix.T).toarray()  # (B, N) cosine, as both sides are L2-normalised
            top = (
                np.argpartition(-sims, m - 1, axis=1)[:, :m]
                if m < n
                else np.tile(np.arange(n), (len(sims), 1))
            )
            for row, cand in zip(sims, top, strict=True):
                order = cand[np.lexsort((cand, -row[cand]))]  # by similarity, ties by training order
                picked: list[str] = []
                for j in order:
                    if row[j] <= 0.0:
                        break
                    for tag in self.tags[j]:
                        if tag not in picked:
                            picked.append(tag)
                    if len(picked) >= k:
                        break
                for tag in self.popular.ranked:
                    if len(picked) >= k:
                        break
                    if tag not in picked:
                        picked.append(tag)
                out.append(picked[:k])
        return out


# Neighbour counts tried on the validation split.
NEIGHBOUR_GRID: tuple[int, ...] = (5, 10, 20, 50, 100)


class TfidfVotingHashtags:
    """Rank-weighted votes of the nearest training tweets by TF-IDF cosine (word 1-2-grams, sublinear
    tf): the neighbour at rank r (1 = nearest) gives each of its tags 1/r, and tags are answered by
    their summed votes (ties by first appearance). Neighbours with no shared word do not vote; short
    answers are filled up with the most popular tags."""

    def __init__(self, neighbours: int = 20, batch: int = 512) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), lowercase=True)
        self.neighbours = neighbours
        self.batch = batch
        self.tags: list[list[str]] = []
        self.popular = PopularHashtags()

    def fit(self, texts: Sequence[str], hashtag_lists: Sequence[Sequence[str]]) -> TfidfVotingHashtags:
        if len(texts) != len(hashtag_lists):
            raise ValueError("texts and hashtag_lists differ in length")
        keep = [i for i, tags in enumerate(hashtag_lists) if _lower_unique(tags)]
        if not keep:
            raise ValueError("no training tweet has a hashtag")
        self.tags = [_lower_unique(hashtag_lists[i]) for i in keep]
        self.matrix = self.vectorizer.fit_transform([texts[i] for i in keep])  # (N, V), rows L2-normalised
        self.popular.fit(hashtag_lists)
        return self

    def neighbour_lists(self, texts: Sequence[str], most: int) -> list[list[int]]:
        """Each query's up to ``most`` nearest training rows with a positive cosine, nearest first
        (ties by training order)."""
        out: list[list[int]] = []
        n = self.matrix.shape[0]
        m = min(most, n)
        for start in range(0, len(texts), self.batch):
            q = self.vectorizer.transform(texts[start : start + self.batch])  # (B, V)
            sims = (q @ self.matrix.T).toarray()  # (B, N) cosine, both sides L2-normalised
            top = (
                np.argpartition(-sims, m - 1, axis=1)[:, :m]
                if m < n
                else np.tile(np.arange(n), (len(sims), 1))
            )
            for row, cand in zip(sims, top, strict=True):
                order = cand[np.lexsort((cand, -row[cand]))]
                out.append([int(j) for j in order if row[j] > 0.0])
        return out

    def vote(self, neighbours: Sequence[int], k: int) -> list[str]:
        scores: dict[str, float] = {}
        for rank, j in enumerate(neighbours, start=1):
            for tag in self.tags[j]:
                scores[tag] = scores.get(tag, 0.0) + 1.0 / rank
        order = {tag: i for i, tag in enumerate(scores)}  # first appearance
        picked = sorted(scores, key=lambda t: (-scores[t], order[t]))[:k]
        for tag in self.popular.ranked:
            if len(picked) >= k:
                break
            if tag not in picked:
                picked.append(tag)
        return picked

    def recommend(self, texts: Sequence[str], k: int) -> list[list[str]]:
        return [self.vote(n, k) for n in self.neighbour_lists(texts, self.neighbours)]


def tune_voting_hashtags(
    train: tuple[Sequence[str], Sequence[Sequence[str]]],
    val: tuple[Sequence[str], Sequence[Sequence[str]]],
    grid: Sequence[int] = NEIGHBOUR_GRID,
) -> tuple[TfidfVotingHashtags, Selection]:
    """Fit on ``train`` (texts, hashtag lists) and keep the neighbour count with the best F1@1 on the
    validation tweets that have hashtags (the smaller count on a tie). The test split is never an
    argument."""
    from training.metrics import precision_recall_f1_at_k

    model = TfidfVotingHashtags(neighbours=max(grid)).fit(*train)
    rows = [i for i, tags in enumerate(val[1]) if _lower_unique(tags)]
    truth = [set(_lower_unique(val[1][i])) for i in rows]
    lists = model.neighbour_lists([val[0][i] for i in rows], max(grid))
    scores: dict[str, float] = {}
    best: tuple[float, int] | None = None
    for k in sorted(grid):
        predicted = [model.vote(n[:k], 1) for n in lists]
        f1 = precision_recall_f1_at_k(predicted, truth, 1)[2] if rows else 0.0
        scores[str(k)] = round(f1, 4)
        if best is None or f1 > best[0]:
            best = (f1, k)
    if best is None:
        raise ValueError("empty grid")
    model.neighbours = best[1]
    return model, Selection("neighbours", best[1], scores, "validation F1@1")
