"""Choosing the served bot detector by cross-validation on the training users only.

Candidates: the paper's kNN (k=1, k=10) and Kim CNN over the newest PAPER_RECENT tweet averages;
HistGradientBoosting over every non-empty combination of the feature groups (behaviour, content,
embedding; model/heads/bot_features.py) of the newest ``n_recent`` tweets; a balanced random forest
over behaviour, once over all the behaviour features and once exactly as the behaviour baseline
(training/baselines/bots.py: its features, its forest), so that the selection can always fall back
on the baseline itself; and a stack: a logistic regression over the logits of the best single-group
model of each group. Each gets out-of-fold scores by stratified k-fold over the given users, repeated
with ``repeats`` shufflings (the content features refitted inside every fold; the stack's own scores
by a second cross-validation over the members' out-of-fold scores, on the same folds). A sigmoid
calibration is fitted on each repetition's out-of-fold scores, and each fold's log-loss of the
calibrated probabilities is one measurement: the criterion is their mean, with its standard error.
Log-loss is a proper score that rewards ranking and calibration together and is less noisy on a few
dozen bots than F1 at one threshold, or ROC AUC near 1; but on a few dozen bots per fold the means of
the better candidates still differ by less than their noise, so the choice follows the one-standard-
error rule: among the candidates whose mean is within one standard error of the lowest, the simplest
(fewest feature groups read; a stack counts as one more than all of them), then the lowest mean. The
chosen one is refitted on all the given users, together with the best model of each feature group for
the sub-scores; its calibration and its F1-maximising threshold come from the out-of-fold scores of
every repetition pooled.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.heads.bot_features import (
    BEHAVIOUR_NAMES,
    GROUPS,
    BotUser,
    ContentFeatures,
    TweetFields,
    feature_groups,
    poster_counts,
)
from model.heads.bot_selected import PAPER_RECENT, FittedCandidate, SelectedBotDetector, SigmoidCalibrator
from model.record import Tweet
from training.baselines.bots import FEATURE_NAMES as BASELINE_FEATURES
from training.heads.fit_bots import f1_maximising_threshold, fit_cnn, fit_knn

KNN_NAMES = {"kNN k=1 (paper)": 1, "kNN k=10": 10}
CNN_NAME = "Kim CNN (paper)"
BASELINE_FOREST = "RF behaviour (baseline features)"
FOREST_NAMES = {"RF behaviour": ("behaviour",), BASELINE_FOREST: ("behaviour",)}
STACK_NAME = "Stack of the best model of each group"
CRITERION = (
    "mean log-loss of the calibrated out-of-fold probabilities over the folds of every repetition; "
    "the simplest candidate within one standard error of the lowest"
)
REPEATS = 3
"""Shufflings of the inner k-fold: each adds k measurements of every candidate's log-loss."""


def _baseline_columns() -> list[int]:
    """Columns of the behaviour group that are the behaviour baseline's features. The baseline's
    tweets per day divides a user's tweets by the days of the whole corpus, the same for every user:
    to a forest that is the count of tweets itself."""
    renamed = {"tweets_per_day": "tweets"}
    return [BEHAVIOUR_NAMES.index(renamed.get(f, f)) for f in BASELINE_FEATURES]


def group_candidates(groups: Sequence[str] = GROUPS) -> dict[str, tuple[str, ...]]:
    """'HGB <groups>' -> feature groups, every non-empty combination in GROUPS order."""
    out: dict[str, tuple[str, ...]] = {}
    for r in range(1, len(groups) + 1):
        for combo in itertools.combinations(groups, r):
            out["HGB " + " + ".join(combo)] = combo
    return out


def candidate_names(with_cnn: bool = True, groups: Sequence[str] = GROUPS) -> list[str]:
    forests = [n for n, gs in FOREST_NAMES.items() if set(gs) <= set(groups)]
    return [*KNN_NAMES, *([CNN_NAME] if with_cnn else []), *group_candidates(groups), *forests, STACK_NAME]


