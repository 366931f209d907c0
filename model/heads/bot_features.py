"""The one bot feature builder: what the recent-tweet store keeps per tweet, and the per-user feature
groups computed from it, used alike to fit the bot head (build-heads), to evaluate it and to serve it.

Per tweet only ``TweetFields`` is kept (plus the tweet-average embedding): a timestamp, counts of
URLs / hashtags / mentions, up to MAX_MENTIONS hashed mention ids, the retweet, image and place flags,
a hash of the normalised text, its length and its first MAX_TEXT_CHARS characters (the content
features need words). A tweet therefore costs a bounded number of bytes whatever the request held.

Per user, three feature groups (the response's sub-scores, in the spirit of Botometer's categories):
- ``behaviour``: BEHAVIOUR_NAMES, from the compact fields; a feature that cannot be computed (no
  timestamps) is NaN, which scikit-learn's HistGradientBoosting treats as missing rather than as 0;
- ``content``: TF-IDF word 1-2-grams and char 3-5-grams of the user's concatenated texts, reduced by
  truncated SVD, both fitted on the training users only (``ContentFeatures``);
- ``embedding``: statistics of the user's tweet-average embeddings (bot_forest.user_statistics).

The one corpus-level feature, ``shared_text_share`` (share of a user's tweets whose text other users
posted too), reads a poster counter: over the fitting data when fitting, and over the tweets the
service has stored (kept up to date on every append) when serving.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.record import Tweet

MAX_TEXT_CHARS = 280
"""Characters of a tweet's text kept for the content features (a classic tweet's whole length)."""
MAX_MENTIONS = 16
"""Mentioned ids kept (hashed) per tweet; the count of mentions is kept whole."""
GROUPS: tuple[str, ...] = ("behaviour", "content", "embedding")
BEHAVIOUR_NAMES: tuple[str, ...] = (
    "url_share",
    "hashtags_per_tweet",
    "mentions_per_tweet",
    "distinct_mentioned",
    "duplicate_text_share",
    "shared_text_share",
    "retweet_share",
    "tweets_per_day",
    "mean_log_gap_s",
    "std_log_gap_s",
    "mean_text_length",
    "image_share",
    "place_share",
    "tweets",
)
URL_PATTERN = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)


def _hash(text: str, size: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=size).digest(), "big")


def text_hash(text: str | None) -> int:
    """63-bit hash of the text without URLs and without a leading "RT ", so that the same message
    posted with another shortened link or as a retweet counts as the same text."""
    return _hash(message_body(text), 8) >> 1


def message_body(text: str | None) -> str:
    """The text without URLs and without a leading "RT ": what a copied message has in common."""
    body = URL_PATTERN.sub("", text or "").strip()
    return body[3:] if body.startswith("RT ") else body


def _epoch(created_at: str | None) -> int | None:
    if not created_at:
        return None
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp()) if moment.tzinfo else None


@dataclass(frozen=True, slots=True)
class TweetFields:
    """What the bot head needs of one tweet; the store keeps exactly this (plus the tweet average)."""

    created_at: int | None  # epoch seconds, UTC
    urls: int
    hashtags: int
    mentions: int
    mention_ids: tuple[int, ...]  # 32-bit hashes of the first MAX_MENTIONS mentioned ids
    retweet: bool
    text_hash: int
    length: int  # characters of the whole text
    image: bool
    place: bool
    text: str  # the first MAX_TEXT_CHARS characters

    @classmethod
    def from_tweet(cls, tweet: Tweet, image: bool | None = None) -> TweetFields:
        """``image`` says whether the tweet had an image when the record no longer names it (the
        service decodes images out of the record)."""
        text = tweet.text or ""
        return cls(
            created_at=_epoch(tweet.created_at),
            urls=len(URL_PATTERN.findall(text)),
            hashtags=len(tweet.hashtags),
            mentions=len(tweet.mentions),
            mention_ids=tuple(_hash(m, 4) for m in tweet.mentions[:MAX_MENTIONS]),
            retweet=text.startswith("RT "),
            text_hash=text_hash(text),
            length=len(text),
            image=bool(tweet.image) if image is None else image,
            place=tweet.place_id is not None,
            text=text[:MAX_TEXT_CHARS],
        )

    def to_obj(self) -> list[Any]:
        """A compact JSON array (the store's format); ``from_obj`` reads it back."""
        return [
            self.created_at,
            self.urls,
            self.hashtags,
            self.mentions,
            list(self.mention_ids),
            int(self.retweet),
            self.text_hash,
            self.length,
            int(self.image),
            int(self.place),
            self.text,
        ]

    @classmethod
    def from_obj(cls, obj: Sequence[Any]) -> TweetFields:
        created, urls, tags, mentions, ids, rt, th, length, image, place, text = obj
        return cls(
            None if created is None else int(created),
            int(urls),
            int(tags),
            int(mentions),
            tuple(int(i) for i in ids)[:MAX_MENTIONS],
            bool(rt),
            int(th),
            int(length),
            bool(image),
            bool(place),
            str(text)[:MAX_TEXT_CHARS],
        )


@dataclass(frozen=True)
class BotUser:
    """One user as every bot detector sees them: their recent tweets, newest first."""

    fields: Sequence[TweetFields]
    averages: NDArray[np.float32]  # (n, dim) tweet-average embeddings, row i for fields[i]

    def recent(self, n: int) -> BotUser:
        return BotUser(list(self.fields)[:n], self.averages[:n])


def poster_counts(users: Iterable[Sequence[TweetFields]]) -> dict[int, int]:
    """text hash -> how many distinct users posted it (each user counted once per text)."""
    counts: dict[int, int] = defaultdict(int)
    for fields in users:
        for h in {f.text_hash for f in fields}:
            counts[h] += 1
    return dict(counts)


def behaviour_features(
    users: Sequence[BotUser], posters: Mapping[int, int] | None = None
) -> NDArray[np.float64]:
    """(U, len(BEHAVIOUR_NAMES)) rows in BEHAVIOUR_NAMES order; NaN where a user's tweets lack what a
    feature needs (timestamps, or two tweets for the gaps). ``posters`` maps a text hash to the number
    of distinct users known to have posted it, this user included (a text counts as shared when more
    than one did); without it ``shared_text_share`` is NaN."""
    out = np.full((len(users), len(BEHAVIOUR_NAMES)), np.nan)
    for i, user in enumerate(users):
        fs = list(user.fields)
        n = len(fs)
        if n == 0:
            out[i, -1] = 0
            continue
        hashes = [f.text_hash for f in fs]
        row = out[i]
        row[0] = sum(f.urls > 0 for f in fs) / n
        row[1] = sum(f.hashtags for f in fs) / n
        row[2] = sum(f.mentions for f in fs) / n
        row[3] = len({m for f in fs for m in f.mention_ids})
        row[4] = (n - len(set(hashes))) / n
        if posters is not None:
            row[5] = sum(posters.get(h, 1) > 1 for h in hashes) / n
        row[6] = sum(f.retweet for f in fs) / n
        times = sorted(f.created_at for f in fs if f.created_at is not None)
        if times:
            # At least one day: a burst of tweets within minutes says volume, not an absurd rate.
            row[7] = len(times) / max((times[-1] - times[0]) / 86_400, 1.0)
        if len(times) >= 2:
            gaps = np.log1p(np.diff(np.asarray(times, dtype=np.float64)))  # (n-1,)
            row[8], row[9] = gaps.mean(), gaps.std()
        row[10] = sum(f.length for f in fs) / n
        row[11] = sum(f.image for f in fs) / n
        row[12] = sum(f.place for f in fs) / n
        row[13] = n
    return out


def user_text(user: BotUser) -> str:
    return "\n".join(f.text for f in user.fields)


class ContentFeatures:
    """TF-IDF of word 1-2-grams and char 3-5-grams of each user's concatenated (truncated) texts,
    reduced to ``components`` dimensions by truncated SVD; fitted on training users only."""

    def __init__(self, components: int = 100, seed: int = 0) -> None:
        self.components = components
        self.seed = seed
        self.vectorizer: Any = None
        self.svd: Any = None

    def fit(self, users: Sequence[BotUser]) -> ContentFeatures:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        texts = [user_text(u) for u in users]
        min_df = 2 if len(texts) >= 20 else 1
        self.vectorizer = FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        ngram_range=(1, 2), min_df=min_df, max_features=20_000, sublinear_tf=True
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(3, 5),
                        min_df=min_df,
                        max_features=20_000,
                        sublinear_tf=True,
                    ),
                ),
            ]
        )
        x = self.vectorizer.fit_transform(texts)  # (U, V) sparse
        k = max(1, min(self.components, x.shape[0] - 1, x.shape[1] - 1))
        self.svd = TruncatedSVD(n_components=k, random_state=self.seed).fit(x)
        return self

    def transform(self, users: Sequence[BotUser]) -> NDArray[np.float64]:
        if self.vectorizer is None or self.svd is None:
            raise RuntimeError("ContentFeatures.transform before fit")
        x = self.vectorizer.transform([user_text(u) for u in users])  # (U, V) sparse
        return np.asarray(self.svd.transform(x), dtype=np.float64)  # (U, k)


def embedding_features(users: Sequence[BotUser], dim: int) -> NDArray[np.float64]:
    """(U, 2*dim + 4) user_statistics of each user's tweet averages (see bot_forest.py)."""
    # Imported here: bot_forest pulls in torch through bot_head, which the service loads lazily.
    from model.heads.bot_forest import user_statistics

    return user_statistics([u.averages for u in users], dim).astype(np.float64)


def feature_groups(
    users: Sequence[BotUser],
    dim: int,
    content: ContentFeatures | None,
    posters: Mapping[int, int] | None,
) -> dict[str, NDArray[np.float64]]:
    """group -> (U, F_group) feature rows; ``content`` None leaves that group out."""
    groups = {"behaviour": behaviour_features(users, posters), "embedding": embedding_features(users, dim)}
    if content is not None:
        groups["content"] = content.transform(users)
    return {g: groups[g] for g in GROUPS if g in groups}
