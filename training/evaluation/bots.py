"""Bot detection (paper, Fig. 7): F1 at each method's threshold and ROC AUC, per method, on the same folds.

With separate test labels, methods fit on the training labels and score the test users; without
them, stratified 5-fold cross-validation over the labelled users gives every user an out-of-fold
score. The threshold is 0.5 for kNN, the CNN and the behaviour + TF-IDF baseline; the forests over
per-user statistics choose theirs per fold on the training users' out-of-bag predictions, as the
served forest head does (fit_bots.fit_balanced_forest).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.bot_forest import recent_statistics
from model.record import Tweet
from training.heads.fit_bots import DEFAULT_THRESHOLD, fit_balanced_forest, fit_cnn, fit_forest, fit_knn
from training.metrics import binary_f1_auc

ScoredFold = tuple[NDArray[np.float64], float]
"""Test scores in [0, 1] and the bot threshold the method chose on its training users alone."""
Scorer = Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.float64] | ScoredFold]
"""(train user indexes, test user indexes) -> test scores in [0, 1] (threshold DEFAULT_THRESHOLD),
or a ScoredFold for a method that sets its own threshold."""

FOREST_SCORER = "forest over embedding statistics"
# Joint model only: what the joint embeddings add to behaviour is this row against BEHAVIOUR_FOREST.
HYBRID_FOREST = "behaviour + embedding statistics forest"
BEHAVIOUR_TFIDF = "Behaviour + TF-IDF random forest"
BEHAVIOUR_FOREST = "Behaviour features only forest"


def folds(
    labels: NDArray[np.int64], test_mask: NDArray[np.bool_] | None, k: int = 5, seed: int = 0
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    if test_mask is not None:
        return [(np.flatnonzero(~test_mask), np.flatnonzero(test_mask))]
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(
        n_splits=min(k, int(np.bincount(labels).min())), shuffle=True, random_state=seed
    )
    return [
        (a.astype(np.int64), b.astype(np.int64)) for a, b in splitter.split(np.zeros(len(labels)), labels)
    ]


def evaluate_scorers(
    scorers: dict[str, Scorer],
    labels: NDArray[np.int64],
    splits: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> dict[str, dict[str, Any]]:
    """Per method: F1 of the users flagged at each fold's threshold, ROC AUC over the pooled scores,
    and the thresholds used, one per fold."""
    from sklearn.metrics import f1_score

    out: dict[str, dict[str, Any]] = {}
    scored = np.concatenate([test for _, test in splits])
    for name, scorer in scorers.items():
        scores = np.zeros(len(labels))
        flagged = np.zeros(len(labels), dtype=bool)
        thresholds: list[float] = []
        for train_idx, test_idx in splits:
            result = scorer(train_idx, test_idx)
            fold_scores, threshold = result if isinstance(result, tuple) else (result, DEFAULT_THRESHOLD)
            scores[test_idx] = fold_scores
            # Each fold's users are judged by the threshold that fold's model chose, as served.
            flagged[test_idx] = fold_scores >= threshold
            thresholds.append(round(float(threshold), 4))
        f1 = float(f1_score(labels[scored], flagged[scored].astype(int), zero_division=0))
        _, auc = binary_f1_auc(labels[scored], scores[scored])
        out[name] = {
            "F1": round(f1, 4),
            "AUC": round(auc, 4),
            "thresholds": thresholds,
            "per_fold": per_fold(labels, scores, flagged, splits),
        }
    return out


def per_fold(
    labels: NDArray[np.int64],
    scores: NDArray[np.float64],
    flagged: NDArray[np.bool_],
    splits: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> list[dict[str, float]]:
    """F1 and ROC AUC on each test fold alone: how far apart the folds are says how much one pooled
    figure can be trusted."""
    from sklearn.metrics import f1_score

    out = []
    for _, test_idx in splits:
        y = labels[test_idx]
        f1 = float(f1_score(y, flagged[test_idx].astype(int), zero_division=0))
        _, auc = binary_f1_auc(y, scores[test_idx])
        out.append({"F1": round(f1, 4), "AUC": round(auc, 4)})
    return out


def embedding_scorers(
    rows: Sequence[NDArray[np.float32]],
    labels: NDArray[np.int64],
    dim: int,
    knn_ks: Sequence[int],
    with_cnn: bool,
    n_recent: int,
) -> dict[str, Scorer]:
    scorers: dict[str, Scorer] = {}
    for k in knn_ks:

        def knn(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64], k: int = k) -> NDArray[np.float64]:
            det = fit_knn([rows[i] for i in train_idx], labels[train_idx], dim, k=k, n_recent=n_recent)
            return det.score([rows[i] for i in test_idx])

        scorers[f"kNN k={k}" + (" (paper)" if k == 1 else "")] = knn
    if with_cnn:

        def cnn(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> NDArray[np.float64]:
            det = fit_cnn(
                [rows[i] for i in train_idx], labels[train_idx], dim, n_recent=n_recent, progress=False
            )
            return det.score([rows[i] for i in test_idx])

        scorers["Kim CNN (paper)"] = cnn

    # Always on: one feature row per user, so it is cheap next to the CNN.
    def forest(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> ScoredFold:
        det = fit_forest([rows[i] for i in train_idx], labels[train_idx], dim, n_recent=n_recent)
        return det.score([rows[i] for i in test_idx]), det.threshold  # the head's out-of-bag threshold

    scorers[FOREST_SCORER] = forest
    return scorers


def behaviour_matrix(users: Sequence[str], tweets: Sequence[Tweet]) -> NDArray[np.float64]:
    """(U, F) behaviour features (training/baselines/bots.py) of ``users`` from all their tweets, in
    the order given; computed over exactly these users, since some features count texts they share."""
    from training.baselines.bots import behaviour_features

    by_user = _tweets_by_user(users, tweets)
    ids, behaviour, _ = behaviour_features({u: by_user[u] for u in users})
    row = {u: i for i, u in enumerate(ids)}
    behaviour = np.asarray(behaviour, dtype=np.float64)
    # Users without tweets (not in behaviour_features' output) get zeros: no behaviour observed.
    return np.stack([behaviour[row[u]] if u in row else np.zeros(behaviour.shape[1]) for u in users])


def _tweets_by_user(users: Sequence[str], tweets: Sequence[Tweet]) -> dict[str, list[Tweet]]:
    by_user: dict[str, list[Tweet]] = defaultdict(list)
    wanted = set(users)
    for t in tweets:
        if t.user_id in wanted:
            by_user[t.user_id].append(t)
    return by_user


def hybrid_features(
    behaviour: NDArray[np.floating], rows: Sequence[NDArray[np.floating]], dim: int, n_recent: int
) -> NDArray[np.float64]:
    """(U, F + 2*dim + 4): each user's behaviour row, then user_statistics of their newest n_recent
    tweet embeddings (the forest head's features)."""
    return np.hstack([np.asarray(behaviour, dtype=np.float64), recent_statistics(rows, dim, n_recent)])


def forest_scorer(
    features: NDArray[np.floating], labels: NDArray[np.int64], n_estimators: int = 300, n_jobs: int = 2
) -> Scorer:
    """A balanced forest on fixed per-user feature rows, with its threshold chosen on the training
    users' out-of-bag predictions: the same fit as the served forest head."""
    x = np.asarray(features, dtype=np.float64)

    def score(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> ScoredFold:
        forest, threshold = fit_balanced_forest(
            x[train_idx], labels[train_idx], n_estimators=n_estimators, n_jobs=n_jobs
        )
        proba = forest.predict_proba(x[test_idx])[:, list(forest.classes_).index(1)]  # (T,)
        return np.asarray(proba, dtype=np.float64), threshold

    return score


def behaviour_scorer(
    users: Sequence[str],
    tweets: Sequence[Tweet],
    labels: NDArray[np.int64],
    behaviour: NDArray[np.float64] | None = None,
) -> Scorer:
    """Random forest on account behaviour features and TF-IDF of the user's tweets (Botometer stand-in);
    ``behaviour`` is behaviour_matrix(users, tweets) when the caller has it already."""
    from scipy import sparse
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer

    by_user = _tweets_by_user(users, tweets)
    rows = behaviour if behaviour is not None else behaviour_matrix(users, tweets)  # (U, F)
    texts = [" ".join(t.text or "" for t in by_user[u]) for u in users]

    def score(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> NDArray[np.float64]:
        tfidf = TfidfVectorizer(min_df=2, max_features=5000, sublinear_tf=True)
        x_train = sparse.hstack(
            [sparse.csr_matrix(rows[train_idx]), tfidf.fit_transform([texts[i] for i in train_idx])]
        ).tocsr()
        x_test = sparse.hstack(
            [sparse.csr_matrix(rows[test_idx]), tfidf.transform([texts[i] for i in test_idx])]
        ).tocsr()
        forest = RandomForestClassifier(
            n_estimators=300, class_weight="balanced_subsample", n_jobs=2, random_state=0
        ).fit(x_train, labels[train_idx])
        return np.asarray(forest.predict_proba(x_test)[:, list(forest.classes_).index(1)], dtype=np.float64)

    return score


def describe(labels: NDArray[np.int64], test_mask: NDArray[np.bool_] | None, n_folds: int) -> dict[str, Any]:
    return {
        "users": len(labels),
        "bots": int(labels.sum()),
        "protocol": "given test labels" if test_mask is not None else f"stratified {n_folds}-fold CV",
    }


TFIDF_LR = "TF-IDF + logistic regression over the user's concatenated tweets"
SERVED = "Served detector (chosen by inner CV on each fold's training users)"


def tfidf_lr_scorer(users: Sequence[str], tweets: Sequence[Tweet], labels: NDArray[np.int64]) -> Scorer:
    """TF-IDF word 1-2-grams and char 3-5-grams of all a user's tweets, concatenated, into a balanced
    logistic regression; its threshold maximises F1 on the training users' 3-fold out-of-fold scores."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import FeatureUnion, make_pipeline

    from training.heads.fit_bots import f1_maximising_threshold

    by_user = _tweets_by_user(users, tweets)
    texts = np.array(["\n".join(t.text or "" for t in by_user[u]) for u in users], dtype=object)

    def pipeline() -> Any:
        union = FeatureUnion(
            [
                ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
                (
                    "char",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True),
                ),
            ]
        )
        return make_pipeline(union, LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000))

    def score(train_idx: NDArray[np.int64], test_idx: NDArray[np.int64]) -> ScoredFold:
        y = labels[train_idx]
        inner = StratifiedKFold(min(3, int(np.bincount(y).min())), shuffle=True, random_state=0)
        oof = cross_val_predict(pipeline(), texts[train_idx], y, cv=inner, method="predict_proba")[:, 1]
        model = pipeline().fit(texts[train_idx], y)
        proba = model.predict_proba(texts[test_idx])[:, 1]
        return np.asarray(proba, dtype=np.float64), f1_maximising_threshold(y, oof)

    return score


def drop_fields(tweet: Tweet) -> Tweet:
    """The "fields dropped" condition: no timestamp, no image, no mention ids (as in PAN-like corpora)."""
    from dataclasses import replace

    return replace(tweet, created_at=None, image=None, mentions=())


def selected_rows(
    data: Any,
    splits: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
    names: Sequence[str],
    progress: Callable[[str], None] = lambda _: None,
    inner_folds: int = 5,
    inner_repeats: int | None = None,
) -> tuple[dict[str, dict[str, Any]], NDArray[np.float64]]:
    """Per candidate of training/heads/select_bots.py, and for the served detector (the candidate the
    inner CV chose on each outer fold's training users): F1 at the threshold chosen on the training
    users' calibrated out-of-fold scores, ROC AUC of the calibrated scores pooled over the outer test
    folds. Also returns the served detector's pooled calibrated probabilities (for the reliability
    diagram; users outside every test fold keep NaN)."""
    from sklearn.metrics import f1_score

    from training.heads.select_bots import REPEATS, select_detector

    labels = data.labels
    n = len(labels)
    probs = {name: np.full(n, np.nan) for name in [*names, SERVED]}
    flags = {name: np.zeros(n, dtype=bool) for name in probs}
    thresholds: dict[str, list[float]] = {name: [] for name in probs}
    chosen: list[str] = []
    why: list[dict[str, Any]] = []
    for i, (train_idx, test_idx) in enumerate(splits):
        progress(f"fold {i + 1}/{len(splits)}: selecting among {len(names)} candidates")
        detector, fitted = select_detector(
            data,
            train_idx,
            names,
            k=inner_folds,
            fit_all=True,
            repeats=REPEATS if inner_repeats is None else inner_repeats,
            progress=True,
        )
        table = detector.cv["candidates"]
        test_users = [data.users[j].recent(data.n_recent) for j in test_idx]
        feats = detector.features(test_users, [data.posters] if data.posters is not None else None)
        for name, cand in fitted.items():
            p = cand.proba(test_users, feats)
            probs[name][test_idx] = p
            flags[name][test_idx] = p >= table[name]["threshold"]
            thresholds[name].append(table[name]["threshold"])
        served = detector.chosen.name
        chosen.append(served)
        ranked = sorted(table, key=lambda n: table[n]["log_loss"])
        why.append(
            {
                "chosen": served,
                "criterion": detector.cv["criterion"],
                "lowest_log_loss": detector.cv["lowest_log_loss"],
                "inner": {n: table[n] for n in ranked},
                "stack_members": detector.cv["stack_members"],
            }
        )
        probs[SERVED][test_idx] = probs[served][test_idx]
        flags[SERVED][test_idx] = flags[served][test_idx]
        thresholds[SERVED].append(detector.threshold)
        # This fold's test figures, so that a run stopped early still says something.
        y_te = labels[test_idx]
        for name in [served, *ranked[:3]]:
            f1 = float(f1_score(y_te, flags[name][test_idx].astype(int), zero_division=0))
            _, auc = binary_f1_auc(y_te, probs[name][test_idx])
            progress(
                f"fold {i + 1} test: {name} F1 {f1:.4f} AUC {auc:.4f}"
                + (" (served)" if name == served else "")
            )
    scored = np.concatenate([test for _, test in splits])
    out: dict[str, dict[str, Any]] = {}
    for name in probs:
        f1 = float(f1_score(labels[scored], flags[name][scored].astype(int), zero_division=0))
        _, auc = binary_f1_auc(labels[scored], probs[name][scored])
        out[name] = {
            "F1": round(f1, 4),
            "AUC": round(auc, 4),
            "thresholds": thresholds[name],
            "per_fold": per_fold(labels, probs[name], flags[name], splits),
        }
    out[SERVED]["chosen"] = chosen
    out[SERVED]["why"] = why
    return out, probs[SERVED]


def reliability_diagram(labels: NDArray[np.int64], probs: NDArray[np.float64], path: Any, title: str) -> None:
    """Calibration plot of pooled out-of-fold probabilities: observed bot share per probability bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    keep = ~np.isnan(probs)
    observed, predicted = calibration_curve(labels[keep], probs[keep], n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label="served detector")
    ax.set_xlabel("predicted P(bot) (quantile bins)")
    ax.set_ylabel("observed share of bots")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
