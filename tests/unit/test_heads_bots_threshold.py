"""The bot forests' decision threshold: chosen on the training users' out-of-bag predictions (checked
against a brute-force search with exact F1 fractions), kept through save/load, and honoured by the
evaluation; plus the behaviour-only and behaviour + embedding statistics forest scorers."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from model.heads.bot_forest import ForestBotDetector, user_statistics
from model.heads.bot_head import load_bot_detector
from model.record import Tweet
from training.baselines.bots import behaviour_features
from training.evaluation.bots import (
    FOREST_SCORER,
    behaviour_matrix,
    embedding_scorers,
    evaluate_scorers,
    forest_scorer,
    hybrid_features,
)
from training.heads.fit_bots import (
    DEFAULT_THRESHOLD,
    f1_maximising_threshold,
    fit_balanced_forest,
    fit_forest,
    oob_threshold,
)

torch.set_num_threads(1)
DIM = 8


def _brute_force_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, bool]:
    """(best threshold, whether several candidates share the best F1) by trying every distinct score,
    F1 as an exact fraction; ties go to the larger threshold."""
    f1_at: dict[float, Fraction] = {}
    for t in set(scores.tolist()):
        tp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s >= t)
        fp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 0 and s >= t)
        fn = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s < t)
        f1_at[t] = Fraction(2 * tp, max(2 * tp + fp + fn, 1))
    best = max(f1_at.values())
    winners = [t for t, f1 in f1_at.items() if f1 == best]
    return max(winners), len(winners) > 1


def test_f1_maximising_threshold_equals_brute_force_including_ties() -> None:
    rng = np.random.default_rng(0)
    ties = 0
    for _ in range(300):
        n = int(rng.integers(2, 15))
        labels = rng.integers(2, size=n)
        labels[0], labels[1] = 0, 1
        scores = rng.integers(0, 5, size=n) / 4  # few distinct values: many equal scores and F1 ties
        want, tied = _brute_force_threshold(labels, scores)
        assert f1_maximising_threshold(labels, scores) == want
        ties += tied
    assert ties >= 5  # the tie rule (larger threshold) was exercised, not just unique maxima


def _imbalanced_users(
    n_users: int, seed: int, bot_share: float = 0.12
) -> tuple[list[np.ndarray], np.ndarray]:
    """'Bots' repeat one direction with noise, 'humans' scatter, with overlap: a weak, noisy signal."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_users) < bot_share).astype(np.int64)
    rows = []
    for y in labels:
        n = int(rng.integers(2, 11))
        centre = rng.standard_normal(DIM)
        spread = rng.uniform(0.5, 2.0) if y else rng.uniform(1.0, 4.0)
        m = centre + spread * rng.standard_normal((n, DIM))
        rows.append((m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32))
    return rows, labels


def test_fit_forest_threshold_is_the_brute_force_f1_maximum_of_its_oob_probabilities() -> None:
    rows, labels = _imbalanced_users(150, seed=1)
    assert 0.05 < labels.mean() < 0.2
    det = fit_forest(rows, labels, dim=DIM, n_estimators=40, n_jobs=1)
    oob = det.forest.oob_decision_function_  # (U, 2)
    covered = oob.sum(axis=1) > 0  # users with at least one out-of-bag tree
    want, _ = _brute_force_threshold(labels[covered], oob[covered, 1])
    assert det.threshold == want
    assert det.threshold != DEFAULT_THRESHOLD  # the imbalance moves it off 0.5 here


def test_oob_threshold_falls_back_to_the_default_without_usable_oob_votes() -> None:
    labels = np.array([0, 0, 1, 1])
    assert oob_threshold(SimpleNamespace(classes_=np.array([0, 1])), labels) == DEFAULT_THRESHOLD
    # Only the humans got an out-of-bag vote (the bots' rows are scikit-learn's all-zero rows).
    oob = np.array([[0.9, 0.1], [0.6, 0.4], [0.0, 0.0], [0.0, 0.0]])
    forest = SimpleNamespace(classes_=np.array([0, 1]), oob_decision_function_=oob)
    assert oob_threshold(forest, labels) == DEFAULT_THRESHOLD
    oob[2] = [0.3, 0.7]
    assert oob_threshold(forest, labels) == 0.7  # flags the one covered bot alone: F1 = 1


