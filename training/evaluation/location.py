"""City prediction (paper, Table 4): accuracy, and accuracy within 161 km where coordinates are known.

Protocol as in the paper: tweets whose place is a city present in the training, validation and
test splits; the paper's forest is fitted on the training split and scored on the test split. The
head the service answers /predict-location with is not refitted here: it is loaded from the
checkpoint (what build-heads wrote) and scored on the same test tweets, given what the service
gives it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model.heads.author_history import AuthorHistory
from model.heads.location_head import (
    LinearLocation,
    LocationContext,
    author_posterior,
    location_features,
    profile_inputs,
)
from model.record import Tweet
from training.baselines.selection import Selection
from training.heads.fit_location import (
    ForestParams,
    accuracy_by_prior,
    best_prior,
    city_label,
    fit_forest,
    prior_name,
    single_row_latency_ms,
)
from training.metrics import accuracy_within_km


def city_classes(train: Sequence[Tweet]) -> set[str]:
    """The cities a location method can learn: every city of the training split, the label set the
    served head (build-heads) is fitted on. Validation and test tweets from other cities are left out
    for every method alike, since none can name a city it never saw; the test split's own cities are
    not used to narrow the classes, which would hand the methods fitted here a label set the service
    cannot know."""
    return {c for t in train if (c := city_label(t))}


def place_coordinates(tweets: Sequence[Tweet]) -> dict[str, tuple[float, float]]:
    """Place id -> mean coordinates of the tweets tagged with it (the prediction's location)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for t in tweets:
        if t.place_id and t.lat is not None and t.lon is not None:
            points.setdefault(t.place_id, []).append((t.lat, t.lon))
    return {
        p: (float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))) for p, v in points.items()
    }


def known_authors(earlier: Sequence[Tweet], test: Sequence[Tweet]) -> list[bool]:
    """Per test tweet, whether its author has city tweets in ``earlier`` (the training and validation
    splits: what the served head's author table and the author baselines answer from)."""
    table = AuthorHistory.of(earlier, city_label)
    return [bool(table.counts.get(t.user_id or "")) for t in test]


