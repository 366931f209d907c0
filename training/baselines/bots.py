"""Bot-detection baselines on behaviour features computed from a user's tweets alone.

Each feature is something a bot kind does more than most humans (URLs, hashtags, mentions,
repeats, volume); the synthetic world gives humans the same habits in part, so no single one
should separate bots. ``single_feature_forest_f1`` measures exactly that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from model.heads.bot_features import BEHAVIOUR_NAMES, URL_PATTERN, message_body
from model.record import Tweet

# The served detector's behaviour features that a user's Tweets give without parsing timestamps, in
# its order.
FEATURE_NAMES: tuple[str, ...] = tuple(
    n for n in BEHAVIOUR_NAMES if n not in {"mean_log_gap_s", "std_log_gap_s", "tweets"}
)


def behaviour_features(
    tweets_by_user: Mapping[str, Sequence[Tweet]],
) -> tuple[list[str], np.ndarray, list[str]]:
    """(user ids, (U, F) float64 features, feature names), users in sorted id order."""
    users = sorted(u for u, ts in tweets_by_user.items() if ts)
    # How many users posted each text: copied text is a bot habit and a human one (manual reposts).
    posters: Counter[str] = Counter()
    days: set[str] = set()
    for u in users:
        posters.update({message_body(t.text) for t in tweets_by_user[u]})
        days.update(t.day for t in tweets_by_user[u] if t.day)
    n_days = max(len(days), 1)
    rows = []
    for u in users:
        ts = tweets_by_user[u]
        n = len(ts)
        texts = [message_body(t.text) for t in ts]
        mentioned = [m for t in ts for m in t.mentions]
        rows.append(
            [
                sum(bool(URL_PATTERN.search(t.text or "")) for t in ts) / n,
                sum(len(t.hashtags) for t in ts) / n,
                len(mentioned) / n,
                float(len(set(mentioned))),
                (n - len(set(texts))) / n,
                sum(posters[x] > 1 for x in texts) / n,
                sum((t.text or "").startswith("RT ") for t in ts) / n,
                n / n_days,
                sum(len(t.text or "") for t in ts) / n,
                sum(t.image is not None for t in ts) / n,
                sum(t.place_id is not None for t in ts) / n,
            ]
        )
    return (
        users,
        np.array(rows, dtype=np.float64).reshape(len(users), len(FEATURE_NAMES)),
        list(FEATURE_NAMES),
    )


def single_feature_forest_f1(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    feature_names: Sequence[str],
    seed: int = 0,
    n_estimators: int = 100,
) -> dict[str, float]:
    """Bot-class F1 on the test users of a random forest trained on each feature alone, and on all
    features together (key ``"all"``, for reference). ``y`` is 1 for bots, 0 for humans."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import f1_score

    def fit_score(columns: list[int]) -> float:
        # Leaves of at least 5 users: one feature with unlimited leaves would memorise noise.
        forest = RandomForestClassifier(
            n_estimators=n_estimators, min_samples_leaf=5, random_state=seed, n_jobs=1
        )
        forest.fit(x_train[:, columns], y_train)
        return float(f1_score(y_test, forest.predict(x_test[:, columns]), zero_division=0))

    scores = {name: fit_score([j]) for j, name in enumerate(feature_names)}
    scores["all"] = fit_score(list(range(len(feature_names))))
    return scores
