"""Fitting the bot head: kNN over user mean vectors (paper, k=1), Kim's CNN (paper's other method), or
a random forest over statistics of the user's tweet vectors (model/heads/bot_forest.py)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from model.heads.bot_forest import ForestBotDetector, user_statistics
from model.heads.bot_head import CnnBotDetector, KimCnn, KnnBotDetector, pad_users, user_mean_vectors


def fit_knn(
    user_rows: Sequence[NDArray[np.floating]],
    labels: NDArray[np.integer],
    dim: int,
    k: int = 1,
    n_recent: int = 10,
) -> KnnBotDetector:
    return KnnBotDetector(user_mean_vectors(user_rows, dim), np.asarray(labels), k=k, n_recent=n_recent)


def fit_cnn(
    user_rows: Sequence[NDArray[np.floating]],
    labels: NDArray[np.integer],
    dim: int,
    n_recent: int = 10,
    windows: Sequence[int] = (2, 3, 4),
    feature_maps: int = 300,
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> CnnBotDetector:
    """Adam on binary cross-entropy. The paper balanced classes by duplicating minority users with
    other tweets; with at most n recent tweets per user here, the loss is class-weighted instead."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = KimCnn(dim, windows, feature_maps)
    length = max(n_recent, max(windows))
    x = torch.from_numpy(pad_users(user_rows, length, dim))  # (U, n, dim)
    y = torch.from_numpy(np.asarray(labels, dtype=np.float32))  # (U,)
    positives = float(y.sum())
    pos_weight = torch.tensor((len(y) - positives) / max(positives, 1.0))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    net.train()
    for _ in tqdm(range(epochs), desc="bot CNN", unit="epoch", leave=False, disable=not progress):
        order = rng.permutation(len(y))
        for start in range(0, len(order), batch_size):
            idx = torch.from_numpy(order[start : start + batch_size])
            optimiser.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
    return CnnBotDetector(net, dim, n_recent=n_recent)


# The served heads' and the evaluation's threshold wherever none was chosen on training data.
DEFAULT_THRESHOLD = 0.5


def f1_maximising_threshold(labels: NDArray[np.integer], scores: NDArray[np.floating]) -> float:
    """The score t that maximises the bot class's F1 when users with ``score >= t`` are called bots.

    Candidates are the distinct scores: any other t flags the same users as the smallest distinct
    score above it. Ties go to the larger t (the same F1 with fewer users flagged). F1 is computed as
    2 tp / (2 tp + fp + fn) from integer counts, so equal F1s compare equal and the tie rule holds.
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    candidates = np.unique(s)  # (C,) ascending
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tp = len(pos) - np.searchsorted(pos, candidates, side="left")  # (C,) positives with score >= t
    fp = len(neg) - np.searchsorted(neg, candidates, side="left")
    fn = len(pos) - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)  # (C,)
    return float(candidates[np.flatnonzero(f1 == f1.max())[-1]])


def oob_threshold(forest: Any, labels: NDArray[np.integer]) -> float:
    """The F1-maximising bot threshold on the forest's out-of-bag bot probabilities of its own training
    users: each user is scored only by the trees whose bootstrap left it out, so the threshold is set
    on training data without scoring users by trees that saw them.

    Falls back to DEFAULT_THRESHOLD when out-of-bag predictions are unavailable: a forest fitted without
    ``oob_score``, or too few users or trees for the users that have an out-of-bag vote (a user drawn
    into every bootstrap gets none; scikit-learn leaves its row all zeros) to include both classes.
    """
    oob = getattr(forest, "oob_decision_function_", None)
    if oob is None:
        return DEFAULT_THRESHOLD
    oob = np.asarray(oob, dtype=np.float64)  # (U, 2) over forest.classes_
    covered = oob.sum(axis=1) > 0  # (U,)
    y = np.asarray(labels)[covered]
    if len(np.unique(y)) < 2:
        return DEFAULT_THRESHOLD
    return f1_maximising_threshold(y, oob[covered, list(forest.classes_).index(1)])


def fit_balanced_forest(
    features: NDArray[np.floating],
    labels: NDArray[np.integer],
    seed: int = 0,
    n_estimators: int = 300,
    n_jobs: int = 2,
) -> tuple[Any, float]:
    """(forest, bot threshold): scikit-learn's forest with balanced per-tree class weights (bots are the
    minority), trees grown out, and the threshold chosen on its out-of-bag predictions (oob_threshold).

    Class weights alone do not make 0.5 a good threshold: with 10% bots the forest rarely gives a bot
    more than half the votes, so F1 at 0.5 can be 0 with a high ROC AUC.
    """
    from sklearn.ensemble import RandomForestClassifier

    y = np.asarray(labels, dtype=np.int64)
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        class_weight="balanced_subsample",
        oob_score=True,
        n_jobs=n_jobs,
        random_state=seed,
    )
    with warnings.catch_warnings():
        # Users without an out-of-bag vote are left out by oob_threshold; the warning adds nothing.
        warnings.filterwarnings("ignore", message="Some inputs do not have OOB scores", category=UserWarning)
        forest.fit(features, y)
    return forest, oob_threshold(forest, y)


def fit_forest(
    user_rows: Sequence[NDArray[np.floating]],
    labels: NDArray[np.integer],
    dim: int,
    n_recent: int = 10,
    seed: int = 0,
    n_estimators: int = 300,
    n_jobs: int = 2,
) -> ForestBotDetector:
    """fit_balanced_forest over user_statistics: at one row per user and 2*dim + 4 features it stays
    small (users, not tweets, are the rows). The detector's threshold (bots.json, GET /bot-score) is the
    out-of-bag F1-maximising one."""
    recent = [np.asarray(rows).reshape(-1, dim)[:n_recent] for rows in user_rows]
    features = user_statistics(recent, dim)  # (U, 2*dim + 4)
    forest, threshold = fit_balanced_forest(
        features, labels, seed=seed, n_estimators=n_estimators, n_jobs=n_jobs
    )
    forest.n_jobs = 1  # scoring is a few users at a time (and goes through FlatForest anyway)
    return ForestBotDetector(forest, dim, n_recent=n_recent, threshold=threshold)
