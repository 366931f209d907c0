"""Metric functions on hand-made cases whose answers are worked out by hand in the comments."""

import math

import numpy as np
import pytest

from training.metrics import (
    accuracy_within_km,
    binary_f1_auc,
    haversine_km,
    median_rank,
    precision_recall_f1_at_k,
    ranks_of_targets,
    recall_at_k,
)


def test_ranks_recall_and_median_rank() -> None:
    scores = np.array(
        [
            [0.9, 0.1, 0.3],  # target 0 best -> rank 1
            [0.2, 0.5, 0.8],  # target 1 second -> rank 2
            [0.7, 0.6, 0.1],
        ]
    )  # target 2 last -> rank 3
    ranks = ranks_of_targets(scores, np.array([0, 1, 2]))
    assert ranks.tolist() == [1, 2, 3]
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, 2) == pytest.approx(2 / 3)
    assert median_rank(ranks) == 2.0


def test_ties_count_against_the_target() -> None:
    ranks = ranks_of_targets(np.zeros((2, 4)), np.array([0, 3]))
    assert ranks.tolist() == [4, 4]


def test_precision_recall_f1_at_k() -> None:
    predicted = [["a", "b", "c"], ["x", "y", "z"], ["q"]]
    truth = [{"a", "c"}, {"w"}, {"q", "r"}]
    # k=2: q1 hits {a}: p=.5 r=.5 f=.5 ; q2: 0 ; q3 hits {q}: p=.5 (divides by k) r=.5 f=.5
    p, r, f = precision_recall_f1_at_k(predicted, truth, 2)
    assert p == pytest.approx(1 / 3)
    assert r == pytest.approx(1 / 3)
    assert f == pytest.approx(1 / 3)
    # k=3: q1 hits a,c: p=2/3 r=1 f=.8 ; q2 0 ; q3 p=1/3 r=.5 f=.4
    p, r, f = precision_recall_f1_at_k(predicted, truth, 3)
    assert p == pytest.approx((2 / 3 + 0 + 1 / 3) / 3)
    assert r == pytest.approx((1 + 0 + 0.5) / 3)
    assert f == pytest.approx((0.8 + 0 + 0.4) / 3)


def test_haversine_and_within_km() -> None:
    # New York -> Los Angeles is about 3936 km.
    assert haversine_km(40.7128, -74.0060, 34.0522, -118.2437) == pytest.approx(3936, rel=0.01)
    assert haversine_km(10.0, 20.0, 10.0, 20.0) == pytest.approx(0.0)
    pred = np.array([[40.7128, -74.0060], [40.0, -74.0]])
    true = np.array([[34.0522, -118.2437], [40.5, -74.0]])  # second pair ~55.6 km apart
    assert accuracy_within_km(pred, true) == pytest.approx(0.5)


def test_binary_f1_auc() -> None:
    y = np.array([1, 1, 0, 0])
    scores = np.array([0.9, 0.4, 0.6, 0.1])
    # threshold .5: predicted [1,0,1,0] -> tp=1 fp=1 fn=1 -> F1 = .5
    # AUC: pairs (pos,neg): (.9>.6)(.9>.1)(.4<.6)(.4>.1) -> 3/4
    f1, auc = binary_f1_auc(y, scores)
    assert f1 == pytest.approx(0.5)
    assert auc == pytest.approx(0.75)
    _, auc_one_class = binary_f1_auc(np.array([1, 1]), np.array([0.2, 0.3]))
    assert math.isnan(auc_one_class)
