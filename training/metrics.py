"""Evaluation metrics shared by the synthetic-world report, the trainer's validation and the harness.

Each is small, but they are written once here so that every number in a report is computed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import f1_score, roc_auc_score

EARTH_RADIUS_KM = 6371.0088


def ranks_of_targets(scores: NDArray[np.floating], targets: NDArray[np.integer]) -> NDArray[np.int64]:
    """1-based rank of each query's target among its scores (higher score = better).

    Ties count against the target (a target tied with others gets the worst of their ranks), so a
    constant scorer cannot look good.
    """
    scores = np.asarray(scores)  # (Q, N)
    targets = np.asarray(targets)  # (Q,)
    target_scores = scores[np.arange(len(targets)), targets][:, None]  # (Q, 1)
    ranks: NDArray[np.int64] = (scores >= target_scores).sum(axis=1).astype(np.int64)
    return ranks


def recall_at_k(ranks: NDArray[np.integer], k: int) -> float:
    """Share of queries whose target is within the top k."""
    ranks = np.asarray(ranks)
    return float((ranks <= k).mean()) if ranks.size else 0.0


def median_rank(ranks: NDArray[np.integer]) -> float:
    ranks = np.asarray(ranks)
    return float(np.median(ranks)) if ranks.size else math.nan


def precision_recall_f1_at_k(
    predicted: Sequence[Sequence[str]], truth: Sequence[Collection[str]], k: int
) -> tuple[float, float, float]:
    """Averages over queries of P@k, R@k and F1@k (F1 per query, then averaged).

    P@k divides by k even when fewer than k items were predicted, as a recommender that returns
    nothing should not score well. Queries with an empty truth set are skipped.
    """
    if len(predicted) != len(truth):
        raise ValueError("predicted and truth differ in length")
    precisions, recalls, f1s = [], [], []
    for pred, true in zip(predicted, truth, strict=True):
        true_set = set(true)
        if not true_set:
            continue
        hits = len(set(list(pred)[:k]) & true_set)
        p = hits / k
        r = hits / len(true_set)
        precisions.append(p)
        recalls.append(r)
        f1s.append(0.0 if hits == 0 else 2 * p * r / (p + r))
    if not precisions:
        return 0.0, 0.0, 0.0
    return float(np.mean(precisions)), float(np.mean(recalls)), float(np.mean(f1s))


Coord = NDArray[np.floating] | float


def haversine_km(lat1: Coord, lon1: Coord, lat2: Coord, lon2: Coord) -> NDArray[np.float64]:
    """Great-circle distance in km (element-wise)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def accuracy_within_km(
    pred_latlon: NDArray[np.floating], true_latlon: NDArray[np.floating], km: float = 161.0
) -> float:
    """Share of predictions within ``km`` of the truth (161 km = 100 miles, the usual geolocation bar)."""
    pred = np.asarray(pred_latlon, dtype=np.float64)  # (N, 2)
    true = np.asarray(true_latlon, dtype=np.float64)  # (N, 2)
    if pred.size == 0:
        return 0.0
    dist = haversine_km(pred[:, 0], pred[:, 1], true[:, 0], true[:, 1])
    return float((dist <= km).mean())


def binary_f1_auc(
    y_true: NDArray[np.integer], scores: NDArray[np.floating], threshold: float = 0.5
) -> tuple[float, float]:
    """F1 of ``scores >= threshold`` for the positive class 1, and ROC AUC (nan with one class only)."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    f1 = float(f1_score(y, (s >= threshold).astype(int), zero_division=0))
    auc = float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else math.nan
    return f1, auc
