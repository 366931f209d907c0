"""Bot detection (paper, Fig. 7): F1 at 0.5 and ROC AUC, per method, on the same folds.

With separate test labels, methods fit on the training labels and score the test users; without
them, stratified 5-fold cross-validation over the labelled users gives every user an out-of-fold
score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.record import Tweet
from training.heads.fit_bots import fit_cnn, fit_knn
from training.metrics import binary_f1_auc

Scorer = Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.float64]]
"""(train user indexes, test user indexes) -> test scores in [0, 1]."""


def folds(
    labels: NDArray[np.int64], test_mask: NDArray[np.bool_] | None, k: int = 5, seed: int = 0
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    if test_mask is not None:
        return [(np.flatnonzero(~test_mask), np.flatnonzero(test_mask))]
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(
        n_splits=min(k, int(np.bincount(labels).min())), shuffle=True, random_state=seed
    )
    return [
        (a.astype(np.int64), b.astype(np.int64)) for a, b in splitter.split(np.zeros(len(labels)), labels)
    ]


def evaluate_scorers(
    scorers: dict[str, Scorer],
    labels: NDArray[np.int64],
    splits: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    scored = np.concatenate([test for _, test in splits])
    for name, scorer in scorers.items():
        scores = np.zeros(len(labels))
        for train_idx, test_idx in splits:
            scores[test_idx] = scorer(train_idx, test_idx)
        f1, auc = binary_f1_auc(labels[scored], scores[scored], 0.5)
        out[name] = {"F1": round(f1, 4), "AUC": round(auc, 4)}
    return out


def embedding_scorers(
    rows: Sequence[NDArray[np.float32]],
    labels: NDArray[np.int64],
    dim: int,
    knn_ks: Sequence[int],
    with_cnn: bool,
    n_recent: int,
) -> dict[str, Scorer]:
    scorers: dict[str, Scorer] = {}
    for k in knn_ks:

        def knn(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64], k: int = k) -> NDArray[np.float64]:
            det = fit_knn([rows[i] for i in train_idx], labels[train_idx], dim, k=k, n_recent=n_recent)
            return det.score([rows[i] for i in test_idx])

        scorers[f"kNN k={k}" + (" (paper)" if k == 1 else "")] = knn
    if with_cnn:

        def cnn(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> NDArray[np.float64]:
            det = fit_cnn(
                [rows[i] for i in train_idx], labels[train_idx], dim, n_recent=n_recent, progress=False
            )
            return det.score([rows[i] for i in test_idx])

        scorers["Kim CNN (paper)"] = cnn
    return scorers


def behaviour_scorer(users: Sequence[str], tweets: Sequence[Tweet], labels: NDArray[np.int64]) -> Scorer:
    """Random forest on account behaviour features and TF-IDF of the user's tweets (Botometer stand-in)."""
    from scipy import sparse
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer

    from training.baselines.bots import behaviour_features

    by_user: dict[str, list[Tweet]] = defaultdict(list)
    wanted = set(users)
    for t in tweets:
        if t.user_id in wanted:
            by_user[t.user_id].append(t)
    ids, behaviour, _ = behaviour_features({u: by_user[u] for u in users})
    row = {u: i for i, u in enumerate(ids)}
    behaviour = np.asarray(behaviour, dtype=np.float64)
    # Users without tweets (not in behaviour_features' output) get zeros: no behaviour observed.
    behaviour = np.stack(
        [behaviour[row[u]] if u in row else np.zeros(behaviour.shape[1]) for u in users]
    )  # (U, F)
    texts = [" ".join(t.text or "" for t in by_user[u]) for u in users]

    def score(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> NDArray[np.float64]:
        tfidf = TfidfVectorizer(min_df=2, max_features=5000, sublinear_tf=True)
        x_train = sparse.hstack(
            [sparse.csr_matrix(behaviour[train_idx]), tfidf.fit_transform([texts[i] for i in train_idx])]
        ).tocsr()
        x_test = sparse.hstack(
            [sparse.csr_matrix(behaviour[test_idx]), tfidf.transform([texts[i] for i in test_idx])]
        ).tocsr()
        forest = RandomForestClassifier(
            n_estimators=300, class_weight="balanced_subsample", n_jobs=2, random_state=0
        ).fit(x_train, labels[train_idx])
        return np.asarray(forest.predict_proba(x_test)[:, list(forest.classes_).index(1)], dtype=np.float64)

    return score


def describe(labels: NDArray[np.int64], test_mask: NDArray[np.bool_] | None, n_folds: int) -> dict[str, Any]:
    return {
        "users": len(labels),
        "bots": int(labels.sum()),
        "protocol": "given test labels" if test_mask is not None else f"stratified {n_folds}-fold CV",
    }
