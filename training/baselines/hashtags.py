"""Hashtag recommendation baselines: the most popular tags, and the tags of the nearest training
tweets by TF-IDF cosine. Hashtags are compared lower-cased (#Coffee is #coffee)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


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
