"""Choosing the served bot detector by cross-validation on the training users only.

Candidates: the paper's kNN (k=1, k=10) and Kim CNN over the newest PAPER_RECENT tweet averages, and
HistGradientBoosting over every non-empty combination of the feature groups (behaviour, content,
embedding; model/heads/bot_features.py) of the newest ``n_recent`` tweets. Each gets out-of-fold
scores by stratified k-fold over the given users (the content features refitted inside every fold);
a sigmoid calibration and the F1-maximising threshold are fitted on those out-of-fold scores; the
candidate with the highest out-of-fold F1 + ROC AUC is chosen and refitted on all the given users,
together with one model per feature group for the sub-scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.bot_features import (
    GROUPS,
    BotUser,
    ContentFeatures,
    TweetFields,
    feature_groups,
    poster_counts,
)
from model.heads.bot_selected import PAPER_RECENT, FittedCandidate, SelectedBotDetector, SigmoidCalibrator
from model.record import Tweet
from training.heads.fit_bots import f1_maximising_threshold, fit_cnn, fit_knn

KNN_NAMES = {"kNN k=1 (paper)": 1, "kNN k=10": 10}
CNN_NAME = "Kim CNN (paper)"


def group_candidates(groups: Sequence[str] = GROUPS) -> dict[str, tuple[str, ...]]:
    """'HGB <groups>' -> feature groups, every non-empty combination in GROUPS order."""
    out: dict[str, tuple[str, ...]] = {}
    for r in range(1, len(groups) + 1):
        for combo in itertools.combinations(groups, r):
            out["HGB " + " + ".join(combo)] = combo
    return out


def candidate_names(with_cnn: bool = True, groups: Sequence[str] = GROUPS) -> list[str]:
    return [*KNN_NAMES, *([CNN_NAME] if with_cnn else []), *group_candidates(groups)]


@dataclass
class BotTrainingSet:
    users: list[BotUser]  # newest first, at least n_recent tweets where the user has them
    labels: NDArray[np.int64]  # (U,) 1 = bot
    posters: Mapping[int, int] | None  # text hash -> distinct users who posted it, over the fitting data
    dim: int
    n_recent: int


def _groups_of(name: str) -> tuple[str, ...]:
    return group_candidates().get(name, ())


def fit_candidate(
    name: str,
    users: Sequence[BotUser],
    y: NDArray[np.int64],
    feats: Mapping[str, NDArray[np.float64]],
    dim: int,
    seed: int = 0,
    progress: bool = False,
) -> FittedCandidate:
    if name in KNN_NAMES:
        rows = [u.averages[:PAPER_RECENT] for u in users]
        return FittedCandidate(name, (), fit_knn(rows, y, dim, k=KNN_NAMES[name], n_recent=PAPER_RECENT))
    if name == CNN_NAME:
        rows = [u.averages[:PAPER_RECENT] for u in users]
        return FittedCandidate(
            name, (), fit_cnn(rows, y, dim, n_recent=PAPER_RECENT, seed=seed, progress=progress)
        )
    from sklearn.ensemble import HistGradientBoostingClassifier

    groups = _groups_of(name)
    x = np.hstack([feats[g] for g in groups])  # (U, F)
    model = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.1,
        max_leaf_nodes=15,
        # scikit-learn's 20 would forbid every split on a few dozen users.
        min_samples_leaf=min(20, max(2, len(y) // 10)),
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
    ).fit(x, y)
    return FittedCandidate(name, groups, model)


def fit_sigmoid(raw: NDArray[np.floating], y: NDArray[np.int64]) -> SigmoidCalibrator:
    from sklearn.linear_model import LogisticRegression

    z = SigmoidCalibrator.logit(raw).reshape(-1, 1)
    lr = LogisticRegression(C=1e4).fit(z, y)
    return SigmoidCalibrator(float(lr.coef_[0, 0]), float(lr.intercept_[0]))


def _features(
    data: BotTrainingSet, fit_idx: NDArray[np.int64], idx: Sequence[NDArray[np.int64]], needs_content: bool
) -> tuple[ContentFeatures | None, list[dict[str, NDArray[np.float64]]]]:
    users = [u.recent(data.n_recent) for u in data.users]
    content = ContentFeatures().fit([users[i] for i in fit_idx]) if needs_content else None
    return content, [
        feature_groups([users[i] for i in part], data.dim, content, data.posters) for part in idx
    ]


def out_of_fold(
    data: BotTrainingSet, idx: NDArray[np.int64], names: Sequence[str], k: int = 5, seed: int = 0
) -> dict[str, NDArray[np.float64]]:
    """name -> (len(idx),) raw out-of-fold scores of the users ``idx``, by stratified k-fold."""
    from sklearn.model_selection import StratifiedKFold

    y = data.labels[idx]
    splits = min(k, int(np.bincount(y, minlength=2).min()))
    if splits < 2:
        raise ValueError("bot detector selection needs at least 2 users of each class")
    out = {n: np.zeros(len(idx)) for n in names}
    needs_content = any("content" in _groups_of(n) for n in names)
    for tr, va in StratifiedKFold(splits, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        _, (f_tr, f_va) = _features(data, idx[tr], [idx[tr], idx[va]], needs_content)
        users_tr = [data.users[i].recent(data.n_recent) for i in idx[tr]]
        users_va = [data.users[i].recent(data.n_recent) for i in idx[va]]
        for n in names:
            cand = fit_candidate(n, users_tr, y[tr], f_tr, data.dim, seed)
            out[n][va] = cand.raw(users_va, f_va)
    return out


def _f1_at(y: NDArray[np.int64], s: NDArray[np.float64], t: float) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, (s >= t).astype(int), zero_division=0))


def select_detector(
    data: BotTrainingSet,
    idx: NDArray[np.int64] | None = None,
    names: Sequence[str] | None = None,
    k: int = 5,
    seed: int = 0,
    fit_all: bool = False,
) -> tuple[SelectedBotDetector, dict[str, FittedCandidate]]:
    """The detector chosen on the users ``idx`` (default: all), and (``fit_all``) every candidate
    refitted and calibrated the same way, for the evaluation's per-candidate rows."""
    from sklearn.metrics import roc_auc_score

    idx = np.arange(len(data.users)) if idx is None else np.asarray(idx, dtype=np.int64)
    names = list(names or candidate_names())
    y = data.labels[idx]
    oof = out_of_fold(data, idx, names, k, seed)
    table: dict[str, dict[str, float]] = {}
    calibrators: dict[str, SigmoidCalibrator] = {}
    for n in names:
        cal = fit_sigmoid(oof[n], y)
        p = cal.predict(oof[n])
        t = f1_maximising_threshold(y, p)
        calibrators[n] = cal
        table[n] = {
            "F1": round(_f1_at(y, p, t), 4),
            "AUC": round(float(roc_auc_score(y, p)), 4),
            "threshold": round(t, 4),
        }
    # Ties go to the earlier name: the paper's methods first, then fewer feature groups.
    chosen = max(names, key=lambda n: (table[n]["F1"] + table[n]["AUC"], -names.index(n)))
    group_names = {g: f"HGB {g}" for g in GROUPS if f"HGB {g}" in names}
    wanted = set(names) if fit_all else {chosen, *group_names.values()}
    needs_content = any("content" in _groups_of(n) for n in wanted)
    content, (feats,) = _features(data, idx, [idx], needs_content)
    users = [data.users[i].recent(data.n_recent) for i in idx]
    fitted: dict[str, FittedCandidate] = {}
    for n in [m for m in names if m in wanted]:
        cand = fit_candidate(n, users, y, feats, data.dim, seed)
        cand.calibrator = calibrators[n]
        fitted[n] = cand
    cv = {
        "protocol": f"stratified {min(k, int(np.bincount(y, minlength=2).min()))}-fold CV on {len(idx)} "
        f"training users ({int(y.sum())} bots); chosen by out-of-fold F1 + ROC AUC",
        "candidates": table,
    }
    detector = SelectedBotDetector(
        dim=data.dim,
        n_recent=data.n_recent,
        threshold=float(table[chosen]["threshold"]),
        chosen=fitted[chosen],
        group_models={g: fitted[n] for g, n in group_names.items()},
        content=content,
        cv=cv,
    )
    return detector, fitted


