"""Users as the paper's bot heads see them: up to n most recent tweets, each as its average embedding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from model.record import Tweet
from training.heads.data import recent_tweets_by_user


def user_tweet_rows(
    tweets: Sequence[Tweet], average: NDArray[np.float32], users: Sequence[str], n: int
) -> tuple[list[str], list[NDArray[np.float32]]]:
    """For each user of ``users`` with at least one tweet: (n_u, dim) averages, newest first.

    ``average`` holds the tweet-average embedding of ``tweets`` row for row.
    """
    row_of = {t.id: i for i, t in enumerate(tweets)}
    recent = recent_tweets_by_user(list(tweets), n, set(users))
    kept: list[str] = []
    rows: list[NDArray[np.float32]] = []
    for user in users:
        history = recent.get(user)
        if not history:
            continue
        kept.append(user)
        rows.append(average[[row_of[t.id] for t in history]])  # (n_u, dim)
    return kept, rows
