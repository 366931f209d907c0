"""Fitting the location forest (paper: scikit-learn defaults except class_weight="balanced_subsample").

The paper's fully grown forest does not fit a 2-core machine at these widths (one unlimited tree
over 1024-d features and 500 classes is ~200 MB), so depth, leaf size and tree count are capped;
the evaluation reports what that costs against a larger forest.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.author_history import AUTHOR_PLACES_FILE, AuthorHistory
from model.heads.location_head import FEATURE_COMPONENTS, FOREST_FILE, LINEAR_FILE, META_FILE, LinearLocation
from model.record import Tweet

CITY = "city"


@dataclass(frozen=True)
class ForestParams:
    # Depth 40 rather than 20: on the default world the shallower forest lost much more accuracy
    # against the larger one (the evaluation report measures the cost of this one on every run).
    n_estimators: int = 100
    max_depth: int | None = 40
    min_samples_leaf: int = 1
    max_features: str = "sqrt"
    class_weight: str = "balanced_subsample"
    n_jobs: int = 2
    random_state: int = 0

    @classmethod
    def from_options(cls, trees: int, depth: int, leaf: int) -> ForestParams:
        """The forest of the --forest-trees/--forest-depth/--forest-leaf options (depth 0: unlimited)."""
        return cls(n_estimators=trees, max_depth=depth or None, min_samples_leaf=leaf)


LARGER_FOREST = ForestParams(n_estimators=300, max_depth=None, min_samples_leaf=1)
"""The comparison forest: 3x the trees, grown out (what the paper's defaults would do)."""


def city_label(tweet: Tweet) -> str | None:
    """The tweet's place id when that place is a city (paper); other place types are not classes."""
    if tweet.place_id and (tweet.place_type or "").lower() == CITY:
        return tweet.place_id
    return None


def fit_forest(features: NDArray[np.floating], labels: list[str], params: ForestParams) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(**asdict(params))
    forest.fit(features, np.asarray(labels))
    return forest


# Inverse regularisation strengths of the linear head, chosen on the validation split (as the TF-IDF
# baseline's are), going on a decade at a time while the largest is best (up to LINEAR_C_MAX) or the
# smallest is (down to LINEAR_C_MIN).
LINEAR_C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0)
LINEAR_C_MAX = 100.0
LINEAR_C_MIN = 1e-4


class LinearFitter:
    """Multinomial logistic regression on standardised features (the embedding blocks and the
    presence flags have different spreads; without scaling one C would not suit them all). Fits for
    increasing C start from the previous solution, so a grid costs little more than one fit."""

    def __init__(self, features: NDArray[np.floating], labels: list[str], seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression

        x = np.asarray(features, dtype=np.float32)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0)
        self.scale[self.scale < 1e-6] = 1.0  # constant columns (an absent component's zeros) stay zero
        self.x = (x - self.mean) / self.scale
        self.y = np.asarray(labels)
        self.model = LogisticRegression(max_iter=200, warm_start=True, random_state=seed)

    def fit(self, c: float) -> LinearLocation:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        self.model.set_params(C=c)
        with warnings.catch_warnings():
            # 200 lbfgs steps from the previous C's solution: close enough to rank C on validation.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(self.x, self.y)
        return LinearLocation(
            self.model.coef_.copy(),
            self.model.intercept_.copy(),
            self.mean,
            self.scale,
            [str(k) for k in self.model.classes_],
        )


def fit_linear(features: NDArray[np.floating], labels: list[str], c: float, seed: int = 0) -> LinearLocation:
    """One linear head at one C (see LinearFitter)."""
    return LinearFitter(features, labels, seed).fit(c)


def _accuracy(model: Any, features: NDArray[np.floating], labels: list[str]) -> float:
    proba = model.predict_proba(features)
    predicted = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
    return float(np.mean([str(p) == t for p, t in zip(predicted, labels, strict=True)]))


def choose_location_head(
    train_x: NDArray[np.floating],
    train_y: list[str],
    val_x: NDArray[np.floating],
    val_y: list[str],
    params: ForestParams,
    grid: tuple[float, ...] = LINEAR_C_GRID,
    max_c: float = LINEAR_C_MAX,
    forest: Any = None,
    min_c: float = LINEAR_C_MIN,
    optional_tail: int = 0,
) -> tuple[Any, dict[str, Any]]:
    """The forest and the linear head (C on validation, the grid widened up or down while its edge
    value is best: selection.next_c) fitted on ``train``; the one with the better validation accuracy
    is returned (the forest on a tie, it is the paper's; between linear heads, the smaller C), with
    what was compared. Without validation rows the forest is kept, as before. ``forest``: one already
    fitted on the same rows with ``params`` (not fitted again). ``optional_tail`` > 0: the linear grid
    also runs without the features' last ``optional_tail`` columns (a block that helps some text
    branches and not others), and a head fitted without them wins ties; ``info["dropped_tail"]`` says
    whether the returned head reads them."""
    t0 = time.perf_counter()
    forest = fit_forest(train_x, train_y, params) if forest is None else forest
    info: dict[str, Any] = {"forest_fit_s": round(time.perf_counter() - t0, 1)}
    if len(val_y) == 0:
        return forest, {**info, "kind": "forest", "metric": "no validation tweets", "dropped_tail": False}
    forest_accuracy = _accuracy(forest, val_x, val_y)
    scores = {"forest": round(forest_accuracy, 4)}
    # (accuracy, the forest first on a tie, then fewer columns, then the smaller C), head, name
    best: tuple[tuple[float, int, int, float], Any, str] = ((forest_accuracy, 1, 0, 0.0), forest, "forest")
    t0 = time.perf_counter()
    width = train_x.shape[1]
    for tail in (0, optional_tail) if optional_tail else (0,):
        keep = width - tail
        suffix = f" without the last {tail} columns" if tail else ""
        for c, linear, accuracy in _linear_grid(
            train_x[:, :keep], train_y, val_x[:, :keep], val_y, grid, min_c, max_c, params.random_state
        ):
            name = f"linear C={c:g}{suffix}"
            scores[name] = round(accuracy, 4)
            if (key := (accuracy, 0, 1 if tail else 0, -c)) > best[0]:
                best = (key, linear, name)
    info["linear_fit_s"] = round(time.perf_counter() - t0, 1)
    kind = "forest" if best[2] == "forest" else "linear"
    return best[1], {
        **info,
        "kind": kind,
        "chosen": best[2],
        "validation": scores,
        "metric": "validation accuracy",
        "dropped_tail": bool(best[0][2]),
    }


