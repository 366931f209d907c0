"""The linear location head: its numpy predict_proba is scikit-learn's on the standardised features,
it survives save/load without pickles, and the head served is the validation winner (by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.heads.location_head import LINEAR_FILE, META_FILE, LinearLocation, LocationPredictor
from training.heads.fit_location import (
    ForestParams,
    LinearFitter,
    _accuracy,
    choose_location_head,
    fit_forest,
    fit_linear,
    save_forest,
)


def _data(n: int, seed: int, informative: bool = True) -> tuple[np.ndarray, list[str]]:
    """Three places, each a direction in 12-d plus noise: a linear problem a shallow forest finds
    harder; a constant column stands for an absent component."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 12) * 2.0
    labels = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 12)) + (centres[labels] if informative else 0.0)
    x[:, 11] = 0.0
    return x.astype(np.float32), [f"p{k}" for k in labels]


def test_linear_head_probabilities_are_scikit_learns() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _data(200, 0)
    head = fit_linear(x, y, c=1.0)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-6] = 1.0
    reference = LogisticRegression(C=1.0, max_iter=200).fit((x - mean) / std, y)
    test, _ = _data(30, 1)
    np.testing.assert_allclose(
        head.predict_proba(test), reference.predict_proba((test - mean) / std), rtol=1e-3, atol=1e-4
    )
    assert list(head.classes_) == list(reference.classes_)


def test_warm_started_grid_ends_where_a_cold_fit_does() -> None:
    x, y = _data(200, 0)
    fitter = LinearFitter(x, y)
    for c in (0.01, 0.1, 1.0):
        warm = fitter.fit(c)
    cold = fit_linear(x, y, c=1.0)
    test, _ = _data(30, 1)
    np.testing.assert_allclose(warm.predict_proba(test), cold.predict_proba(test), atol=2e-3)


def test_linear_head_saves_and_loads_as_the_served_predictor(tmp_path: Path) -> None:
    x, y = _data(200, 0)
    head = fit_linear(x, y, c=1.0)
    info = save_forest(tmp_path, head, {"p0": {"name": "zero", "lat": 1.0, "lon": 2.0}}, ForestParams())
    assert info["kind"] == "linear" and (tmp_path / LINEAR_FILE).is_file()
    assert json.loads((tmp_path / META_FILE).read_text())["kind"] == "linear"
    loaded = LocationPredictor.load(tmp_path)
    assert isinstance(loaded.flat, LinearLocation)
    test, _ = _data(10, 2)
    np.testing.assert_allclose(loaded.flat.predict_proba(test), head.predict_proba(test), rtol=1e-6)
    assert loaded.places["p0"]["name"] == "zero"


def test_served_head_is_the_validation_winner_by_hand() -> None:
    params = ForestParams(n_estimators=5, max_depth=1, n_jobs=1)  # stumps: weaker than the linear head
    train_x, train_y = _data(300, 0)
    val_x, val_y = _data(120, 1)
    head, choice = choose_location_head(train_x, train_y, val_x, val_y, params, grid=(0.01, 0.1), max_c=10.0)
    # Brute force: every candidate fitted on train alone, scored on val by hand.
    forest = fit_forest(train_x, train_y, params)
    by_hand = {"forest": round(_accuracy(forest, val_x, val_y), 4)}
    for c in choice["validation"]:
        if c.startswith("linear C="):
            value = float(c.split("=")[1])
            by_hand[c] = round(_accuracy(fit_linear(train_x, train_y, value), val_x, val_y), 2)
    assert choice["validation"]["forest"] == by_hand["forest"]
    for key, score in choice["validation"].items():
        assert abs(score - by_hand[key]) <= 0.01  # warm start vs cold fit: at most a tweet apart
    best = max(choice["validation"], key=lambda k: (choice["validation"][k], k == "forest"))
    assert choice["chosen"] == best
    assert choice["kind"] == "linear" and isinstance(head, LinearLocation)  # linear data: linear wins
    # Where the features carry nothing, the tie (or the forest's luck) keeps a valid choice too.
    noise_x, noise_y = _data(120, 3, informative=False)
    _, noise_choice = choose_location_head(train_x, train_y, noise_x, noise_y, params, grid=(0.1,), max_c=0.1)
    assert noise_choice["chosen"] in noise_choice["validation"]


def test_without_validation_rows_the_forest_is_kept() -> None:
    x, y = _data(100, 0)
    head, choice = choose_location_head(x, y, x[:0], [], ForestParams(n_estimators=5, n_jobs=1))
    assert choice["kind"] == "forest" and hasattr(head, "estimators_")


def test_linear_grid_goes_below_its_smallest_c_while_that_is_best() -> None:
    params = ForestParams(n_estimators=5, max_depth=1, n_jobs=1)
    train_x, train_y = _data(300, 0)
    majority = max(set(train_y), key=train_y.count)
    # Validation tweets of no place's direction, all at the training split's most frequent place: the
    # closer the head is pulled to the prior (the smaller C), the more of them it gets.
    val_x, _ = _data(120, 1, informative=False)
    val_y = [majority] * 120
    _, choice = choose_location_head(train_x, train_y, val_x, val_y, params, min_c=1e-4)
    linear = {float(k.split("=")[1]): v for k, v in choice["validation"].items() if k.startswith("linear")}
    assert set(linear) == {1e-4, 1e-3, 0.01, 0.1, 1.0}  # two decades below the grid, none past the bound
    assert linear[1e-4] > linear[1e-3] > linear[0.01]  # each step down was taken because it was best


def test_optional_tail_is_kept_where_it_carries_the_signal_and_dropped_on_a_tie() -> None:
    params = ForestParams(n_estimators=5, max_depth=1, n_jobs=1)
    noise, train_y = _data(300, 0, informative=False)
    signal, _ = _data(300, 0)  # same seed: the same labels, their directions in these columns
    val_noise, val_y = _data(120, 1, informative=False)
    val_signal, _ = _data(120, 1)
    # The tail (the last 12 columns) is the only informative block: the head must read it.
    head, choice = choose_location_head(
        np.hstack([noise, signal]),
        train_y,
        np.hstack([val_noise, val_signal]),
        val_y,
        params,
        optional_tail=12,
    )
    assert choice["kind"] == "linear" and not choice["dropped_tail"]
    assert isinstance(head, LinearLocation) and head.coef.shape[1] == 24
    assert any("without the last 12 columns" in name for name in choice["validation"])
    # A tail of zeros changes nothing: the tie goes to the head without it.
    zeros, val_zeros = np.zeros((300, 12), np.float32), np.zeros((120, 12), np.float32)
    head, choice = choose_location_head(
        np.hstack([signal, zeros]),
        train_y,
        np.hstack([val_signal, val_zeros]),
        val_y,
        params,
        optional_tail=12,
    )
    assert choice["dropped_tail"] and choice["chosen"].endswith("without the last 12 columns")
    assert isinstance(head, LinearLocation) and head.coef.shape[1] == 12
