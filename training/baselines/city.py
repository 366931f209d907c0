"""Location baselines: the most frequent city, and TF-IDF + logistic regression on the tweet text and
the author's profile location, with its regularisation chosen on the validation split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from training.baselines.selection import Selection, next_c

# Inverse regularisation strengths tried on the validation split (a decade apart, as a first try is).
C_GRID: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
# While the best C is the largest tried the grid goes on a decade at a time up to C_MAX, and while it
# is the smallest, down to C_MIN (selection.next_c): a best value at the grid's edge says the baseline
# wanted less (or more) regularisation than it was offered.
C_MAX = 1e5
C_MIN = 1e-4


class MajorityClass:
    """Always answers the most frequent training label (ties broken by the label's sort order)."""

    def __init__(self) -> None:
        self.label: str | None = None

    def fit(self, labels: Sequence[str]) -> MajorityClass:
        if not labels:
            raise ValueError("no labels to fit")
        counts = Counter(labels)
        self.label = min(counts, key=lambda label: (-counts[label], label))
        return self

    def predict(self, n: int) -> list[str]:
        if self.label is None:
            raise RuntimeError("fit first")
        return [self.label] * n


class TfidfCityClassifier:
    """Multinomial logistic regression over two TF-IDF blocks side by side: word 1-2-grams of the
    tweet text and character 2-4-grams (within word boundaries) of the profile location, both with
    sublinear tf. Character n-grams match "Little Rock, AR", "little rock" and "LR, Arkansas" in part,
    where whole words would not."""

    def __init__(self, c: float = 10.0, max_features: int = 200_000, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.c = c
        self.text_vectorizer = TfidfVectorizer(
            sublinear_tf=True, ngram_range=(1, 2), min_df=1, max_features=max_features, lowercase=True
        )
        self.profile_vectorizer = TfidfVectorizer(
            sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 4), min_df=1, lowercase=True
        )
        self.model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
        self.with_profile = False
        self.classes_: np.ndarray = np.array([], dtype=object)

    def _features(self, texts: Sequence[str], profiles: Sequence[str] | None, fit: bool) -> object:
        from scipy.sparse import csr_matrix, hstack

        places = [p or "" for p in profiles] if profiles is not None else [""] * len(texts)
        if fit:
            words = self.text_vectorizer.fit_transform(texts)  # (N, V_w) sparse
            # Without a single profile the char vectorizer would have no vocabulary: the block is left out.
            self.with_profile = any(p.strip() for p in places)
            if not self.with_profile:
                return words
            chars = self.profile_vectorizer.fit_transform(places)  # (N, V_c)
        else:
            words = self.text_vectorizer.transform(texts)
            if not self.with_profile:
                return words
            chars = self.profile_vectorizer.transform(places)
        return csr_matrix(hstack([words, chars]))  # (N, V_w + V_c)

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], profiles: Sequence[str] | None = None
    ) -> TfidfCityClassifier:
        if len(set(labels)) < 2:
            raise ValueError("need at least two classes")
        if len(texts) != len(labels) or (profiles is not None and len(profiles) != len(texts)):
            raise ValueError("texts, labels and profiles differ in length")
        self.model.fit(self._features(texts, profiles, fit=True), list(labels))
        self.classes_ = self.model.classes_
        return self

    def predict_proba(self, texts: Sequence[str], profiles: Sequence[str] | None = None) -> np.ndarray:
        proba: np.ndarray = self.model.predict_proba(self._features(texts, profiles, fit=False))  # (N, C)
        return proba

    def predict(self, texts: Sequence[str], profiles: Sequence[str] | None = None) -> list[str]:
        return [str(c) for c in self.classes_[self.predict_proba(texts, profiles).argmax(axis=1)]]


def tune_city_classifier(
    train: tuple[Sequence[str], Sequence[str], Sequence[str]],
    val: tuple[Sequence[str], Sequence[str], Sequence[str]],
    grid: Sequence[float] = C_GRID,
    seed: int = 0,
    *,
    max_c: float = C_MAX,
    min_c: float = C_MIN,
) -> tuple[TfidfCityClassifier, Selection]:
    """Fit one classifier per C on ``train`` (texts, labels, profiles), keep the one with the best
    validation accuracy (the smaller C on a tie), and go on ten times higher while the best is the
    largest tried (up to ``max_c``), ten times lower while it is the smallest (down to ``min_c``).
    The test split is never an argument."""
    best: tuple[tuple[float, float], TfidfCityClassifier] | None = None
    scores: dict[str, float] = {}
    tried: dict[float, float] = {}
    texts, labels, profiles = val
    train_texts, train_labels, train_profiles = train
    todo = sorted(grid)
    while todo:
        c = todo.pop(0)
        model = TfidfCityClassifier(c=c, seed=seed).fit(train_texts, train_labels, train_profiles)
        predicted = model.predict(texts, profiles)
        accuracy = float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))
        scores[str(c)] = round(accuracy, 4)
        tried[c] = accuracy
        if best is None or (accuracy, -c) > best[0]:
            best = ((accuracy, -c), model)
        if not todo and (following := next_c(tried, min_c, max_c)) is not None:
            todo.append(following)
    if best is None:
        raise ValueError("empty grid")
    return best[1], Selection("C", best[1].c, scores, "validation accuracy")
