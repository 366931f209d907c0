"""The forest bot head: its statistics against a brute-force loop, separation of repeating "bots" from
scattering "humans", save/load round trip, loading through load_heads, and refusal of a tampered forest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from model.checkpoint import CheckpointError, write_manifest
from model.heads.bot_forest import FOREST_FILE, ForestBotDetector, statistics_width, user_statistics
from model.heads.bot_head import load_bot_detector
from model.heads.loader import load_heads
from tests.heads_support import DIM, FakeEmbedder, tiny_tweets, write_work_dir
from training.heads.build import BuildHeadsOptions, run_build_heads
from training.heads.fit_bots import fit_forest, fit_knn
from training.heads.fit_location import ForestParams

torch.set_num_threads(1)


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    m = rng.standard_normal((n, dim))
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def test_user_statistics_equal_a_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    dim = 5
    users = [np.zeros((0, dim), np.float32), _unit_rows(rng, 1, dim)]
    users += [_unit_rows(rng, n, dim) for n in (2, 3, 7)]
    users.append(np.repeat(_unit_rows(rng, 1, dim), 4, axis=0))  # one message repeated
    got = user_statistics(users, dim)
    assert got.shape == (len(users), statistics_width(dim)) and got.dtype == np.float32
    for row, m in zip(got, users, strict=True):
        n = len(m)
        assert row[2 * dim + 3] == n
        if n == 0:
            assert not row[: 2 * dim + 3].any()
            continue
        mean = [sum(float(m[t, j]) for t in range(n)) / n for j in range(dim)]
        norm = math.sqrt(sum(v * v for v in mean))
        np.testing.assert_allclose(row[:dim], [v / norm for v in mean], atol=1e-6)
        std = [math.sqrt(sum((float(m[t, j]) - mean[j]) ** 2 for t in range(n)) / n) for j in range(dim)]
        np.testing.assert_allclose(row[dim : 2 * dim], std, atol=1e-6)
        assert row[2 * dim + 2] == pytest.approx(norm, abs=1e-6)
        cosines = []
        for a in range(n):
            for b in range(a + 1, n):
                dot = sum(float(m[a, j]) * float(m[b, j]) for j in range(dim))
                na = math.sqrt(sum(float(m[a, j]) ** 2 for j in range(dim)))
                nb = math.sqrt(sum(float(m[b, j]) ** 2 for j in range(dim)))
                cosines.append(dot / (na * nb))
        expected = (sum(cosines) / len(cosines), max(cosines)) if cosines else (0.0, 0.0)
        np.testing.assert_allclose(row[2 * dim : 2 * dim + 2], expected, atol=1e-6)
    assert got[-1, 2 * dim + 1] == pytest.approx(1.0, abs=1e-6)  # the repeated message


def _repeaters_and_scatterers(n_users: int, seed: int, dim: int = 12) -> tuple[list[np.ndarray], np.ndarray]:
    """'Bots' post one random direction plus small noise; 'humans' post unrelated random directions.
    Both have random means, so a user's mean vector alone carries no label."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(2, size=n_users)
    rows = []
    for y in labels:
        n = int(rng.integers(2, 11))
        if y:
            m = _unit_rows(rng, 1, dim) + 0.15 * rng.standard_normal((n, dim))
        else:
            m = rng.standard_normal((n, dim))
        rows.append((m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32))
    return rows, labels


def test_forest_separates_repeating_users_from_scattering_ones() -> None:
    rows, labels = _repeaters_and_scatterers(240, seed=3)
    det = fit_forest(rows[:160], labels[:160], dim=12, n_estimators=100, n_jobs=1)
    scores = det.score(rows[160:])
    assert scores.shape == (80,) and ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc_score(labels[160:], scores) > 0.9
    # The bar can be failed: the same forest fitted on shuffled labels learns nothing and sits near
    # chance, and so does the mean vector alone (the kNN head), since bots' and humans' means point anywhere.
    shuffled = np.random.default_rng(0).permutation(labels[:160])
    blind = fit_forest(rows[:160], shuffled, dim=12, n_estimators=100, n_jobs=1)
    assert roc_auc_score(labels[160:], blind.score(rows[160:])) < 0.75
    knn = fit_knn(rows[:160], labels[:160], dim=12, k=5)
    assert roc_auc_score(labels[160:], knn.score(rows[160:])) < 0.75
    # The flat walk the service uses gives scikit-learn's own probabilities.
    np.testing.assert_allclose(scores, det.forest.predict_proba(det.features(rows[160:]))[:, 1], atol=1e-12)