def _linear_grid(
    train_x: NDArray[np.floating],
    train_y: list[str],
    val_x: NDArray[np.floating],
    val_y: list[str],
    grid: tuple[float, ...],
    min_c: float,
    max_c: float,
    seed: int,
) -> list[tuple[float, LinearLocation, float]]:
    """(C, head, validation accuracy) for every C of ``grid`` and of its widening (selection.next_c)."""
    from training.baselines.selection import next_c

    todo = sorted(grid)
    scores: dict[float, float] = {}
    out: list[tuple[float, LinearLocation, float]] = []
    fitter = LinearFitter(train_x, train_y, seed=seed)
    while todo:
        c = todo.pop(0)
        linear = fitter.fit(c)
        scores[c] = _accuracy(linear, val_x, val_y)
        out.append((c, linear, scores[c]))
        if not todo and (following := next_c(scores, min_c, max_c)) is not None:
            todo.append(following)
    return out


def single_row_latency_ms(forest: Any, features: NDArray[np.floating], repeats: int = 30) -> float:
    """Median wall time of predict_proba on one row with n_jobs=1, as the service calls it."""
    saved = getattr(forest, "n_jobs", None)
    if saved is not None:
        forest.n_jobs = 1
    times = []
    for i in range(repeats):
        row = features[i % len(features)][None, :]
        start = time.perf_counter()
        forest.predict_proba(row)
        times.append((time.perf_counter() - start) * 1000)
    if saved is not None:
        forest.n_jobs = saved
    return float(np.median(times))


def save_forest(
    heads_dir: Path,
    forest: Any,
    places: dict[str, dict[str, Any]],
    params: ForestParams,
    profile_ngrams: int = 0,
    text_ngrams: int = 0,
    authors: AuthorHistory | None = None,
) -> dict[str, Any]:
    """Writes the location head: the forest (joblib), or a LinearLocation (npz) when that was chosen;
    ``profile_ngrams``, ``text_ngrams``: the widths of the n-gram blocks it was fitted with;
    ``authors``: the table of the authors' earlier places it reads (None: fitted without one)."""
    import joblib

    kind = "linear" if isinstance(forest, LinearLocation) else "forest"
    for stale in (FOREST_FILE, LINEAR_FILE, AUTHOR_PLACES_FILE):
        (heads_dir / stale).unlink(missing_ok=True)
    if kind == "linear":
        forest.save(heads_dir / LINEAR_FILE)
    else:
        joblib.dump(forest, heads_dir / FOREST_FILE, compress=3)
    if authors is not None:
        authors.save(heads_dir / AUTHOR_PLACES_FILE)
    used = {str(c): places.get(str(c), {}) for c in forest.classes_}
    meta = {
        "kind": kind,
        "components": list(FEATURE_COMPONENTS),
        "profile_ngrams": int(profile_ngrams),  # location_head.PROFILE_NGRAM_FEATURES when fitted with them
        "text_ngrams": int(text_ngrams),  # location_head.TEXT_NGRAM_FEATURES when fitted with them
        "author_places": len(authors) if authors is not None else 0,  # authors in AUTHOR_PLACES_FILE
        "params": asdict(params),
        "places": {p: {k: m.get(k) for k in ("name", "type", "lat", "lon")} for p, m in used.items()},
    }
    (heads_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    written = heads_dir / (LINEAR_FILE if kind == "linear" else FOREST_FILE)
    return {
        "kind": kind,
        "classes": len(forest.classes_),
        "profile_ngrams": int(profile_ngrams),
        "text_ngrams": int(text_ngrams),
        "author_places": len(authors) if authors is not None else 0,
        "bytes": written.stat().st_size,
    }


def place_metadata(tweets: list[Tweet], ckpt_places: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Place id -> name/type/lat/lon, from the checkpoint's places.json, else the tweets' own fields
    (mean coordinates of the tweets at that place)."""
    out: dict[str, dict[str, Any]] = {k: dict(v) for k, v in ckpt_places.items()}
    coords: dict[str, list[tuple[float, float]]] = {}
    for t in tweets:
        if not t.place_id:
            continue
        entry = out.setdefault(
            t.place_id, {"name": t.place_name, "type": t.place_type, "lat": None, "lon": None}
        )
        if t.lat is not None and t.lon is not None:
            coords.setdefault(t.place_id, []).append((t.lat, t.lon))
        entry.setdefault("name", t.place_name)
    for pid, pts in coords.items():
        if out[pid].get("lat") is None:
            arr = np.asarray(pts)
            out[pid]["lat"], out[pid]["lon"] = float(arr[:, 0].mean()), float(arr[:, 1].mean())
    return out
