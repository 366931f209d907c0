"""Fitting the location forest (paper: scikit-learn defaults except class_weight="balanced_subsample").

The paper's fully grown forest does not fit a 2-core machine at these widths (one unlimited tree
over 1024-d features and 500 classes is ~200 MB), so depth, leaf size and tree count are capped;
the evaluation reports what that costs against a larger forest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
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


# Content weights of the author posterior (location_head.author_posterior, in tweets) tried on the
# validation split, a factor of ~3 apart from "the author's habit decides" to "the tweet decides";
# AUTHOR_PRIOR_NONE stands for the head without the author table.
AUTHOR_PRIOR_GRID: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
AUTHOR_PRIOR_NONE = 0.0


def _accuracy(model: Any, features: NDArray[np.floating], labels: list[str]) -> float:
    proba = model.predict_proba(features)
    predicted = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
    return float(np.mean([str(p) == t for p, t in zip(predicted, labels, strict=True)]))


def accuracy_by_prior(
    proba: NDArray[np.floating],
    classes: Sequence[str],
    labels: Sequence[str],
    counts: NDArray[np.floating] | None,
    grid: tuple[float, ...] = AUTHOR_PRIOR_GRID,
) -> dict[float, float]:
    """Accuracy of the predictions ``proba`` (N, P; columns ``classes``) against ``labels`` without
    the author table (key AUTHOR_PRIOR_NONE) and, where ``counts`` (N, P: the authors' earlier tweets
    per class) is given, updated by it (location_head.author_posterior) at each content weight of
    ``grid``."""
    from model.heads.location_head import author_posterior

    names = np.asarray([str(c) for c in classes])
    truth = np.asarray(labels)

    def accuracy(p: NDArray[np.floating]) -> float:
        return float(np.mean(names[np.argmax(p, axis=1)] == truth))

    out = {AUTHOR_PRIOR_NONE: accuracy(proba)}
    if counts is not None:
        out.update({w: accuracy(author_posterior(proba, counts, w)) for w in grid})
    return out


def best_prior(by_prior: dict[float, float]) -> float:
    """The content weight with the best accuracy (ties: no table, then the larger weight)."""
    return max(by_prior, key=lambda w: (by_prior[w], w == AUTHOR_PRIOR_NONE, w))


def _accuracy_by_prior(
    model: Any,
    features: NDArray[np.floating],
    labels: list[str],
    counts: NDArray[np.floating] | None,
    grid: tuple[float, ...],
) -> dict[float, float]:
    return accuracy_by_prior(model.predict_proba(features), model.classes_, labels, counts, grid)


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
    val_counts: NDArray[np.floating] | None = None,
    prior_grid: tuple[float, ...] = AUTHOR_PRIOR_GRID,
) -> tuple[Any, dict[str, Any]]:
    """The forest and the linear head (C on validation, the grid widened up or down while its edge
    value is best: selection.next_c) fitted on ``train``; the one with the better validation accuracy
    is returned (the forest on a tie, it is the paper's; between linear heads, the smaller C), with
    what was compared. Without validation rows the forest is kept, as before. ``forest``: one already
    fitted on the same rows with ``params`` (not fitted again). ``optional_tail`` > 0: the linear grid
    also runs without the features' last ``optional_tail`` columns (a block that helps some text
    branches and not others), and a head fitted without them wins ties; ``info["dropped_tail"]`` says
    whether the returned head reads them. ``val_counts`` (validation authors' earlier tweets per
    class, in the order of the sorted ``train_y`` labels): every head is also scored updated by them
    (author_posterior) at each content weight of ``prior_grid``, and the choice is over both at once;
    the head without the table wins ties, then the larger weight. ``info["author_prior"]``: the
    chosen weight, AUTHOR_PRIOR_NONE for none."""
    t0 = time.perf_counter()
    forest = fit_forest(train_x, train_y, params) if forest is None else forest
    info: dict[str, Any] = {"forest_fit_s": round(time.perf_counter() - t0, 1)}
    if len(val_y) == 0:
        return forest, {
            **info,
            "kind": "forest",
            "metric": "no validation tweets",
            "dropped_tail": False,
            "author_prior": AUTHOR_PRIOR_NONE,
        }
    scores: dict[str, float] = {}
    curves: dict[str, dict[str, float]] = {}
    # (accuracy, the forest first on a tie, then fewer columns, then no author table, then the larger
    # content weight, then the smaller C), head, name, content weight
    best: tuple[tuple[float, int, int, int, float, float], Any, str, float] | None = None

    def consider(
        head: Any, name: str, by_prior: dict[float, float], is_forest: bool, tail: int, c: float
    ) -> None:
        nonlocal best
        curves[name] = {prior_name(w): round(a, 4) for w, a in by_prior.items()}
        for w, accuracy in by_prior.items():
            key = (accuracy, int(is_forest), 1 if tail else 0, int(w == AUTHOR_PRIOR_NONE), w, -c)
            if best is None or key > best[0]:
                best = (key, head, name, w)
        scores[name] = round(max(by_prior.values()), 4)

    consider(forest, "forest", _accuracy_by_prior(forest, val_x, val_y, val_counts, prior_grid), True, 0, 0.0)
    t0 = time.perf_counter()
    width = train_x.shape[1]
    for tail in (0, optional_tail) if optional_tail else (0,):
        keep = width - tail
        suffix = f" without the last {tail} columns" if tail else ""
        for c, linear, by_prior in _linear_grid(
            train_x[:, :keep],
            train_y,
            val_x[:, :keep],
            val_y,
            grid,
            min_c,
            max_c,
            params.random_state,
            val_counts,
            prior_grid,
        ):
            consider(linear, f"linear C={c:g}{suffix}", by_prior, False, tail, c)
    info["linear_fit_s"] = round(time.perf_counter() - t0, 1)
    assert best is not None
    (_, _, fewer, _, _, _), head, name, weight = best
    kind = "forest" if name == "forest" else "linear"
    out = {
        **info,
        "kind": kind,
        "chosen": name,
        "validation": scores,
        "metric": "validation accuracy",
        "dropped_tail": bool(fewer),
        "author_prior": weight,
    }
    if val_counts is not None:
        # the chosen head's validation accuracy at every content weight of the author posterior
        out["author_prior_validation"] = curves[name]
    return head, out


def prior_name(weight: float) -> str:
    """A content weight as the reports name it ("none": no author table)."""
    return "none" if weight == AUTHOR_PRIOR_NONE else f"{weight:g}"


def _linear_grid(
    train_x: NDArray[np.floating],
    train_y: list[str],
    val_x: NDArray[np.floating],
    val_y: list[str],
    grid: tuple[float, ...],
    min_c: float,
    max_c: float,
    seed: int,
    val_counts: NDArray[np.floating] | None = None,
    prior_grid: tuple[float, ...] = AUTHOR_PRIOR_GRID,
) -> list[tuple[float, LinearLocation, dict[float, float]]]:
    """(C, head, validation accuracy by content weight: _accuracy_by_prior) for every C of ``grid``
    and of its widening (selection.next_c, on the best accuracy at each C)."""
    from training.baselines.selection import next_c

    todo = sorted(grid)
    scores: dict[float, float] = {}
    out: list[tuple[float, LinearLocation, dict[float, float]]] = []
    fitter = LinearFitter(train_x, train_y, seed=seed)
    while todo:
        c = todo.pop(0)
        linear = fitter.fit(c)
        by_prior = _accuracy_by_prior(linear, val_x, val_y, val_counts, prior_grid)
        scores[c] = max(by_prior.values())
        out.append((c, linear, by_prior))
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
    author_prior: float = AUTHOR_PRIOR_NONE,
) -> dict[str, Any]:
    """Writes the location head: the forest (joblib), or a LinearLocation (npz) when that was chosen;
    ``profile_ngrams``, ``text_ngrams``: the widths of the n-gram blocks it was fitted with;
    ``authors``: the table of the authors' earlier places it reads (None: fitted without one);
    ``author_prior``: the content weight of the author posterior (> 0), or AUTHOR_PRIOR_NONE where
    the head reads the table as a feature block (heads fitted before the posterior)."""
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
        # > 0: the table updates the prediction (location_head.author_posterior); 0: a feature block
        "author_prior": float(author_prior) if authors is not None else AUTHOR_PRIOR_NONE,
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
        "author_prior": float(author_prior) if authors is not None else AUTHOR_PRIOR_NONE,
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
