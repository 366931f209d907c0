"""Bot detection by a random forest over statistics of a user's recent tweet embeddings.

Same input as the kNN and CNN detectors (the user's up-to-``n_recent`` tweet-average vectors, newest
first), but summarised so that what tells the synthetic bots apart survives: the mean vector alone
(kNN) throws away how much a user repeats themself (spam, amplifiers) and how widely their tweets
scatter over topics (copiers of random humans), so the features add the per-dimension spread and
pairwise-cosine statistics of the user's tweets. ``user_statistics`` is the one feature builder,
used to fit, evaluate and serve the forest, so the three cannot disagree on the layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.bot_head import DEFAULT_N_RECENT, META_FILE
from model.heads.location_head import FlatForest

FOREST_FILE = "bots_forest.joblib"
SCALAR_FEATURES: tuple[str, ...] = ("mean_pair_cosine", "max_pair_cosine", "mean_norm", "tweets")


def statistics_width(dim: int) -> int:
    return 2 * dim + len(SCALAR_FEATURES)


def user_statistics(user_tweet_averages: Sequence[NDArray[np.floating]], dim: int) -> NDArray[np.float32]:
    """(U, 2*dim + 4) float32 feature rows, one per user, laid out as

    - [0, dim): the unit-length mean of the user's tweet vectors (zeros without tweets);
    - [dim, 2*dim): the per-dimension standard deviation over the user's tweets (population, ddof=0;
      zeros with fewer than 2 tweets). Kept whole rather than reduced to one number: its sum of squares
      is 1 - |mean|^2 for unit rows, which the norm below already gives, while the per-dimension form
      also says along which directions a user varies (topic scatter of copiers vs. a human's interests);
    - 2*dim: the mean cosine over all pairs i < j of the user's tweets (0 with fewer than 2);
    - 2*dim + 1: the largest such pairwise cosine (near 1 when a message is repeated; 0 with fewer than 2);
    - 2*dim + 2: the norm of the un-normalised mean vector (1 for identical tweets, small when scattered);
    - 2*dim + 3: the number of tweets given (callers truncate to the detector's n_recent first).

    Cosines use each row's own norm, so rows need not be exactly unit length; an all-zero row has
    cosine 0 with everything.
    """
    out = np.zeros((len(user_tweet_averages), statistics_width(dim)), dtype=np.float32)
    for i, rows in enumerate(user_tweet_averages):
        m = np.asarray(rows, dtype=np.float64).reshape(-1, dim)  # (n, dim)
        n = len(m)
        out[i, 2 * dim + 3] = n
        if n == 0:
            continue
        mean = m.mean(axis=0)  # (dim,)
        norm = float(np.linalg.norm(mean))
        out[i, :dim] = mean / max(norm, 1e-12)
        out[i, 2 * dim + 2] = norm
        if n < 2:
            continue
        out[i, dim : 2 * dim] = m.std(axis=0)
        unit = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)  # (n, dim)
        pair_cosines = (unit @ unit.T)[np.triu_indices(n, k=1)]  # (n*(n-1)/2,)
        out[i, 2 * dim] = pair_cosines.mean()
        out[i, 2 * dim + 1] = pair_cosines.max()
    return out


def recent_statistics(
    user_tweet_averages: Sequence[NDArray[np.floating]], dim: int, n_recent: int
) -> NDArray[np.float32]:
    """user_statistics of each user's newest ``n_recent`` tweet vectors (rows come newest first)."""
    recent = [np.asarray(rows).reshape(-1, dim)[:n_recent] for rows in user_tweet_averages]
    return user_statistics(recent, dim)


class ForestBotDetector:
    def __init__(
        self, forest: Any, dim: int, n_recent: int = DEFAULT_N_RECENT, threshold: float = 0.5
    ) -> None:
        if list(forest.classes_) != [0, 1]:
            raise ValueError(f"bot forest must be fitted on labels 0 and 1, got {list(forest.classes_)}")
        self.forest = forest
        # Requests score one user at a time; the flat layout walks all trees at once (same
        # probabilities as predict_proba, see location_head.FlatForest and its test).
        self.flat = FlatForest(forest)
        self.dim = dim
        self.n_recent = n_recent
        self.threshold = threshold

    def features(self, user_tweet_averages: Sequence[NDArray[np.floating]]) -> NDArray[np.float32]:
        """(U, F): statistics of each user's newest n_recent tweets, as the forest was fitted on."""
        return recent_statistics(user_tweet_averages, self.dim, self.n_recent)

    def score(self, user_tweet_averages: Sequence[NDArray[np.floating]]) -> NDArray[np.float64]:
        if not user_tweet_averages:
            return np.zeros(0, dtype=np.float64)
        proba = self.flat.predict_proba(self.features(user_tweet_averages))  # (U, 2)
        return np.asarray(proba[:, 1], dtype=np.float64)

    def save(self, heads_dir: Path) -> None:
        import joblib

        joblib.dump(self.forest, heads_dir / FOREST_FILE, compress=3)
        meta = {
            "kind": "forest",
            "dim": self.dim,
            "n_recent": self.n_recent,
            "threshold": self.threshold,
            "features": statistics_width(self.dim),
            "trees": len(self.forest.estimators_),
        }
        (heads_dir / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, heads_dir: Path, meta: dict[str, Any]) -> ForestBotDetector:
        """Unpickles the forest: call only after the file's hash has been checked (see loader)."""
        import joblib

        forest = joblib.load(heads_dir / FOREST_FILE)
        forest.n_jobs = 1  # a few rows per call gain nothing from more threads
        return cls(forest, int(meta["dim"]), int(meta["n_recent"]), float(meta["threshold"]))