def test_score_uses_only_the_newest_n_recent_tweets() -> None:
    rows, labels = _repeaters_and_scatterers(60, seed=5)
    det = fit_forest(rows, labels, dim=12, n_recent=3, n_estimators=20, n_jobs=1)
    rng = np.random.default_rng(6)
    long = _unit_rows(rng, 9, 12)
    np.testing.assert_array_equal(det.score([long]), det.score([long[:3]]))
    assert det.features([long])[0, -1] == 3


def test_save_load_round_trip_gives_identical_scores(tmp_path: Path) -> None:
    rows, labels = _repeaters_and_scatterers(80, seed=7)
    det = fit_forest(rows[:60], labels[:60], dim=12, n_recent=10, n_estimators=30, n_jobs=1)
    det.threshold = 0.4
    det.save(tmp_path)
    meta = json.loads((tmp_path / "bots.json").read_text())
    assert meta["kind"] == "forest" and meta["features"] == statistics_width(12)
    loaded = load_bot_detector(tmp_path)
    assert isinstance(loaded, ForestBotDetector)
    assert (loaded.dim, loaded.n_recent, loaded.threshold) == (12, 10, 0.4)
    np.testing.assert_array_equal(loaded.score(rows[60:]), det.score(rows[60:]))
    assert loaded.score([]).shape == (0,)


def test_unknown_bot_head_kind_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bots.json").write_text(json.dumps({"kind": "oracle"}))
    with pytest.raises(ValueError, match="oracle"):
        load_bot_detector(tmp_path)


@pytest.fixture()
def forest_checkpoint(tmp_path: Path) -> Path:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"dim": DIM}))
    write_manifest(ckpt)
    work = write_work_dir(tmp_path, tiny_tweets())
    params = ForestParams(n_estimators=10, n_jobs=1)
    summary = run_build_heads(
        ckpt, work, BuildHeadsOptions(bot_method="forest", forest=params), FakeEmbedder()
    )
    assert summary["heads"]["bots"]["method"] == "forest"
    return ckpt


def test_build_heads_forest_loads_and_scores_through_the_service_backend(forest_checkpoint: Path) -> None:
    from app.engine.model_backend import ModelBackend

    heads = load_heads(forest_checkpoint)
    assert isinstance(heads.bots, ForestBotDetector)
    embedder = FakeEmbedder()
    batch = embedder.embed(tiny_tweets(20, seed=9))
    # ModelBackend needs only the embedder's config and digest to answer /bot-score from the head.
    embedder.checkpoint_digest = "test"  # type: ignore[attr-defined]
    backend = ModelBackend(embedder, heads, forest_checkpoint)
    users = [batch.average[i : i + 3] for i in range(0, 18, 3)]
    scores = backend.bot_scores(users)
    assert scores.shape == (6,) and ((scores >= 0) & (scores <= 1)).all()
    # The service says bot / not bot at the threshold fitted into bots.json (out-of-bag, not 0.5).
    meta = json.loads((forest_checkpoint / "heads" / "bots.json").read_text())
    assert backend.bot_threshold == heads.bots.threshold == meta["threshold"]
    assert 0 < backend.bot_threshold <= 1 and backend.bot_recent_tweets == 10
    np.testing.assert_array_equal(scores, heads.bots.score(users))


def test_tampered_bot_forest_is_refused(forest_checkpoint: Path) -> None:
    forest = forest_checkpoint / "heads" / FOREST_FILE
    data = bytearray(forest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    forest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"bots_forest\.joblib"):
        load_heads(forest_checkpoint)