@dataclass
class BotTrainingSet:
    users: list[BotUser]  # newest first, at least n_recent tweets where the user has them
    labels: NDArray[np.int64]  # (U,) 1 = bot
    posters: Mapping[int, int] | None  # text hash -> distinct users who posted it, over the fitting data
    dim: int
    n_recent: int


def _groups_of(name: str) -> tuple[str, ...]:
    if name == STACK_NAME:
        return GROUPS
    return group_candidates().get(name) or FOREST_NAMES.get(name) or ()


def _single_group(names: Sequence[str]) -> dict[str, list[str]]:
    """group -> the candidates over that group alone, in ``names`` order."""
    return {
        g: [n for n in names if n != STACK_NAME and _groups_of(n) == (g,)]
        for g in GROUPS
        if any(n != STACK_NAME and _groups_of(n) == (g,) for n in names)
    }


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
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    groups = _groups_of(name)
    x = np.hstack([feats[g] for g in groups])  # (U, F)
    classifier: Any
    if name in FOREST_NAMES:
        # The behaviour baseline's forest (fit_balanced_forest) without its out-of-bag threshold:
        # here the threshold comes from the out-of-fold scores like every candidate's.
        classifier = RandomForestClassifier(
            n_estimators=300, class_weight="balanced_subsample", n_jobs=1, random_state=seed
        )
        if name == BASELINE_FOREST:
            from sklearn.compose import ColumnTransformer
            from sklearn.pipeline import make_pipeline

            # Chosen inside the model, so that the served detector reads the behaviour group as is.
            columns = ColumnTransformer([("baseline", "passthrough", _baseline_columns())])
            return FittedCandidate(name, groups, make_pipeline(columns, classifier).fit(x, y))
    else:
        classifier = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.1,
            max_leaf_nodes=15,
            # scikit-learn's 20 would forbid every split on a few dozen users.
            min_samples_leaf=min(20, max(2, len(y) // 10)),
            class_weight="balanced",
            early_stopping=False,
            random_state=seed,
        )
    return FittedCandidate(name, groups, _without_empty_columns(classifier, x).fit(x, y))


def _without_empty_columns(classifier: Any, x: NDArray[np.float64]) -> Any:
    """``classifier`` behind a selector of the columns with at least one value: a feature missing
    for every training user (no timestamps at all) carries nothing, and HistGradientBoosting's
    binning fails on it."""
    observed = np.flatnonzero(~np.isnan(x).all(axis=0))
    if len(observed) == x.shape[1]:
        return classifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(ColumnTransformer([("observed", "passthrough", observed)]), classifier)


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


Folds = list[tuple[NDArray[np.int64], NDArray[np.int64]]]
"""(train, validation) positions into the users being selected on, one pair per fold."""


@dataclass
class OutOfFold:
    """Every repetition's folds and, per candidate, its raw out-of-fold scores of the users."""

    folds: list[Folds]  # (R,) repetitions of k folds
    raw: list[dict[str, NDArray[np.float64]]]  # (R,) name -> (U,) raw scores


def inner_splits(y: NDArray[np.int64], k: int, repeats: int, seed: int) -> tuple[int, list[Folds]]:
    """(folds per repetition, the folds of each repetition): stratified k-fold (at most as many folds
    as the smaller class has users) shuffled ``repeats`` times, repetition r with seed ``seed + r``."""
    from sklearn.model_selection import StratifiedKFold

    splits = min(k, int(np.bincount(y, minlength=2).min()))
    if splits < 2:
        raise ValueError("bot detector selection needs at least 2 users of each class")
    out = []
    for r in range(max(1, repeats)):
        kfold = StratifiedKFold(splits, shuffle=True, random_state=seed + r)
        out.append([(a.astype(np.int64), b.astype(np.int64)) for a, b in kfold.split(np.zeros(len(y)), y)])
    return splits, out


def out_of_fold(
    data: BotTrainingSet,
    idx: NDArray[np.int64],
    names: Sequence[str],
    k: int = 5,
    seed: int = 0,
    timing: dict[str, float] | None = None,
    repeats: int = REPEATS,
    progress: bool = False,
) -> OutOfFold:
    """Raw out-of-fold scores of the users ``idx`` by repeated stratified k-fold (inner_splits);
    ``timing`` gets each candidate's fitting and scoring seconds over all the folds."""
    from tqdm import tqdm

    y = data.labels[idx]
    _, repetitions = inner_splits(y, k, repeats, seed)
    base = [n for n in names if n != STACK_NAME]
    seconds = dict.fromkeys(names, 0.0)
    needs_content = any("content" in _groups_of(n) for n in base)
    raws: list[dict[str, NDArray[np.float64]]] = [{n: np.zeros(len(idx)) for n in base} for _ in repetitions]
    jobs = [(r, tr, va) for r, folds in enumerate(repetitions) for tr, va in folds]
    for r, tr, va in tqdm(jobs, desc="bot selection CV", unit="fold", leave=False, disable=not progress):
        _, (f_tr, f_va) = _features(data, idx[tr], [idx[tr], idx[va]], needs_content)
        users_tr = [data.users[i].recent(data.n_recent) for i in idx[tr]]
        users_va = [data.users[i].recent(data.n_recent) for i in idx[va]]
        for n in base:
            started = time.perf_counter()
            cand = fit_candidate(n, users_tr, y[tr], f_tr, data.dim, seed)
            raws[r][n][va] = cand.raw(users_va, f_va)
            seconds[n] += time.perf_counter() - started
    if timing is not None:
        timing.update(seconds)
    if STACK_NAME in names:
        members = stack_members(raws, repetitions, y, names)
        for folds, raw in zip(repetitions, raws, strict=True):
            z = _stack_inputs(raw, members)
            stacked = np.zeros(len(idx))
            # The same folds: a member's out-of-fold score of a user never saw that user.
            for tr, va in folds:
                stacked[va] = fit_stacker(z[tr], y[tr]).predict_proba(z[va])[:, 1]
            raw[STACK_NAME] = stacked
    return OutOfFold(repetitions, raws)


def _stack_inputs(raw: Mapping[str, NDArray[np.float64]], members: Sequence[str]) -> NDArray[np.float64]:
    return np.column_stack([SigmoidCalibrator.logit(raw[m]) for m in members])  # (U, M)


def fit_stacker(z: NDArray[np.float64], y: NDArray[np.int64]) -> Any:
    """Logistic regression over the members' logits: a few weights, so little to overfit."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000).fit(z, y)


def log_loss_of(y: NDArray[np.int64], p: NDArray[np.float64]) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def fold_log_losses(
    raws: Sequence[Mapping[str, NDArray[np.float64]]],
    folds: Sequence[Folds],
    y: NDArray[np.int64],
    name: str,
) -> NDArray[np.float64]:
    """(R * k,) the log-loss of ``name``'s calibrated probabilities on each validation fold of each
    repetition, the calibration fitted on that repetition's out-of-fold scores."""
    out = []
    for raw, reps in zip(raws, folds, strict=True):
        p = fit_sigmoid(raw[name], y).predict(raw[name])
        out += [log_loss_of(y[va], p[va]) for _, va in reps]
    return np.asarray(out, dtype=np.float64)


def mean_and_se(losses: NDArray[np.float64]) -> tuple[float, float]:
    """Mean and its standard error (0 for a single measurement)."""
    se = float(np.std(losses, ddof=1) / np.sqrt(len(losses))) if len(losses) > 1 else 0.0
    return float(np.mean(losses)), se


def complexity(name: str) -> int:
    """Feature groups a candidate reads (the paper's detectors read the tweet averages only); a stack
    reads every group and adds a model over its members."""
    if name == STACK_NAME:
        return len(GROUPS) + 1
    return max(1, len(_groups_of(name)))


def one_se_choice(table: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> str:
    """The one-standard-error rule: among the candidates whose mean log-loss is at most the lowest
    mean plus the standard error of that lowest one, the one of least complexity, then the lowest
    mean, then the earlier name."""
    best = min(names, key=lambda n: (table[n]["log_loss"], names.index(n)))
    bound = table[best]["log_loss"] + table[best]["log_loss_se"]
    near = [n for n in names if table[n]["log_loss"] <= bound]
    return min(near, key=lambda n: (complexity(n), table[n]["log_loss"], names.index(n)))


def stack_members(
    raws: Sequence[Mapping[str, NDArray[np.float64]]],
    folds: Sequence[Folds],
    y: NDArray[np.int64],
    names: Sequence[str],
) -> list[str]:
    """The stack's members (and the sub-score models): per feature group, the single-group candidate
    with the lowest mean log-loss over the folds of every repetition (fold_log_losses), the criterion
    of the selection itself; ties to the earlier name."""
    members = []
    for options in _single_group(names).values():
        losses = [float(np.mean(fold_log_losses(raws, folds, y, n))) for n in options]
        members.append(options[int(np.argmin(losses))])
    return members


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
    repeats: int = REPEATS,
    progress: bool = False,
) -> tuple[SelectedBotDetector, dict[str, FittedCandidate]]:
    """The detector chosen on the users ``idx`` (default: all), and (``fit_all``) every candidate
    refitted and calibrated the same way, for the evaluation's per-candidate rows."""
    from sklearn.metrics import roc_auc_score

    idx = np.arange(len(data.users)) if idx is None else np.asarray(idx, dtype=np.int64)
    names = list(names or candidate_names())
    y = data.labels[idx]
    timing: dict[str, float] = {}
    oof = out_of_fold(data, idx, names, k, seed, timing, repeats, progress)
    # Every repetition scores every user once: pooled, they fit one calibration and one threshold.
    y_all = np.tile(y, len(oof.raw))
    table: dict[str, dict[str, float]] = {}
    calibrators: dict[str, SigmoidCalibrator] = {}
    for n in names:
        raw = np.concatenate([r[n] for r in oof.raw])
        cal = fit_sigmoid(raw, y_all)
        p = cal.predict(raw)
        t = f1_maximising_threshold(y_all, p)
        mean, se = mean_and_se(fold_log_losses(oof.raw, oof.folds, y, n))
        calibrators[n] = cal
        table[n] = {
            "F1": round(_f1_at(y_all, p, t), 4),
            "AUC": round(float(roc_auc_score(y_all, p)), 4),
            "log_loss": round(mean, 4),
            "log_loss_se": round(se, 4),
            "threshold": round(t, 4),
            "cv_seconds": round(timing.get(n, 0.0), 1),
        }
    chosen = one_se_choice(table, names)
    members = stack_members(oof.raw, oof.folds, y, names)
    group_names = {_groups_of(m)[0]: m for m in members}
    wanted = set(names) if fit_all else {chosen, *members}
    needs_content = any("content" in _groups_of(n) for n in wanted)
    content, (feats,) = _features(data, idx, [idx], needs_content)
    users = [data.users[i].recent(data.n_recent) for i in idx]
    fitted: dict[str, FittedCandidate] = {}
    for n in [m for m in names if m in wanted and m != STACK_NAME]:
        cand = fit_candidate(n, users, y, feats, data.dim, seed)
        cand.calibrator = calibrators[n]
        fitted[n] = cand
    if STACK_NAME in wanted:
        z = np.vstack([_stack_inputs(r, members) for r in oof.raw])
        stacker = fit_stacker(z, y_all)
        fitted[STACK_NAME] = FittedCandidate(
            STACK_NAME,
            tuple(g for g in GROUPS if g in group_names),
            stacker,
            calibrators[STACK_NAME],
            members=tuple(
                FittedCandidate(fitted[m].name, fitted[m].groups, fitted[m].model) for m in members
            ),
        )
    splits = len(oof.folds[0])
    cv = {
        "protocol": f"stratified {splits}-fold CV repeated {len(oof.folds)} times on {len(idx)} "
        f"training users ({int(y.sum())} bots); chosen by the {CRITERION}",
        "criterion": CRITERION,
        "folds": splits,
        "repeats": len(oof.folds),
        "lowest_log_loss": min(names, key=lambda n: (table[n]["log_loss"], names.index(n))),
        "stack_members": members,
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
    detector, _ = select_detector(data, names=candidate_names(with_cnn), progress=True)
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
