"""City prediction (paper, Fig. 8): a random forest over a tweet's non-location component
embeddings concatenated with the text-branch embedding of the author's profile location.

``location_features`` is the one feature builder, used to fit the forest, to evaluate it and to
serve it, so the three can never disagree on the layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from model.embedding_batch import EmbeddingBatch

FOREST_FILE = "location_forest.joblib"
META_FILE = "location.json"
FEATURE_COMPONENTS: tuple[str, ...] = ("text", "image", "hashtags", "user")
"""Every component but location itself, in the paper's order; absent ones become zeros + a flag."""


@dataclass(frozen=True)
class PlaceGuess:
    place_id: str
    name: str | None
    probability: float
    lat: float | None
    lon: float | None


def location_features(
    batch: EmbeddingBatch,
    profile: NDArray[np.floating],
    profile_present: NDArray[np.bool_],
    components: Sequence[str] = FEATURE_COMPONENTS,
) -> NDArray[np.float32]:
    """(N, (C+1)*dim + C + 1): C component blocks, the profile block, then C+1 presence flags.

    Absent parts are zero vectors; the flags let the forest tell "absent" from "small values".
    """
    n, dim = batch.average.shape
    blocks: list[NDArray[np.float32]] = []
    flags: list[NDArray[np.float32]] = []
    for name in components:
        if name in batch.components:
            present = np.asarray(batch.present[name], dtype=bool)  # (N,)
            vectors = np.asarray(batch.components[name], dtype=np.float32)  # (N, dim)
        else:
            present = np.zeros(n, dtype=bool)
            vectors = np.zeros((n, dim), dtype=np.float32)
        blocks.append(vectors * present[:, None])
        flags.append(present.astype(np.float32)[:, None])
    has_profile = np.asarray(profile_present, dtype=bool)  # (N,)
    blocks.append(np.asarray(profile, dtype=np.float32).reshape(n, dim) * has_profile[:, None])
    flags.append(has_profile.astype(np.float32)[:, None])
    return np.ascontiguousarray(np.concatenate(blocks + flags, axis=1), dtype=np.float32)


def forest_proba(forest: Any, features: NDArray[np.float32]) -> NDArray[np.float64]:
    """``forest.predict_proba(features)``, computed from each tree's own Cython ``tree_.predict``.

    For the one or few rows of a request, scikit-learn's forest-level predict_proba spends most of
    its time dispatching a joblib job and validating input per tree (about 4 ms for 100 trees against
    0.6 ms here, same numbers); the traversal itself is the library's. Rows must be float32, as the
    trees compare in float32 (scikit-learn casts the same way).
    """
    rows = np.ascontiguousarray(features, dtype=np.float32)  # (N, F)
    total = np.zeros((rows.shape[0], len(forest.classes_)), dtype=np.float64)  # (N, P)
    for estimator in forest.estimators_:
        counts = estimator.tree_.predict(rows).reshape(rows.shape[0], -1)  # (N, P) leaf class weights
        norm = counts.sum(axis=1, keepdims=True)
        norm[norm == 0.0] = 1.0
        total += counts / norm
    return total / len(forest.estimators_)


class LocationPredictor:
    def __init__(self, forest: Any, components: Sequence[str], places: dict[str, dict[str, Any]]) -> None:
        self.forest = forest
        self.components = tuple(components)
        self.places = places
        self.classes: list[str] = [str(c) for c in forest.classes_]

    def predict_proba(
        self, batch: EmbeddingBatch, profile: NDArray[np.floating], profile_present: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """(N, P) class probabilities, columns in ``self.classes`` order."""
        features = location_features(batch, profile, profile_present, self.components)  # (N, F) float32
        return forest_proba(self.forest, features)

    def predict(
        self,
        batch: EmbeddingBatch,
        profile: NDArray[np.floating],
        profile_present: NDArray[np.bool_],
        k: int = 1,
    ) -> list[list[PlaceGuess]]:
        proba = self.predict_proba(batch, profile, profile_present)  # (N, P)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]  # (N, k)
        out: list[list[PlaceGuess]] = []
        for row, idx in zip(proba, order, strict=True):
            guesses = []
            for j in idx.tolist():
                place_id = self.classes[j]
                meta = self.places.get(place_id, {})
                guesses.append(
                    PlaceGuess(place_id, meta.get("name"), float(row[j]), meta.get("lat"), meta.get("lon"))
                )
            out.append(guesses)
        return out

    @classmethod
    def load(cls, heads_dir: Path) -> LocationPredictor:
        """Unpickles the forest: call only after the file's hash has been checked (see loader)."""
        import joblib

        meta = json.loads((heads_dir / META_FILE).read_text(encoding="utf-8"))
        forest = joblib.load(heads_dir / FOREST_FILE)
        forest.n_jobs = 1  # one request's few rows: more threads only add overhead
        return cls(forest, meta["components"], meta.get("places", {}))