def training_set(
    user_ids: Sequence[str],
    tweets_by_user: Mapping[str, Sequence[Any]],
    averages_by_user: Mapping[str, NDArray[np.float32]],
    labels: Mapping[str, int],
    posters: Mapping[int, int] | None,
    dim: int,
    n_recent: int,
) -> BotTrainingSet:
    """A BotTrainingSet from each user's recent tweets (TweetFields, newest first) and their averages."""
    users = [BotUser(list(tweets_by_user[u]), averages_by_user[u]) for u in user_ids]
    return BotTrainingSet(
        users, np.array([labels[u] for u in user_ids], dtype=np.int64), posters, dim, n_recent
    )


def fields_by_user(tweets: Sequence[Tweet], n: int | None = None) -> dict[str, list[TweetFields]]:
    """user id -> TweetFields of their tweets, newest first (undated ones last), the newest ``n``."""
    from training.heads.data import recent_tweets_by_user

    recent = recent_tweets_by_user(list(tweets), n if n is not None else len(tweets))
    return {u: [TweetFields.from_tweet(t) for t in ts] for u, ts in recent.items()}


def fit_selected_head(
    everything: Sequence[Tweet],
    owned: Sequence[Tweet],
    average: NDArray[np.float32],
    users: Sequence[str],
    labels: Mapping[str, int],
    dim: int,
    n_recent: int,
    with_cnn: bool = True,
) -> tuple[SelectedBotDetector, dict[str, Any]]:
    """build-heads' bot head: poster counts over every tweet of DATA, each labelled user's newest
    ``n_recent`` tweets (``owned`` with tweet averages ``average`` row for row), selection by CV."""
    from training.heads.users import user_tweet_rows

    posters = poster_counts(fields_by_user(everything).values())
    kept, rows = user_tweet_rows(owned, average, users, n_recent)
    fields = fields_by_user(owned, n_recent)
    data = training_set(kept, fields, dict(zip(kept, rows, strict=True)), labels, posters, dim, n_recent)
    detector, _ = select_detector(data, names=candidate_names(with_cnn))
    info = {
        "method": "select",
        "chosen": detector.chosen.name,
        "users": len(kept),
        "bots": int(data.labels.sum()),
        "n_recent": n_recent,
        "threshold": detector.threshold,
        "cv": detector.cv,
    }
    return detector, info
