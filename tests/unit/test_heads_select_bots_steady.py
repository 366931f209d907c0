"""The steadier bot selection: repeated inner CV, the one-standard-error rule towards simpler
detectors, and the behaviour baseline's own forest among the candidates."""

from __future__ import annotations

import numpy as np
import pytest

from model.heads.bot_features import behaviour_features as served_behaviour
from tests.heads_support import tiny_bot_training_set, tiny_tweets
from training.heads.select_bots import (
    BASELINE_FOREST,
    STACK_NAME,
    BotTrainingSet,
    candidate_names,
    complexity,
    fit_candidate,
    fold_log_losses,
    inner_splits,
    mean_and_se,
    one_se_choice,
    select_detector,
)


@pytest.fixture(scope="module")
def data() -> BotTrainingSet:
    return tiny_bot_training_set()


def _row(mean: float, se: float) -> dict[str, float]:
    return {"log_loss": mean, "log_loss_se": se}


def test_one_se_rule_prefers_the_simpler_candidate_within_one_standard_error() -> None:
    names = ["HGB behaviour", "RF behaviour", "HGB behaviour + content", STACK_NAME]
    table = {
        STACK_NAME: _row(0.100, 0.020),
        "HGB behaviour + content": _row(0.105, 0.01),
        "RF behaviour": _row(0.115, 0.01),
        "HGB behaviour": _row(0.119, 0.01),
    }
    # Lowest mean: the stack; within its one standard error (<= 0.120) the one-group models, of
    # which RF behaviour has the lower mean.
    assert one_se_choice(table, names) == "RF behaviour"
    # Outside one standard error the lowest mean wins, however complex.
    table[STACK_NAME] = _row(0.100, 0.004)
    assert one_se_choice(table, names) == STACK_NAME


def test_complexity_counts_feature_groups_and_the_stack_above_all() -> None:
    assert complexity("RF behaviour") == complexity(BASELINE_FOREST) == complexity("HGB content") == 1
    assert complexity("kNN k=1 (paper)") == 1
    assert complexity("HGB behaviour + content") == 2
    assert complexity("HGB behaviour + content + embedding") == 3 < complexity(STACK_NAME)


def test_inner_splits_are_repeated_stratified_partitions() -> None:
    y = np.array([1] * 6 + [0] * 24, dtype=np.int64)
    k, reps = inner_splits(y, 5, 3, seed=0)
    assert k == 5 and len(reps) == 3
    for folds in reps:
        assert len(folds) == 5
        val = np.concatenate([va for _, va in folds])
        assert sorted(val.tolist()) == list(range(len(y)))  # every user validated once per repeat
        assert all(y[va].sum() >= 1 for _, va in folds)  # stratified: bots in every fold
    # Each repetition is another shuffling, not the same folds again.
    assert not np.array_equal(reps[0][0][1], reps[1][0][1])
    # Fewer bots than folds: as many folds as bots.
    assert inner_splits(np.array([1, 1, 1, 0, 0, 0, 0, 0]), 5, 1, 0)[0] == 3


def test_fold_losses_and_standard_error() -> None:
    rng = np.random.default_rng(0)
    y = np.array([1] * 10 + [0] * 30, dtype=np.int64)
    _, reps = inner_splits(y, 4, 2, seed=0)
    raws = [{"a": np.clip(0.3 * y + rng.uniform(0, 0.7, len(y)), 0, 1)} for _ in reps]
    losses = fold_log_losses(raws, reps, y, "a")
    assert losses.shape == (8,) and (losses > 0).all()
    mean, se = mean_and_se(losses)
    assert mean == pytest.approx(losses.mean())
    assert se == pytest.approx(losses.std(ddof=1) / np.sqrt(8))
    assert mean_and_se(np.array([0.3])) == (0.3, 0.0)


def test_baseline_forest_reads_exactly_the_baseline_features(data: BotTrainingSet) -> None:
    from training.baselines.bots import FEATURE_NAMES, behaviour_features
    from training.heads.select_bots import _baseline_columns

    assert BASELINE_FOREST in candidate_names(with_cnn=False)
    tweets = tiny_tweets(480, seed=1)
    by_user: dict[str, list] = {}
    for t in tweets:
        by_user.setdefault(t.user_id or "", []).append(t)
    ids, baseline, names = behaviour_features(by_user)
    assert names == list(FEATURE_NAMES)
    served = served_behaviour([u.recent(data.n_recent) for u in data.users], data.posters)
    ours = served[:, _baseline_columns()]  # (U, 11) in the baseline's order, users in sorted order
    assert len(ids) == len(data.users)
    rate = FEATURE_NAMES.index("tweets_per_day")
    same = [j for j in range(len(FEATURE_NAMES)) if j != rate]
    np.testing.assert_allclose(ours[:, same], baseline[:, same])
    # The baseline's rate is the tweet count over the corpus's days: proportional to our count.
    ratio = baseline[:, rate] / ours[:, rate]
    np.testing.assert_allclose(ratio, ratio[0])

    # The fitted candidate reads only those columns of the behaviour group.
    feats = {"behaviour": served}
    cand = fit_candidate(BASELINE_FOREST, data.users, data.labels, feats, data.dim)
    other = [j for j in range(served.shape[1]) if j not in _baseline_columns()]
    shuffled = served.copy()
    shuffled[:, other] = np.random.default_rng(0).permutation(shuffled[:, other])
    np.testing.assert_array_equal(cand.raw(data.users, feats), cand.raw(data.users, {"behaviour": shuffled}))


@pytest.mark.slow
def test_selection_reports_repeated_cv_and_applies_the_rule(data: BotTrainingSet) -> None:
    names = [BASELINE_FOREST, "RF behaviour", "HGB behaviour", "HGB content", STACK_NAME]
    detector, _ = select_detector(data, names=names, k=3, repeats=2)
    cv = detector.cv
    assert cv["folds"] == 3 and cv["repeats"] == 2
    table = cv["candidates"]
    assert all(table[n]["log_loss_se"] >= 0 for n in names)
    assert detector.chosen.name == one_se_choice(table, names)
    assert cv["lowest_log_loss"] == min(names, key=lambda n: (table[n]["log_loss"], names.index(n)))
    assert detector.threshold == table[detector.chosen.name]["threshold"]