def scores(
    predicted: Sequence[str],
    truth: Sequence[Tweet],
    coords: dict[str, tuple[float, float]],
    known: Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Accuracy (%), acc@161km where coordinates are known, and with ``known`` (known_authors) the
    accuracy on the tweets of authors with earlier cities and on the others apart."""
    true_labels = [city_label(t) for t in truth]
    hits = [p == t for p, t in zip(predicted, true_labels, strict=True)]
    accuracy = float(np.mean(hits))
    pairs = [
        (
            coords[p],
            (t.lat, t.lon) if t.lat is not None and t.lon is not None else coords.get(t.place_id or ""),
        )
        for p, t in zip(predicted, truth, strict=True)
        if p in coords
    ]
    pairs = [(a, b) for a, b in pairs if b is not None]
    out: dict[str, Any] = {"accuracy": round(100 * accuracy, 2)}
    if pairs:
        out["acc@161km"] = round(
            100 * accuracy_within_km(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])), 2
        )
        out["with_coordinates"] = len(pairs)
    if known is not None and any(known):
        out["by_author"] = {
            group: {"tweets": len(part), "accuracy": round(100 * float(np.mean(part)), 2) if part else None}
            for group, part in (
                ("known", [h for h, k in zip(hits, known, strict=True) if k]),
                ("new", [h for h, k in zip(hits, known, strict=True) if not k]),
            )
        }
    return out


def forest_run(
    train_x: np.ndarray,
    train_y: list[str],
    test_x: np.ndarray,
    params: ForestParams,
    model_dir: Any = None,
) -> tuple[list[str], dict[str, Any]]:
    """Fit, predict, and measure what the forest costs: fit time, one-row latency, compressed size."""
    import io

    import joblib

    start = time.perf_counter()
    forest = fit_forest(train_x, train_y, params)
    fit_s = time.perf_counter() - start
    forest.n_jobs = params.n_jobs
    predicted = [str(p) for p in forest.predict(test_x)]
    buffer = io.BytesIO()
    joblib.dump(forest, buffer, compress=3)
    info = {
        "fit_s": round(fit_s, 1),
        "predict_one_ms": round(single_row_latency_ms(forest, test_x), 2),
        "compressed_mb": round(buffer.tell() / 1e6, 1),
        "n_estimators": params.n_estimators,
        "max_depth": params.max_depth,
        "min_samples_leaf": params.min_samples_leaf,
    }
    return predicted, info


NO_SERVED_HEAD = (
    "the checkpoint has no location head (`tweetembed build-heads` not run on it): the head the "
    "service would answer /predict-location with was not scored"
)


def served_head_run(
    ckpt: Path, embedder: Any, tweets: Sequence[Tweet], batch: Any
) -> tuple[list[str] | None, dict[str, Any]]:
    """The checkpoint's own location head (model.heads.loader, as the service loads it) on ``tweets``
    already embedded as ``batch``, their profile locations through ``profile_inputs`` as the service
    does; top-1 of ``predict`` (the service's call). Returns the predictions (None where the checkpoint
    has no location head) and what build-heads recorded about its choice."""
    from model.heads.loader import heads_summary, load_location_head

    head = load_location_head(ckpt)
    if head is None:
        return None, {"skipped": NO_SERVED_HEAD}
    embed_texts = embedder.embed_texts if "text" in embedder.config.components else None
    dim = int(embedder.config.dim)
    profile, present = profile_inputs([t.user_location for t in tweets], dim, embed_texts)
    guesses = head.predict(batch, profile, present, k=1, texts=LocationContext.of(tweets))
    built = heads_summary(ckpt).get("heads", {})
    recorded = dict(built.get("location", {})) if isinstance(built, dict) else {}
    kind = "linear" if isinstance(head.flat, LinearLocation) else "forest"
    if recorded.get("kind") != kind or recorded.get("classes") != len(head.classes):
        # heads.json describes another head than the one on disk: its choice is not this head's.
        recorded = {"selection": {"kind": kind, "metric": "not recorded: heads.json describes another head"}}
    info: dict[str, Any] = {
        "source": "checkpoint",  # loaded from CKPT/heads, not refitted by the evaluation
        "kind": kind,
        "classes": len(head.classes),
        "fit_rows": recorded.get("rows"),
        "val_rows": recorded.get("val_rows"),
        "selection": recorded.get("selection") or {"kind": kind, "metric": "not recorded in heads.json"},
        # the content weight of the author posterior the head serves with (0: none; heads before it)
        "author_prior": head.author_prior,
    }
    return [g[0].place_id for g in guesses], info


def joint_features(
    train_batch: Any,
    test_batch: Any,
    train_profile: tuple[np.ndarray, np.ndarray],
    test_profile: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    return (location_features(train_batch, *train_profile), location_features(test_batch, *test_profile))


TFIDF_LR = "TF-IDF + logistic regression (text 1-2-grams + profile char n-grams, C on val)"
AUTHOR_ELSE_TFIDF = (
    "author's most frequent earlier city (training and validation splits), else TF-IDF + logistic regression"
)
AUTHOR_POSTERIOR_TFIDF = (
    "TF-IDF + logistic regression updated by the author's earlier cities (the served head's author "
    "step without the embeddings, weight on val)"
)


def baseline_predictions(
    train: Sequence[Tweet], val: Sequence[Tweet], test: Sequence[Tweet]
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Majority class, TF-IDF + logistic regression on the text and the profile location (a
    text-only stand-in for Deepgeo) with C chosen on ``val``, and, where some test authors tweeted
    from a city in the training split, the rule a practitioner would try first: that author's most
    frequent training city, else the TF-IDF prediction. Returns the test predictions and, per
    method, what its selection on validation chose."""
    from training.baselines.city import MajorityClass, tune_city_classifier

    def columns(tweets: Sequence[Tweet]) -> tuple[list[str], list[str], list[str]]:
        return (
            [t.text or "" for t in tweets],
            [city_label(t) or "" for t in tweets],
            [t.user_location or "" for t in tweets],
        )

    train_cols, test_cols = columns(train), columns(test)
    out: dict[str, list[str]] = {}
    chosen: dict[str, dict[str, Any]] = {}
    out["Majority class"] = [str(p) for p in MajorityClass().fit(train_cols[1]).predict(len(test))]
    if val:
        model, selection = tune_city_classifier(train_cols, columns(val))
        chosen[TFIDF_LR] = selection.to_json()
    else:  # nothing to choose on: the middle of the grid, said so in the report
        from training.baselines.city import TfidfCityClassifier

        model = TfidfCityClassifier().fit(train_cols[0], train_cols[1], train_cols[2])
        chosen[TFIDF_LR] = {"parameter": "C", "chosen": model.c, "metric": "no validation tweets"}
    test_proba = model.predict_proba(test_cols[0], test_cols[2])  # (N, P)
    classes = [str(c) for c in model.classes_]
    out[TFIDF_LR] = [classes[j] for j in np.argmax(test_proba, axis=1)]
    authors = AuthorHistory.of(train, city_label)  # what validation choices may see
    earlier = AuthorHistory.of([*train, *val], city_label)  # what the test tweets' authors did before
    known = [earlier.most_frequent(t.user_id) for t in test]
    if any(known):
        # no parameter of its own: its fallback is the TF-IDF model above, C chosen as reported there
        out[AUTHOR_ELSE_TFIDF] = [k or p for k, p in zip(known, out[TFIDF_LR], strict=True)]
    if any(known) and val and authors.repeat_authors():
        # The served head's way of reading the author (build-heads): the same posterior over the
        # TF-IDF model's probabilities, its content weight chosen on validation as the head's is.
        val_cols = columns(val)
        by_prior = accuracy_by_prior(
            model.predict_proba(val_cols[0], val_cols[2]),
            classes,
            val_cols[1],
            authors.class_counts([t.user_id for t in val], classes),
        )
        weight = best_prior(by_prior)
        proba = (
            author_posterior(test_proba, earlier.class_counts([t.user_id for t in test], classes), weight)
            if weight
            else test_proba
        )
        out[AUTHOR_POSTERIOR_TFIDF] = [classes[j] for j in np.argmax(proba, axis=1)]
        scores = {prior_name(w): round(a, 4) for w, a in by_prior.items()}
        chosen[AUTHOR_POSTERIOR_TFIDF] = Selection(
            "content weight (0: no author table)", weight, scores, "validation accuracy"
        ).to_json()
    return out, chosen