def test_forest_detector_round_trips_its_fitted_threshold(tmp_path: Path) -> None:
    rows, labels = _imbalanced_users(80, seed=2, bot_share=0.2)
    det = fit_forest(rows, labels, dim=DIM, n_estimators=20, n_jobs=1)
    det.save(tmp_path)
    assert json.loads((tmp_path / "bots.json").read_text())["threshold"] == det.threshold
    loaded = load_bot_detector(tmp_path)
    assert isinstance(loaded, ForestBotDetector) and loaded.threshold == det.threshold


def test_evaluate_scorers_judges_each_fold_at_its_methods_threshold() -> None:
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 0])
    splits = [
        (np.array([4, 5, 6, 7]), np.array([0, 1, 2, 3])),
        (np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7])),
    ]
    scores = np.array([0.4, 0.45, 0.1, 0.7, 0.2, 0.3, 0.35, 0.05])
    fold_threshold = {0: 0.42, 4: 0.25}

    def plain(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return scores[test]

    def own(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, float]:
        return scores[test], fold_threshold[int(test[0])]

    got = evaluate_scorers({"plain": plain, "own": own}, labels, splits)
    # At 0.5 only user 3 is flagged: tp 1, fp 0, fn 2 -> F1 2/4. At the fold thresholds users 1, 3
    # (>= 0.42) and 5, 6 (>= 0.25) are flagged: tp 3, fp 1, fn 0 -> F1 6/7.
    assert got["plain"]["F1"] == 0.5 and got["plain"]["thresholds"] == [0.5, 0.5]
    assert got["own"]["F1"] == round(6 / 7, 4) and got["own"]["thresholds"] == [0.42, 0.25]
    assert got["own"]["AUC"] == got["plain"]["AUC"] == round(roc_auc_score(labels, scores), 4)


def test_behaviour_matrix_keeps_the_given_order_and_zeros_users_without_tweets() -> None:
    tweets = [
        Tweet(id="1", text="buy now http://x.co #deal", user_id="b", created_at="2020-01-01T00:00:00Z"),
        Tweet(id="2", text="buy now http://x.co #deal", user_id="b", created_at="2020-01-02T00:00:00Z"),
        Tweet(id="3", text="lovely walk today", user_id="a", created_at="2020-01-01T00:00:00Z"),
    ]
    got = behaviour_matrix(["b", "nobody", "a"], tweets)
    ids, want, _ = behaviour_features({"a": [tweets[2]], "b": tweets[:2], "nobody": []})
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(got, np.stack([want[1], np.zeros(want.shape[1]), want[0]]))


def test_hybrid_forest_scorer_uses_behaviour_and_embedding_statistics() -> None:
    rows, labels = _imbalanced_users(120, seed=3, bot_share=0.25)
    rng = np.random.default_rng(4)
    behaviour = np.stack([labels + 0.8 * rng.standard_normal(len(labels)), rng.random(len(labels))], axis=1)
    hybrid = hybrid_features(behaviour, rows, DIM, n_recent=10)
    np.testing.assert_array_equal(hybrid, np.hstack([behaviour, user_statistics(rows, DIM)]))
    train, test = np.arange(80), np.arange(80, 120)
    scores, threshold = forest_scorer(hybrid, labels, n_estimators=30, n_jobs=1)(train, test)
    forest, want = fit_balanced_forest(hybrid[train], labels[train], n_estimators=30, n_jobs=1)
    assert threshold == want  # the served head's rule, on the training users only
    np.testing.assert_allclose(scores, forest.predict_proba(hybrid[test])[:, 1])
    assert roc_auc_score(labels[test], scores) > 0.75


def test_embedding_statistics_forest_is_judged_at_the_heads_own_threshold() -> None:
    rows, labels = _imbalanced_users(80, seed=5, bot_share=0.2)
    train, test = np.arange(60), np.arange(60, 80)
    scorer = embedding_scorers(rows, labels, DIM, knn_ks=(), with_cnn=False, n_recent=10)[FOREST_SCORER]
    result = scorer(train, test)
    assert isinstance(result, tuple)
    det = fit_forest([rows[i] for i in train], labels[train], DIM, n_recent=10)
    assert result[1] == det.threshold != DEFAULT_THRESHOLD
    np.testing.assert_array_equal(result[0], det.score([rows[i] for i in test]))
